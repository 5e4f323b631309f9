//! `otc import`: load trajectories from JSON Lines. Each line is parsed and validated on its
//! own; a bad line is reported with its number and skipped, and the good ones are ingested in
//! batches (one transaction each), so a bad line neither stops nor corrupts the rest.

use crate::db::DbArgs;
use anyhow::Context;
use clap::Args;
use otc_policy::{PolicyBackend, PolicyStore, Trajectory, trajectory::now_ms};
use serde::Serialize;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;

/// Trajectories per transaction.
const BATCH: usize = 1000;
/// Lines between two progress reports.
const PROGRESS_EVERY: u64 = 10_000;

/// Arguments of `otc import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// JSONL file of trajectories, `-` for standard input.
    file: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArgs,
}

/// What an import did.
#[derive(Debug, Default, Serialize)]
struct Summary {
    lines: u64,
    accepted: u64,
    duplicate: u64,
    rejected: u64,
}

/// Imports the file; fails (exit 1) when any line was rejected, after importing the rest.
pub fn run(args: &ImportArgs) -> anyhow::Result<bool> {
    let store = args.db.open()?;
    let input: Box<dyn Read> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(&args.file)
                .with_context(|| format!("opening {}", args.file.display()))?,
        )
    };
    let progress = std::io::stderr().is_terminal();
    let mut summary = Summary::default();
    let mut batch = Vec::with_capacity(BATCH);
    for (index, line) in BufReader::new(input).split(b'\n').enumerate() {
        let number = index as u64 + 1;
        let line = line.with_context(|| format!("reading line {number}"))?;
        summary.lines = number;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<Trajectory>(&line)
            .map_err(|e| e.to_string())
            .and_then(|t| t.validate(now_ms()).map(|()| t).map_err(|e| e.to_string()));
        match parsed {
            Ok(t) => batch.push(t),
            Err(reason) => {
                summary.rejected += 1;
                eprintln!("otc import: line {number}: rejected: {reason}");
            }
        }
        if batch.len() == BATCH {
            flush(&store, &mut batch, &mut summary)?;
        }
        if number.is_multiple_of(PROGRESS_EVERY) {
            report_progress(&summary, progress);
        }
    }
    flush(&store, &mut batch, &mut summary)?;
    if progress {
        eprintln!();
    }
    if args.json {
        crate::print_out(&serde_json::to_string_pretty(&summary)?)?;
    } else {
        crate::print_out(&format!(
            "imported {} lines: {} accepted, {} duplicate, {} rejected",
            summary.lines, summary.accepted, summary.duplicate, summary.rejected
        ))?;
    }
    Ok(summary.rejected == 0)
}

fn flush(
    store: &PolicyStore,
    batch: &mut Vec<Trajectory>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let report = store.ingest_batch(batch).context("ingesting a batch")?;
    summary.accepted += report.accepted;
    summary.duplicate += report.duplicates;
    batch.clear();
    Ok(())
}

fn report_progress(summary: &Summary, terminal: bool) {
    let text = format!(
        "otc import: {} lines read ({} accepted, {} duplicate, {} rejected)",
        summary.lines, summary.accepted, summary.duplicate, summary.rejected
    );
    let mut err = std::io::stderr().lock();
    // Progress is best effort: a closed stderr must not fail the import.
    let _ = if terminal {
        write!(err, "\r{text}")
    } else {
        writeln!(err, "{text}")
    };
}
