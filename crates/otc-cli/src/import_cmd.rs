//! `otc import`: load trajectories from JSON Lines. Each line is parsed and validated on its
//! own; a bad line is reported with its number and skipped, and the good ones are ingested in
//! batches (one transaction each), so a bad line neither stops nor corrupts the rest.

use crate::db::DbArgs;
use crate::output::{Format, plural};
use anyhow::Context;
use clap::Args;
use otc_policy::{Trajectory, ValidationError};
use policy_store::{PolicyBackend, PolicyError};
use policy_store_sqlite::SqlitePolicyStore;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;

/// Trajectories per transaction.
const BATCH: usize = 1000;
/// Lines between two progress reports.
const PROGRESS_EVERY: u64 = 10_000;

/// Why a line without `run_units` is refused rather than scored as free: a guessed 0 would
/// make the request look free, inflate its reward, and stay in the append-only log for good.
const NO_RUN_UNITS: &str = "run_units is required when importing offline: the CLI has no meter \
                            to read it from (the HTTP API fills it in from metering)";

/// Arguments of `otc import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// JSONL file of trajectories, `-` for standard input.
    file: PathBuf,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Same as `--format json` (kept for scripts written before `--format`).
    #[arg(long, hide = true, conflicts_with = "format")]
    json: bool,
    /// Drop each line's `decision_id`: for an export of another database, whose decisions
    /// this one never logged (a line naming one would be rejected). The trajectories then
    /// count as unlogged ones, as if served the budget the policy advised (see
    /// ARCHITECTURE.md), and cannot be evaluated on with `otc evaluate`.
    #[arg(long)]
    unlink_decisions: bool,
    #[command(flatten)]
    db: DbArgs,
}

/// What an import did; the buckets add up to `lines`.
#[derive(Debug, Default, Serialize)]
struct Summary {
    lines: u64,
    accepted: u64,
    duplicate: u64,
    /// Lines refused: unparsable, invalid, or a request id already stored with other content.
    rejected: u64,
    /// Blank lines.
    skipped: u64,
}

/// A parsed line waiting in a batch, with its line number for reports.
struct Pending {
    line: u64,
    trajectory: Trajectory,
}

/// Imports the file; fails (exit 1) when any line was rejected, after importing the rest.
pub fn run(args: &ImportArgs) -> anyhow::Result<bool> {
    let store = args.db.open_or_create()?;
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
            summary.skipped += 1;
            continue;
        }
        match parse_line(&line) {
            Ok(mut trajectory) => batch.push(Pending {
                trajectory: {
                    if args.unlink_decisions {
                        trajectory.decision_id = None;
                    }
                    trajectory
                },
                line: number,
            }),
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
    let format = if args.json { Format::Json } else { args.format };
    match format {
        Format::Json => crate::print_out(&serde_json::to_string_pretty(&summary)?)?,
        Format::Text => crate::print_out(&format!("read {}", describe(&summary)))?,
    }
    Ok(summary.rejected == 0)
}

/// One line as a trajectory: the JSON the HTTP API accepts, except that `run_units` must be
/// present (see [`NO_RUN_UNITS`]); the reason names the field at fault where one is.
fn parse_line(line: &[u8]) -> Result<Trajectory, String> {
    let value: serde_json::Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    // serde would read a trajectory from an array of its fields in order too.
    let Some(object) = value.as_object() else {
        return Err("expected a trajectory object".to_owned());
    };
    if object
        .get("run_units")
        .is_none_or(serde_json::Value::is_null)
    {
        return Err(NO_RUN_UNITS.to_owned());
    }
    let trajectory = Trajectory::deserialize(&value).map_err(|e| {
        // Only on failure: finding the member costs a deserialization per member.
        let member = value
            .as_object()
            .and_then(otc_policy::json_input::offending_member::<Trajectory>);
        match member {
            Some(name) if !e.to_string().contains(&format!("`{name}`")) => format!("{name}: {e}"),
            _ => e.to_string(),
        }
    })?;
    trajectory
        .validate(jiff::Timestamp::now().as_millisecond())
        .map_err(|e| e.to_string())?;
    Ok(trajectory)
}

/// Ingests the batch. A line whose request id is already stored with other content (or came
/// earlier with other content), or that the store refuses for a reason only it can check (a
/// `decision_id` it never logged, or one another trajectory answers), is reported as rejected
/// and the batch is retried without it: the store refuses such a batch whole, and one bad
/// line must not cost the others.
fn flush(
    store: &SqlitePolicyStore,
    batch: &mut Vec<Pending>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    while !batch.is_empty() {
        let trajectories: Vec<Trajectory> = batch.iter().map(|p| p.trajectory.clone()).collect();
        match store.ingest_batch(&trajectories) {
            Ok(report) => {
                summary.accepted += report.accepted;
                summary.duplicate += report.duplicates;
                batch.clear();
            }
            Err(PolicyError::ConflictBatch(conflicts)) => {
                let refused = conflicts
                    .iter()
                    .map(|c| (c.index, format!("rejected (conflict): {c}")))
                    .collect();
                reject(batch, refused, summary);
            }
            Err(PolicyError::InvalidBatch(items)) => {
                let refused = items
                    .iter()
                    .map(|item| {
                        let hint = match item.error {
                            ValidationError::UnknownDecision { .. }
                            | ValidationError::DecisionMismatch { .. }
                            | ValidationError::DecisionUsed { .. } => {
                                " (an export of another database? --unlink-decisions imports \
                                 it without its decisions)"
                            }
                            _ => "",
                        };
                        (item.index, format!("rejected: {}{hint}", item.message))
                    })
                    .collect();
                reject(batch, refused, summary);
            }
            Err(other) => return Err(other).context("ingesting a batch"),
        }
    }
    Ok(())
}

/// Takes the lines the store refused (`(index in the batch, why)`) out of the batch and
/// reports each by its line number, in line order. Each retry of the batch so drops at least
/// one line, so `flush` ends.
fn reject(batch: &mut Vec<Pending>, mut refused: Vec<(usize, String)>, summary: &mut Summary) {
    refused.sort_by_key(|(index, _)| *index);
    refused.dedup_by_key(|(index, _)| *index);
    let mut lines = Vec::with_capacity(refused.len());
    for (index, why) in refused.into_iter().rev() {
        lines.push((batch.remove(index).line, why));
    }
    for (line, why) in lines.into_iter().rev() {
        summary.rejected += 1;
        eprintln!("otc import: line {line}: {why}");
    }
}

/// "6 lines: 1 accepted, 0 duplicates, 4 rejected, 1 skipped (blank)".
fn describe(summary: &Summary) -> String {
    format!(
        "{}: {} accepted, {}, {} rejected, {} skipped (blank)",
        plural(summary.lines, "line", "lines"),
        summary.accepted,
        plural(summary.duplicate, "duplicate", "duplicates"),
        summary.rejected,
        summary.skipped
    )
}

fn report_progress(summary: &Summary, terminal: bool) {
    let text = format!("otc import: {} so far", describe(summary));
    let mut err = std::io::stderr().lock();
    // Progress is best effort: a closed stderr must not fail the import.
    let _ = if terminal {
        write!(err, "\r{text}")
    } else {
        writeln!(err, "{text}")
    };
}
