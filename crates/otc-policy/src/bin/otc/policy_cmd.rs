//! `otc recommend | checkpoints | rebuild | export`: read and maintain the policy store.

use crate::db::DbArgs;
use anyhow::Context;
use clap::{Args, ValueEnum};
use otc_policy::{Checkpoint, PolicyBackend, PolicyError};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `otc recommend`.
#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// Intent class of the request.
    #[arg(long)]
    intent: String,
    /// Available modules, comma-separated (order does not matter).
    #[arg(long, value_delimiter = ',', required = true)]
    modules: Vec<String>,
    #[command(flatten)]
    db: DbArgs,
}

/// Prints the recommendation as JSON.
pub fn recommend(args: &RecommendArgs) -> anyhow::Result<()> {
    let store = args.db.open()?;
    let rec = store.recommend(&args.intent, &args.modules)?;
    crate::print_out(&serde_json::to_string_pretty(&rec)?)?;
    Ok(())
}

/// Output format of `otc checkpoints`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// A JSON array.
    Json,
}

/// Arguments of `otc checkpoints`.
#[derive(Debug, Args)]
pub struct CheckpointsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(flatten)]
    db: DbArgs,
}

/// Lists every checkpoint.
pub fn checkpoints(args: &CheckpointsArgs) -> anyhow::Result<()> {
    let store = args.db.open()?;
    let all = store.checkpoints()?;
    match args.format {
        Format::Json => crate::print_out(&serde_json::to_string_pretty(&all)?)?,
        Format::Table => crate::print_out(table(&all).trim_end())?,
    }
    Ok(())
}

/// Renders checkpoints as an aligned table, one row each.
fn table(all: &[Checkpoint]) -> String {
    let mut rows = vec![[
        "intent".to_owned(),
        "modules".to_owned(),
        "n".to_owned(),
        "confidence".to_owned(),
        "samples".to_owned(),
        "correct".to_owned(),
        "best module".to_owned(),
    ]];
    for c in all {
        rows.push([
            c.intent.clone(),
            c.modules.join(","),
            c.optimal_n.map_or("?".into(), |n| n.to_string()),
            format!("{:.3}", c.confidence),
            c.samples.to_string(),
            c.correct_samples.to_string(),
            c.arms.first().map_or(String::new(), |a| a.module.clone()),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Arguments of `otc rebuild`.
#[derive(Debug, Args)]
pub struct RebuildArgs {
    #[command(flatten)]
    db: DbArgs,
}

/// Recomputes every checkpoint from the trajectory log.
pub fn rebuild(args: &RebuildArgs) -> anyhow::Result<()> {
    let store = args.db.open()?;
    let report = store.rebuild()?;
    crate::print_out(&serde_json::to_string_pretty(&report)?)?;
    Ok(())
}

/// Arguments of `otc export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output file (JSON Lines, the `import` format); standard output when absent.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    db: DbArgs,
}

/// Writes every trajectory as JSON Lines, in ingest order.
pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let store = args.db.open()?;
    let sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut sink = std::io::BufWriter::new(sink);
    let count = store.export(&mut |t| {
        serde_json::to_writer(&mut sink, t).map_err(std::io::Error::from)?;
        sink.write_all(b"\n").map_err(PolicyError::from)
    })?;
    sink.flush()?;
    eprintln!("otc export: {count} trajectories");
    Ok(())
}
