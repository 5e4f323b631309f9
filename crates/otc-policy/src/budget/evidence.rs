//! The evidence about one budget level ([`Level`]) and the statistics the rule decides with:
//! likelihood ratios between "works as well" and "clearly fails", and two-sample z scores.

use super::PRUNE_WEIGHT;
use super::config::BudgetConfig;
use serde::{Deserialize, Serialize};

/// Decayed evidence about one budget level. See the module docs for what each weight means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Requests served exactly this budget.
    pub served: f64,
    /// Of them, correct ones.
    pub succeeded: f64,
    /// Requests correct at a higher served budget.
    pub paired: f64,
    /// Of them, those that stopped on their own within this many calls.
    pub kept: f64,
}

impl Level {
    /// Posterior mean (Beta(1, 1) prior) of success when served this budget.
    pub fn success(&self) -> f64 {
        (self.succeeded + 1.0) / (self.served + 2.0)
    }

    /// Posterior mean (Beta(1, 1) prior) of "a request correct at a higher budget would also
    /// have been correct at this one".
    pub fn keep_rate(&self) -> f64 {
        (self.kept + 1.0) / (self.paired + 2.0)
    }

    pub(super) fn is_negligible(&self) -> bool {
        self.served < PRUNE_WEIGHT && self.paired < PRUNE_WEIGHT
    }
}

/// The z score a level above must beat the budget by before its requests alone make the budget
/// climb. The test runs after every observation, so it must be strict: at 3.5 a fluke fires
/// about once in 4000 independent checks.
pub const BETTER_ABOVE_Z: f64 = 3.5;

/// The z score at which probe evidence shows a lower level worse than the budget by more
/// than the tolerance, which keeps the budget where it is.
pub const WORSE_BEYOND_TOLERANCE_Z: f64 = 2.0;

/// Two-proportion z score of `a`'s success rate exceeding `b`'s by more than `margin`
/// (decayed weights as counts; unpooled variances, floored so a run of all successes still
/// has a spread).
pub(super) fn two_sample_z(a: &Level, b: &Level, margin: f64) -> f64 {
    if a.served <= 0.0 || b.served <= 0.0 {
        return 0.0;
    }
    let rate = |l: &Level| (l.succeeded / l.served).clamp(0.0, 1.0);
    let spread = |l: &Level| {
        let p = ((l.succeeded + 1.0) / (l.served + 2.0)).clamp(0.0, 1.0);
        p * (1.0 - p) / l.served
    };
    let se = (spread(a) + spread(b)).sqrt();
    if se <= 0.0 {
        0.0
    } else {
        (rate(a) - rate(b) - margin) / se
    }
}

/// Log-likelihood ratio of success probability `good` against `bad` for `successes` and
/// `failures` (decayed weights).
pub(super) fn log_odds(successes: f64, failures: f64, good: f64, bad: f64) -> f64 {
    let clamp = |p: f64| p.clamp(1e-6, 1.0 - 1e-6);
    let (good, bad) = (clamp(good), clamp(bad));
    successes * (good / bad).ln() + failures * ((1.0 - good) / (1.0 - bad)).ln()
}

/// What "clearly fails" means for requests served a level: this fraction of the success rate
/// of the budget it is compared with.
pub const FAILING_RATIO: f64 = 0.25;

/// Odds that a level serves requests as well as one with success `at` rather than clearly
/// worse ([`FAILING_RATIO`]), from the requests served there.
pub(super) fn direct_odds(level: &Level, at: f64) -> f64 {
    log_odds(
        level.succeeded,
        level.served - level.succeeded,
        at,
        at * FAILING_RATIO,
    )
}

/// Odds that a level keeps nearly all requests correct at a higher budget (all but half the
/// tolerance) rather than half of them, from paired evidence.
pub(super) fn paired_odds(level: &Level, config: &BudgetConfig) -> f64 {
    log_odds(
        level.kept,
        level.paired - level.kept,
        1.0 - config.tolerance / 2.0,
        0.5,
    )
}
