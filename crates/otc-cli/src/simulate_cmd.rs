//! `otc simulate`: an orchestrator that follows the policy in closed loop, in a synthetic world
//! with a known truth; prints, per combination, what a fixed budget of 6 calls, the oracle
//! (budget n*, helpful module first) and the policy did with the same requests, and how fast
//! the policy converged (see `otc_policy::simulate`). Every result is reported before the next
//! decision (no requests in flight), and success is a step at n* (a request gets the calls it
//! needs or fails).

use crate::db::load_config;
use crate::output::Format;
use anyhow::Context;
use clap::{Args, ValueEnum};
use otc_policy::PolicyConfig;
use otc_policy::simulate::{self, Agent, MemoryPolicy, RunReport, Scenario, Summary};
use policy_store::BackendAdvisor;
use policy_store_sqlite::SqlitePolicyStore;
use std::path::{Path, PathBuf};

/// Which world to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScenarioName {
    /// Eight combinations, n* in {0, 1, 2, 3, 5}, useless modules tried first in three.
    Steady,
    /// n* drifts up (1 -> 3) and down (5 -> 2) half-way through.
    Drift,
    /// A second module set appears beside a learnt one and borrows from it.
    Siblings,
    /// Requests need different call counts: success rises gradually with the budget.
    Graded,
    /// All four.
    All,
}

/// Which agent plays the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentName {
    /// Stops when it has the answer.
    Efficient,
    /// Uses its whole budget, as the models in the OTC paper do.
    OverCaller,
    /// Both.
    All,
}

/// Where the policy lives during the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// The real SQLite store, on `--db` or a temporary file.
    Store,
    /// The same policy in memory: identical decisions, much faster, for many seeds.
    Memory,
}

/// Arguments of `otc simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The world.
    #[arg(long, value_enum, default_value_t = ScenarioName::Steady)]
    scenario: ScenarioName,
    /// The agent.
    #[arg(long, value_enum, default_value_t = AgentName::Efficient)]
    agent: AgentName,
    /// Trajectories per combination.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(10..=100_000))]
    trajectories: u32,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many seeds (seed, seed + 1, ...); with more than one the summary is over all.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    seeds: u32,
    /// Where the policy lives.
    #[arg(long, value_enum, default_value_t = Engine::Store)]
    engine: Engine,
    /// Policy database for `--engine store`; it must not exist yet (a simulation must not mix
    /// with real data). A temporary file, deleted afterwards, when absent.
    #[arg(long)]
    db: Option<PathBuf>,
    /// JSON file holding a PolicyConfig, as for the other commands.
    #[arg(long, env = "OTC_POLICY_CONFIG")]
    config: Option<PathBuf>,
    /// Trajectories name the module that answered (`answered_by`); without it credit follows
    /// the last call (shared in the cases ARCHITECTURE.md names).
    #[arg(long)]
    answered_by: bool,
    /// Trajectories say which call answered (`answered_at`), as an orchestrator that knows
    /// which tool result the answer used does; an over-caller then reveals lower budgets.
    #[arg(long)]
    answered_at: bool,
    /// Write an SVG plot of budget, n* and accuracy over trajectories (first seed of each run);
    /// with several scenarios or agents, one file per run named `STEM-SCENARIO-AGENT.svg`
    /// beside the path given.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Convergence counts within this many trajectories in the summary.
    #[arg(long, default_value_t = 50)]
    within: usize,
}

