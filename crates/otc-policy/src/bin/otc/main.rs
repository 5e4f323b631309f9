//! `otc`: the command-line face of the tool-call policy (score a request, and, as the store grows,
//! import, inspect and rebuild the policy).

mod reward_cmd;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Reward(args) => reward_cmd::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("otc: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
