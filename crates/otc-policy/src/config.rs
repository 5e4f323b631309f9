//! [`PolicyConfig`]: everything that turns a trajectory into a score and a checkpoint (reward
//! weights, cost normalisation, estimator and forgetting). Recorded with every reward event.

use crate::budget::BudgetConfig;
use crate::cost::CostNormalizer;
use crate::estimate::EstimatorConfig;
use crate::reward::RewardConfig;
use serde::{Deserialize, Serialize};

/// The configuration of a policy store. Changing it changes future scores; `rebuild` recomputes
/// every checkpoint under the current one.
///
/// As JSON every section and every field may be left out and then takes its default, so a
/// config file states only what it changes (`{"reward": {"beta": 0.2}}`); unknown names are
/// errors, so a typo is not silently a default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Weights of the composite reward.
    pub reward: RewardConfig,
    /// How run-units become `r_cost`.
    pub cost: CostNormalizer,
    /// How `n` is estimated and how fast old behaviour is forgotten.
    pub estimator: EstimatorConfig,
    /// How the served budget is decided and explored.
    pub budget: BudgetConfig,
}

impl PolicyConfig {
    /// Why the config is out of range, if it is (the reward's weights are checked when they
    /// are parsed; the estimator and budget knobs here).
    pub fn problem(&self) -> Option<String> {
        if !self.estimator.is_valid() {
            return Some(format!("estimator out of range: {:?}", self.estimator));
        }
        if !self.budget.is_valid() {
            return Some(format!("budget out of range: {:?}", self.budget));
        }
        None
    }
}
