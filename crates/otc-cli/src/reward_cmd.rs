//! `otc reward`: score one request from the command line.

use anyhow::Context;
use clap::Args;
use otc_policy::{RewardConfig, score};

/// Arguments of `otc reward`. Every number accepts a leading `-`, so that a negative value
/// reaches the reward's own validation and its message instead of a parse error.
#[derive(Debug, Args)]
pub struct RewardArgs {
    /// Tool calls the request made (m).
    #[arg(long, allow_negative_numbers = true)]
    calls: u32,
    /// Optimal tool calls for this kind of request (n); may be fractional. Omit when unknown
    /// (only an incorrect answer can be scored without it).
    #[arg(long, allow_negative_numbers = true)]
    optimal: Option<f64>,
    /// The answer was correct (r_correctness = 1); absent means incorrect.
    #[arg(long)]
    correct: bool,
    /// Normalised cost r_cost in [0, 1].
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    cost: f64,
    /// Weight of the tool-and-correctness term.
    #[arg(long, default_value_t = RewardConfig::default().alpha(), allow_negative_numbers = true)]
    alpha: f64,
    /// Weight of the cost penalty.
    #[arg(long, default_value_t = RewardConfig::default().beta(), allow_negative_numbers = true)]
    beta: f64,
    /// Smoothing constant c of the n = 0 branch (> 0).
    #[arg(long, default_value_t = RewardConfig::default().smoothing(), allow_negative_numbers = true)]
    smoothing: f64,
}

/// Prints the score as pretty JSON on stdout.
pub fn run(args: &RewardArgs) -> anyhow::Result<()> {
    let config = RewardConfig::new(args.alpha, args.beta, args.smoothing)?;
    let score = score(args.calls, args.optimal, args.correct, args.cost, &config)?;
    let json = serde_json::to_string_pretty(&score).context("serialising the score")?;
    println!("{json}");
    Ok(())
}
