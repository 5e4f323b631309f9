//! The `--db` and `--config` options shared by every store subcommand, and opening the store.

use anyhow::Context;
use clap::Args;
use otc_policy::PolicyConfig;
use policy_store_sqlite::SqlitePolicyStore;
use std::path::{Path, PathBuf};

/// The `--config` file format, shown by `--help`.
const CONFIG_HELP: &str = "\
JSON file holding the policy config: how trajectories are scored and checkpoints estimated. \
Every section and field is optional and takes its default; unknown names are errors. \
The values below are the defaults (per_intent is empty by default; one entry is shown):
  {
    \"reward\":    {\"alpha\": 1.0, \"beta\": 0.1, \"smoothing\": 1.0},
    \"cost\":      {\"default_reference\": 10.0, \"per_intent\": {\"some-intent\": 25.0}},
    \"estimator\": {\"decay\": 0.995, \"min_support\": 3.0, \"quantile\": 0.05,
                  \"confidence_half\": 10.0},
    \"budget\":    {\"max_budget\": 16, \"cold_start\": 1, \"tolerance\": 0.1,
                  \"min_evidence\": 8.0, \"min_direct\": 3.0, \"evidence_odds\": 19.0,
                  \"min_recent\": 2.5, \"climb_below\": 0.35, \"recent_decay\": 0.9,
                  \"reveal_decay\": 0.95, \"explore_up\": 0.05,
                  \"explore_up_undecided\": 0.25, \"explore_down\": 0.5,
                  \"probe_after\": 25, \"explore_order\": 0.03}
  }
reward: weights of the composite alpha*r_tool*r_correctness - beta*r_cost, smoothing c of \
the n = 0 branch. cost: the run-units at which r_cost = 0.5 (per intent, else the default; \
default_reference is required when \"cost\" is given). estimator: per-trajectory decay, the \
correct weight a call count needs to become n, its share of all correct weight (OTC's n, which \
scores trajectories; confidence_half is no longer used and kept so older files parse). budget: \
how the budget served to requests is learnt and explored: explore_up and explore_order are \
shares of all decisions, explore_down the share of decisions that probe one call less while a \
probe of the level below runs (probes start after probe_after observations and back off); each \
share is at most 0.5, and the larger of explore_up and explore_up_undecided plus explore_down \
plus explore_order at most 0.9; every knob is documented in the otc-policy crate (budget::BudgetConfig). A changed config scores future trajectories; `otc rebuild` \
applies it to the stored ones.";

/// Where the policy database lives and which config scores with.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Policy database file. Only `import` creates it (and its directory) when missing; the
    /// other commands refuse a path that does not exist, so a typo is not an empty store.
    #[arg(long, env = "OTC_DB", default_value = "data/otc-policy.db")]
    db: PathBuf,
    /// JSON file holding a PolicyConfig (reward, cost, estimator); defaults when absent.
    #[arg(long, env = "OTC_POLICY_CONFIG", long_help = CONFIG_HELP)]
    config: Option<PathBuf>,
}

impl DbArgs {
    /// Opens the store, which must exist: reading or rebuilding a store that was never written
    /// is a mistyped path, and creating it would hide the typo behind empty answers.
    pub fn open_existing(&self) -> anyhow::Result<SqlitePolicyStore> {
        open_existing(&self.db, load_config(self.config.as_deref())?)
    }

    /// Opens the store, creating it and its parent directory if missing.
    pub fn open_or_create(&self) -> anyhow::Result<SqlitePolicyStore> {
        if let Some(parent) = self.db.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        self.open()
    }

    fn open(&self) -> anyhow::Result<SqlitePolicyStore> {
        open(&self.db, load_config(self.config.as_deref())?)
    }
}

/// Opens the store at `db` with `config`; it must exist (see [`DbArgs::open_existing`]).
pub fn open_existing(db: &Path, config: PolicyConfig) -> anyhow::Result<SqlitePolicyStore> {
    if !db.is_file() {
        anyhow::bail!(
            "no policy database at {} (check --db or OTC_DB; `otc import` creates one)",
            db.display()
        );
    }
    open(db, config)
}

fn open(db: &Path, config: PolicyConfig) -> anyhow::Result<SqlitePolicyStore> {
    SqlitePolicyStore::open(db, config).with_context(|| format!("opening {}", db.display()))
}

/// Reads a PolicyConfig file; the defaults without one. Out-of-range values are refused here
/// with the same message the store would give.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<PolicyConfig> {
    let Some(path) = path else {
        return Ok(PolicyConfig::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // Through serde_path_to_error, so a value of the wrong type names its member
    // (`budget.explore_up`) as the HTTP endpoints do.
    let config: PolicyConfig =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(&text))
            .map_err(|err| {
                let member = err.path().to_string();
                if member == "." {
                    // The document itself: nothing to name.
                    anyhow::anyhow!("{}", err.into_inner())
                } else {
                    anyhow::anyhow!("`{member}`: {}", err.into_inner())
                }
            })
            .with_context(|| {
                format!("parsing {} (`--help` describes the format)", path.display())
            })?;
    if let Some(problem) = config.problem() {
        anyhow::bail!("{}: invalid policy config: {problem}", path.display());
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::CONFIG_HELP;
    use otc_policy::PolicyConfig;

    /// The config shown in `--help` parses, and is the defaults but for the one `per_intent`
    /// entry it shows: a knob added or a default changed must show up there too.
    #[test]
    fn the_help_shows_every_default() {
        let start = CONFIG_HELP.find("\n  {").expect("the example starts");
        let end = CONFIG_HELP.find("\n  }\n").expect("the example ends") + 4;
        let shown: PolicyConfig = serde_json::from_str(&CONFIG_HELP[start..end]).unwrap();
        let mut want = PolicyConfig::default();
        want.cost = want.cost.with_intent("some-intent", 25.0).unwrap();
        assert_eq!(shown, want);
    }
}
