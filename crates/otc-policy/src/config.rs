//! [`PolicyConfig`]: everything that turns a trajectory into a score and a checkpoint (reward
//! weights, cost normalisation, estimator and forgetting). Recorded with every reward event.

use crate::estimate::EstimatorConfig;
use crate::reward::RewardConfig;
use serde::{Deserialize, Serialize};
use usage_store::CostNormalizer;

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
}

impl PolicyConfig {
    /// Width of the composite reward's interval `[−β, α]`, the scale of the UCB bonus.
    pub fn reward_range(&self) -> f64 {
        self.reward.alpha() + self.reward.beta()
    }
}
