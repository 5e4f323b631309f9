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

/// A knob out of its range, or a rule between knobs broken.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeProblem {
    /// The config section, as a config file names it: `estimator` or `budget`.
    pub section: &'static str,
    /// The knobs to blame, as a config file names them: one for a knob's own range, all of
    /// them for a rule between knobs.
    pub knobs: Vec<&'static str>,
    /// What is wrong, naming the knobs and their values.
    pub detail: String,
}

impl PolicyConfig {
    /// Why the config is out of range, if it is (the reward's weights and the cost
    /// normaliser are checked when they are parsed; the estimator and budget knobs here):
    /// every problem of [`Self::range_problems`], each after its section's name.
    pub fn problem(&self) -> Option<String> {
        let problems: Vec<String> = self
            .range_problems()
            .into_iter()
            .map(|p| format!("{}: {}", p.section, p.detail))
            .collect();
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    /// Every estimator or budget knob out of its range, and every rule between knobs broken.
    pub fn range_problems(&self) -> Vec<RangeProblem> {
        let estimator = self
            .estimator
            .problems()
            .into_iter()
            .map(|p| ("estimator", p));
        let budget = self.budget.problems().into_iter().map(|p| ("budget", p));
        estimator
            .chain(budget)
            .map(|(section, (knobs, detail))| RangeProblem {
                section,
                knobs,
                detail,
            })
            .collect()
    }
}
