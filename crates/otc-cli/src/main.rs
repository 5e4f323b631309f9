//! `otc`: the command-line face of the tool-call policy: score a request, import trajectories,
//! ask for a recommendation or a decision, inspect, rebuild and export the policy store,
//! simulate an orchestrator that follows the policy, and evaluate a candidate config on the
//! logged decisions.

mod db;
mod evaluate_cmd;
mod import_cmd;
mod output;
mod policy_cmd;
mod reward_cmd;
mod simulate_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "otc",
    version,
    about = "OTC tool-call policy: reward, policy store, recommendations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score one request with the OTC reward and print inputs and outputs as JSON.
    Reward(reward_cmd::RewardArgs),
    /// Import trajectories from a JSONL file; bad lines are reported and skipped (exit 1).
    ///
    /// One JSON object per line, the same trajectory the HTTP API's
    /// `POST /admin/otc/trajectories` accepts: `request_id`, `intent`, `modules`, `calls`,
    /// `run_units`, `correct`, `latency_ms`, `timestamp_ms` (Unix ms); unknown fields are
    /// errors. One difference: `run_units` is required here. The server fills a missing one
    /// from what it metered for the request; the CLI has no meter, and guessing 0 would score
    /// the request as free for good (the log is append-only). `otc export` writes this format.
    ///
    /// A line whose `request_id` is already stored with the same content counts as a
    /// duplicate; with other content it is rejected (conflict) and the stored one stays. A
    /// line naming a `decision_id` this database never logged is rejected: an export of
    /// another database imports with `--unlink-decisions`. Blank lines are skipped. The
    /// summary's buckets (accepted, duplicates, rejected, skipped) add up to the lines read.
    /// Creates the database if it does not exist.
    Import(import_cmd::ImportArgs),
    /// Recommend a tool-call budget and module ranking for (intent, modules), as JSON
    /// (read-only: no exploration, nothing logged).
    Recommend(policy_cmd::CombinationArgs),
    /// Decide for one request of (intent, modules): budget, module order, exploration,
    /// propensity; the decision is logged and its `decision_id` printed, as JSON.
    Decide(policy_cmd::CombinationArgs),
    /// Run an orchestrator that follows the policy in closed loop in a synthetic world with a
    /// known truth, against a fixed budget of 6 calls and an oracle (budget n*, helpful module
    /// first) on the same requests; print the table per combination and a summary.
    Simulate(simulate_cmd::SimulateArgs),
    /// Delete old decisions that no trajectory refers to. A trajectory that reports on a pruned
    /// decision later is refused (422): prune only what is too old to be reported on.
    PruneDecisions(policy_cmd::PruneArgs),
    /// List the learnt checkpoints.
    Checkpoints(policy_cmd::CheckpointsArgs),
    /// Recompute every checkpoint from the trajectory log.
    Rebuild(policy_cmd::RebuildArgs),
    /// Export every trajectory as JSON Lines, which `otc import` and the HTTP API accept (into
    /// another database, trajectories that name decisions need `otc import
    /// --unlink-decisions`: the decisions are not exported).
    Export(policy_cmd::ExportArgs),
    /// Estimate what a candidate config would have done on the logged decisions (off-policy:
    /// reward, accuracy and calls per request, with 95 % intervals), before rolling it out.
    ///
    /// Only decisions whose trajectory named them (`decision_id`) are evaluated on. SNIPS is
    /// the estimate to read first, DR (doubly robust) a check on it; below an effective sample
    /// size of 200 the intervals are unreliable. Read-only. Exit code 1 when no estimate can
    /// be given (nothing in scope, or the candidate would take actions the log never
    /// explored): the reason is printed on stderr.
    Evaluate(evaluate_cmd::EvaluateArgs),
}

/// Prints `text` and a newline on stdout; a closed pipe (`otc ... | head`) ends output quietly
/// instead of panicking.
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Reward(args) => reward_cmd::run(&args).map(|()| true),
        Command::Import(args) => import_cmd::run(&args),
        Command::Recommend(args) => policy_cmd::recommend(&args).map(|()| true),
        Command::Decide(args) => policy_cmd::decide(&args).map(|()| true),
        Command::Simulate(args) => simulate_cmd::run(&args).map(|()| true),
        Command::PruneDecisions(args) => policy_cmd::prune(&args).map(|()| true),
        Command::Checkpoints(args) => policy_cmd::checkpoints(&args).map(|()| true),
        Command::Rebuild(args) => policy_cmd::rebuild(&args).map(|()| true),
        Command::Export(args) => policy_cmd::export(&args).map(|()| true),
        Command::Evaluate(args) => evaluate_cmd::run(&args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("otc: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
