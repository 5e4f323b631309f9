//! `cargo xtask`: project automation. `verify` is the release gate (every suite, lint, showroom,
//! latency snapshot); `showroom` walks the real server through every endpoint group; `bench`
//! runs every criterion bench at full length; `scale` grows the stores' logs to 10M rows and
//! reports how their costs move; `mutants` is mutation testing of the hot paths.
//!
//! xtask depends on no product crate: it drives them through cargo like a user would.

mod libtest;
mod mutants;
mod timefmt;
mod verify;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "Project automation for the OTC workspace"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The release gate: build once, run every suite, measure endpoint latency, write the snapshot.
    Verify(verify::VerifyArgs),
    /// Start the real admin-api binary on a free port and walk through every endpoint group.
    Showroom,
    /// Run every criterion bench in the workspace at full length (slow; not part of verify).
    Bench,
    /// Grow the policy log to 100k, 1M and 10M trajectories and the metering log to as many
    /// events, reporting ingest rate, read latency and bytes per row at each size (slow; not
    /// part of verify).
    Scale(ScaleArgs),
    /// Mutation testing (cargo-mutants) of the estimator, policy state and usage write path;
    /// prints the score and every surviving mutant (slow; not part of verify).
    Mutants(mutants::MutantsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<bool> = match cli.command {
        Command::Verify(args) => verify::run(&args),
        Command::Showroom => verify::showroom_only(&workspace_root()),
        Command::Bench => bench(&workspace_root()).map(|()| true),
        Command::Scale(args) => scale(&workspace_root(), &args).map(|()| true),
        Command::Mutants(args) => mutants::run(&workspace_root(), &args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// The repository root: xtask lives one level below it.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

fn bench(root: &std::path::Path) -> Result<()> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(root);
    xshell::cmd!(sh, "cargo bench --workspace").run()?;
    Ok(())
}

#[derive(Debug, clap::Args)]
struct ScaleArgs {
    /// Stop at this many rows (the sizes are 100k, 1M and 10M).
    #[arg(long, default_value_t = 10_000_000)]
    max: u64,
    /// Time-ordered request ids and idempotency keys (as UUID v7 are) instead of random ones.
    #[arg(long)]
    ordered_ids: bool,
}

/// The two scale benches (`benches/scale.rs` of the SQLite policy and usage stores), one after
/// the other so that they do not share the machine.
fn scale(root: &std::path::Path, args: &ScaleArgs) -> Result<()> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(root);
    let max = args.max.to_string();
    let ordered = args.ordered_ids.then_some("--ordered-ids");
    for package in ["policy-store-sqlite", "usage-store-sqlite"] {
        xshell::cmd!(
            sh,
            "cargo bench -p {package} --bench scale -- --max {max} {ordered...}"
        )
        .run()?;
    }
    Ok(())
}
