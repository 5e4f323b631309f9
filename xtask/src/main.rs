//! `cargo xtask`: project automation. `verify` is the release gate (every suite, lint, showroom,
//! latency snapshot); `showroom` walks the real server through every endpoint group; `bench`
//! runs every criterion bench at full length; `mutants` is mutation testing of the hot paths.
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
