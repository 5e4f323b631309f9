//! The evidence about one budget level ([`Level`]) and the statistics the rule decides with:
//! likelihood ratios between "works as well" and "clearly fails" (quick, for step-shaped
//! success), between "within the tolerance" and "twice the tolerance short" (paired evidence),
//! and the generalized likelihood ratio of "one level gains more than the tolerance over
//! another" from the requests served both.

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

/// Odds that a level keeps nearly all requests correct at a higher budget (all but half the
/// tolerance) rather than losing twice the tolerance of them, from paired evidence: negative
/// odds say the level falls short of the tolerance, even when it still keeps most requests
/// (success that rises gradually with the budget).
pub(super) fn paired_within_odds(level: &Level, config: &BudgetConfig) -> f64 {
    log_odds(
        level.kept,
        level.paired - level.kept,
        1.0 - config.tolerance / 2.0,
        1.0 - 2.0 * config.tolerance,
    )
}

/// Log of the generalized likelihood ratio that requests served `above` succeed more often
/// than those served `here` by twice `tolerance` rather than equally often: positive favours
/// the gain, negative its absence, and the boundary between the two is a gain of `tolerance`.
///
/// Both success rates are unknown (a level just reached has few requests, the level above may
/// have many), so each hypothesis is fitted to both levels at once: under "no gain" one rate
/// serves both, under "gain" the rates are `θ` and `θ + 2·tolerance` with `θ` fitted (the
/// log-likelihood is concave in `θ`, so its derivative is bisected). Half a success and half a
/// failure are added to each level, so that a level without failures is not certain.
pub(super) fn gain_log_odds(here: &Level, above: &Level, tolerance: f64) -> f64 {
    let gap = (2.0 * tolerance).clamp(0.0, 0.999);
    let (s_h, f_h) = (here.succeeded + 0.5, here.served - here.succeeded + 0.5);
    let (s_a, f_a) = (above.succeeded + 0.5, above.served - above.succeeded + 0.5);
    let ll = |s: f64, f: f64, p: f64| {
        let p = p.clamp(1e-9, 1.0 - 1e-9);
        s * p.ln() + f * (1.0 - p).ln()
    };
    let pooled = (s_h + s_a) / (s_h + f_h + s_a + f_a);
    let same = ll(s_h + s_a, f_h + f_a, pooled);
    // d/dθ of the "gain" log-likelihood, decreasing in θ on (0, 1 − gap).
    let slope = |t: f64| s_h / t - f_h / (1.0 - t) + s_a / (t + gap) - f_a / (1.0 - t - gap);
    let (mut lo, mut hi) = (1e-9, 1.0 - gap - 1e-9);
    for _ in 0..48 {
        let mid = 0.5 * (lo + hi);
        if slope(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let t = 0.5 * (lo + hi);
    ll(s_h, f_h, t) + ll(s_a, f_a, t + gap) - same
}
