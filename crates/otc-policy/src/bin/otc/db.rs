//! The `--db` and `--config` options shared by every store subcommand, and opening the store.

use anyhow::Context;
use clap::Args;
use otc_policy::{PolicyConfig, PolicyStore};
use std::path::PathBuf;

/// Where the policy database lives and which config scores with.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Policy database file (created with its parent directory if missing).
    #[arg(long, env = "OTC_DB", default_value = "data/otc-policy.db")]
    db: PathBuf,
    /// JSON file holding a PolicyConfig (reward, cost, estimator); defaults when absent.
    #[arg(long, env = "OTC_POLICY_CONFIG")]
    config: Option<PathBuf>,
}

impl DbArgs {
    /// Opens (creating if needed) the store.
    pub fn open(&self) -> anyhow::Result<PolicyStore> {
        let config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                serde_json::from_str::<PolicyConfig>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => PolicyConfig::default(),
        };
        if let Some(parent) = self.db.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        PolicyStore::open(&self.db, config)
            .with_context(|| format!("opening {}", self.db.display()))
    }
}
