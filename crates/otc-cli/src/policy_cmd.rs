//! `otc recommend | checkpoints | rebuild | export`: read and maintain the policy store.

use crate::db::DbArgs;
use crate::output::{Format, plural};
use anyhow::Context;
use clap::Args;
use otc_policy::Checkpoint;
use policy_store::{PolicyBackend, PolicyError};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `otc recommend` and `otc decide`: one request's combination.
#[derive(Debug, Args)]
pub struct CombinationArgs {
    /// Intent class of the request.
    #[arg(long)]
    intent: String,
    /// Available modules, comma-separated (order does not matter; spaces around names are
    /// ignored, as in the HTTP API).
    #[arg(long, value_delimiter = ',', required = true)]
    modules: Vec<String>,
    #[command(flatten)]
    db: DbArgs,
}

impl CombinationArgs {
    fn modules(&self) -> Vec<String> {
        self.modules.iter().map(|m| m.trim().to_owned()).collect()
    }
}

/// Prints the recommendation as JSON.
pub fn recommend(args: &CombinationArgs) -> anyhow::Result<()> {
    let store = args.db.open_existing()?;
    let rec = store.recommend(&args.intent, &args.modules())?;
    crate::print_out(&serde_json::to_string_pretty(&rec)?)?;
    Ok(())
}

/// Decides for one request, logs the decision and prints it as JSON.
pub fn decide(args: &CombinationArgs) -> anyhow::Result<()> {
    let store = args.db.open_existing()?;
    let decision = store.decide(&args.intent, &args.modules())?;
    crate::print_out(&serde_json::to_string_pretty(&decision)?)?;
    Ok(())
}

/// Arguments of `otc prune-decisions`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Delete decisions older than this many days that no trajectory refers to.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    older_than_days: u32,
    #[command(flatten)]
    db: DbArgs,
}

/// Deletes old decisions that never got a trajectory.
pub fn prune(args: &PruneArgs) -> anyhow::Result<()> {
    let store = args.db.open_existing()?;
    let cutoff =
        jiff::Timestamp::now().as_millisecond() - i64::from(args.older_than_days) * 86_400_000;
    let deleted = store.prune_decisions(cutoff)?;
    crate::print_out(&format!(
        "otc prune-decisions: {} deleted",
        plural(deleted, "decision", "decisions")
    ))?;
    Ok(())
}

/// Arguments of `otc checkpoints`.
#[derive(Debug, Args)]
pub struct CheckpointsArgs {
    /// Output format: an aligned table, or a JSON array.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    db: DbArgs,
}

/// Lists every checkpoint.
pub fn checkpoints(args: &CheckpointsArgs) -> anyhow::Result<()> {
    let store = args.db.open_existing()?;
    let all = store.checkpoints()?;
    match args.format {
        Format::Json => crate::print_out(&serde_json::to_string_pretty(&all)?)?,
        Format::Text => crate::print_out(table(&all).trim_end())?,
    }
    Ok(())
}

/// Renders checkpoints as an aligned table, one row each.
fn table(all: &[Checkpoint]) -> String {
    let mut rows = vec![[
        "intent".to_owned(),
        "modules".to_owned(),
        "budget".to_owned(),
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
            c.budget.to_string(),
            c.optimal_n.map_or("?".into(), |n| n.to_string()),
            format!("{:.3}", c.confidence),
            c.samples.to_string(),
            c.correct_samples.to_string(),
            best_module(c),
        ]);
    }
    otc_policy::simulate::report::aligned(&rows)
}

/// The module most likely to answer among those tried, or `-` when none was.
fn best_module(c: &Checkpoint) -> String {
    c.arms
        .iter()
        .find(|a| a.pulls > 0.0)
        .map_or_else(|| "-".to_owned(), |a| a.module.clone())
}

/// Arguments of `otc rebuild`.
#[derive(Debug, Args)]
pub struct RebuildArgs {
    #[command(flatten)]
    db: DbArgs,
}

/// Recomputes every checkpoint from the trajectory log. The store must exist: rebuilding
/// nothing is a mistyped path.
pub fn rebuild(args: &RebuildArgs) -> anyhow::Result<()> {
    let store = args.db.open_existing()?;
    let report = store.rebuild()?;
    crate::print_out(&serde_json::to_string_pretty(&report)?)?;
    Ok(())
}

/// Arguments of `otc export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output file; standard output when absent. JSON Lines, one trajectory per line with
    /// every field (`run_units` included), which both `otc import` and
    /// `POST /admin/otc/trajectories` accept.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    db: DbArgs,
}

/// Writes every trajectory as JSON Lines, in ingest order.
pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let store = args.db.open_existing()?;
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
    eprintln!(
        "otc export: {}",
        plural(count, "trajectory", "trajectories")
    );
    Ok(())
}