/// A database file removed when dropped (the default for `--engine store`).
struct TempDb(PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

fn temp_db(tag: &str) -> TempDb {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    TempDb(std::env::temp_dir().join(format!(
        "otc-simulate-{}-{nanos}-{tag}.db",
        std::process::id()
    )))
}

fn run_one(
    scenario: &Scenario,
    seed: u64,
    args: &SimulateArgs,
    config: &PolicyConfig,
) -> anyhow::Result<RunReport> {
    match args.engine {
        Engine::Memory => Ok(simulate::run(
            scenario,
            seed,
            &mut MemoryPolicy::new(config.clone()),
        )?),
        Engine::Store => {
            let tag = format!("{}-{}-{seed}", scenario.name, scenario.agent.name());
            let temp;
            let path: &Path = match &args.db {
                Some(path) if args.seeds == 1 && scenario_count(args) == 1 => path,
                Some(_) => anyhow::bail!(
                    "--db takes one run; with several seeds, scenarios or agents leave it out"
                ),
                None => {
                    temp = temp_db(&tag);
                    &temp.0
                }
            };
            if path.exists() {
                anyhow::bail!(
                    "{} exists; a simulation writes a fresh database",
                    path.display()
                );
            }
            let store = SqlitePolicyStore::open(path, config.clone())
                .with_context(|| format!("opening {}", path.display()))?;
            Ok(simulate::run(scenario, seed, &mut BackendAdvisor(&store))?)
        }
    }
}

fn scenario_count(args: &SimulateArgs) -> usize {
    scenarios(args.scenario).len() * agents(args.agent).len()
}

fn scenarios(name: ScenarioName) -> Vec<ScenarioName> {
    match name {
        ScenarioName::All => vec![
            ScenarioName::Steady,
            ScenarioName::Drift,
            ScenarioName::Siblings,
            ScenarioName::Graded,
        ],
        one => vec![one],
    }
}

fn agents(name: AgentName) -> Vec<Agent> {
    match name {
        AgentName::Efficient => vec![Agent::Efficient],
        AgentName::OverCaller => vec![Agent::OverCaller],
        AgentName::All => vec![Agent::Efficient, Agent::OverCaller],
    }
}

fn build(name: ScenarioName, agent: Agent, per: usize, args: &SimulateArgs) -> Scenario {
    let mut scenario = match name {
        ScenarioName::Drift => Scenario::drift(agent, per),
        ScenarioName::Siblings => Scenario::siblings(agent, per),
        ScenarioName::Graded => Scenario::graded(agent, per),
        _ => Scenario::steady(agent, per),
    };
    scenario.report_answer = args.answered_by;
    scenario.report_call = args.answered_at;
    scenario
}

/// Runs the simulation(s) and prints the tables and summaries.
pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    if args.db.is_some() && matches!(args.engine, Engine::Memory) {
        // Said rather than ignored: the user expects a database to be written.
        anyhow::bail!("--db is for --engine store: the memory engine writes no database");
    }
    let config = load_config(args.config.as_deref())?;
    let mut plots = Vec::new();
    let mut json = Vec::new();
    for name in scenarios(args.scenario) {
        for agent in agents(args.agent) {
            let scenario = build(name, agent, args.trajectories as usize, args);
            let mut reports = Vec::new();
            for seed in args.seed..args.seed + u64::from(args.seeds) {
                reports.push(run_one(&scenario, seed, args, &config)?);
            }
            let summary = Summary::of(&reports, args.within);
            if args.svg.is_some() {
                plots.push((
                    format!("{}-{}", scenario.name, agent.name()),
                    reports[0].svg(),
                ));
            }
            match args.format {
                Format::Text => {
                    crate::print_out(&reports[0].table())?;
                    crate::print_out(&summary.text())?;
                }
                Format::Json => json.push(serde_json::json!({
                    "scenario": scenario.name,
                    "agent": agent.name(),
                    "first_run": reports[0],
                    "summary": summary,
                })),
            }
        }
    }
    if args.format == Format::Json {
        crate::print_out(&serde_json::to_string_pretty(&json)?)?;
    }
    if let Some(path) = &args.svg {
        let single = plots.len() == 1;
        for (tag, svg) in plots {
            // One file per run: PATH itself for one, PATH's stem with the run's name for more.
            let target = if single {
                path.clone()
            } else {
                let stem = path.file_stem().map_or_else(
                    || "simulate".to_owned(),
                    |s| s.to_string_lossy().into_owned(),
                );
                path.with_file_name(format!("{stem}-{tag}.svg"))
            };
            std::fs::write(&target, svg)
                .with_context(|| format!("writing {}", target.display()))?;
            eprintln!("otc simulate: plot written to {}", target.display());
        }
    }
    Ok(())
}
