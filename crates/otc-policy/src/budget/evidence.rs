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
    /// Of the failed ones, those that stopped before using the whole budget: the agent gave
    /// up, and no larger budget would have helped (it would have stopped at the same call).
    pub gave_up: f64,
    /// Requests correct at a higher served budget.
    pub paired: f64,
    /// Of them, those that stopped on their own within this many calls, or said the answer
    /// came from a call within them (`answered_at`).
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

    /// Whether requests served this level fail as a budget that must climb does (posterior
    /// success below [`BudgetConfig::climb_below`]), on at least `weight` of them.
    pub(super) fn fails(&self, weight: f64, config: &BudgetConfig) -> bool {
        self.served >= weight && self.success() < config.climb_below
    }

    /// Whether requests served this level (at least `min_direct` of them) would fail as a
    /// budget that must climb does even if every failure that used the whole budget had been
    /// answered with more calls: only those that gave up before using it are left as
    /// failures, and their posterior share is above `1 − climb_below`. Then no budget at or
    /// above this level helps, since those agents would have stopped at the same call, and
    /// success only grows with the budget, so none below helps either.
    pub(super) fn fails_by_giving_up(&self, config: &BudgetConfig) -> bool {
        let at_best = (self.served - self.gave_up + 1.0) / (self.served + 2.0);
        self.served >= config.min_direct && at_best < config.climb_below
    }

    /// Strong odds ([`BudgetConfig::evidence_odds`], from at least `min_direct` requests)
    /// that requests served this level succeed about half the tolerance of the time rather
    /// than twice the tolerance: no better than no answer at all, within the tolerance.
    pub(super) fn as_good_as_nothing(&self, config: &BudgetConfig) -> bool {
        self.served >= config.min_direct
            && log_odds(
                self.succeeded,
                self.served - self.succeeded,
                config.tolerance / 2.0,
                2.0 * config.tolerance,
            ) >= config.evidence_odds.ln()
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

/// Whether requests served `above` did better than those served `here` at all (the rates
/// [`gain_log_odds`] fits, with its half success and half failure). When they did not,
/// [`gain_log_odds`] is at most 0: the profile likelihood of the gap is concave and peaks at
/// the observed gap, so "as often" (a gap of 0) fits at least as well as "twice the
/// tolerance more".
pub(super) fn may_gain(here: &Level, above: &Level) -> bool {
    let rate = |l: &Level| (l.succeeded + 0.5) / (l.served + 1.0);
    rate(above) > rate(here)
}

/// Most steps of the fit in [`gain_log_odds`]; it needs about ten.
const MAX_FIT_STEPS: usize = 60;

/// Log of the generalized likelihood ratio that requests served `above` succeed more often
/// than those served `here` by twice `tolerance` rather than equally often: positive favours
/// the gain, negative its absence, and the boundary between the two is a gain of `tolerance`.
///
/// Both success rates are unknown (a level just reached has few requests, the level above may
/// have many), so each hypothesis is fitted to both levels at once: under "no gain" one rate
/// serves both, under "gain" the rates are `θ` and `θ + 2·tolerance` with `θ` fitted (the
/// log-likelihood is concave in `θ`, so its slope has one root to find). Half a success and half a
/// failure are added to each level, so that a level without failures is not certain.
pub(super) fn gain_log_odds(here: &Level, above: &Level, tolerance: f64) -> f64 {
    let gap = (2.0 * tolerance).clamp(0.0, 0.999);
    let (s_h, f_h) = (here.succeeded + 0.5, here.served - here.succeeded + 0.5);
    let (s_a, f_a) = (above.succeeded + 0.5, above.served - above.succeeded + 0.5);
    let ll = |s: f64, f: f64, p: f64| {
        let p = p.clamp(1e-9, 1.0 - 1e-9);
        s * p.ln() + f * (1.0 - p).ln()
    };
    if gap <= 0.0 {
        // "Twice the tolerance more" is "as often": no odds either way.
        return 0.0;
    }
    let pooled = (s_h + s_a) / (s_h + f_h + s_a + f_a);
    let same = ll(s_h + s_a, f_h + f_a, pooled);
    // Fit θ: the "gain" log-likelihood is concave on (0, 1 − gap), so its slope falls through
    // zero once. The slope has poles at both ends, where Newton's method crawls; multiplied by
    // θ(1 − θ − gap) it keeps its sign and is smooth on the closed interval, positive at 0 and
    // negative at 1 − gap, and regula falsi (the Illinois variant) finds its root in about
    // ten steps. This runs after every observation, in every rebuild.
    let end = 1.0 - gap;
    let smooth_slope = |t: f64| {
        let u = end - t;
        let left = if 1.0 - t > 0.0 { u / (1.0 - t) } else { 1.0 };
        let right = if t + gap > 0.0 { t / (t + gap) } else { 1.0 };
        s_h * u - f_h * t * left + s_a * u * right - f_a * t
    };
    let (mut a, mut b) = (0.0, end);
    let (mut h_a, mut h_b) = (smooth_slope(a), smooth_slope(b));
    for _ in 0..MAX_FIT_STEPS {
        let c = b - h_b * (b - a) / (h_b - h_a);
        let h_c = smooth_slope(c);
        if h_c == 0.0 {
            b = c;
            break;
        }
        if h_c * h_b < 0.0 {
            (a, h_a) = (b, h_b);
        } else {
            h_a /= 2.0;
        }
        (b, h_b) = (c, h_c);
        if (b - a).abs() < 1e-11 {
            break;
        }
    }
    let t = b.clamp(1e-12, end - 1e-12);
    ll(s_h, f_h, t) + ll(s_a, f_a, t + gap) - same
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn level(served: f64, succeeded: f64) -> Level {
        Level {
            served,
            succeeded,
            ..Level::default()
        }
    }

    /// The same ratio with θ found by a fine grid: the reference the fitted one must match.
    fn by_grid(here: &Level, above: &Level, tolerance: f64) -> f64 {
        let gap = 2.0 * tolerance;
        let (s_h, f_h) = (here.succeeded + 0.5, here.served - here.succeeded + 0.5);
        let (s_a, f_a) = (above.succeeded + 0.5, above.served - above.succeeded + 0.5);
        let ll = |s: f64, f: f64, p: f64| s * p.ln() + f * (1.0 - p).ln();
        let pooled = (s_h + s_a) / (s_h + f_h + s_a + f_a);
        let best = (1..200_000)
            .map(|i| f64::from(i) / 200_000.0 * (1.0 - gap))
            .map(|t| ll(s_h, f_h, t) + ll(s_a, f_a, t + gap))
            .fold(f64::NEG_INFINITY, f64::max);
        best - ll(s_h + s_a, f_h + f_a, pooled)
    }

    proptest! {
        /// The shortcut callers take: no observed gain, no odds for one.
        #[test]
        fn without_an_observed_gain_the_odds_never_favour_one(
            n_h in 0.0f64..300.0, p_h in 0.0f64..=1.0,
            n_a in 0.0f64..300.0, p_a in 0.0f64..=1.0,
            tolerance in 0.0f64..0.4,
        ) {
            let (here, above) = (level(n_h, n_h * p_h), level(n_a, n_a * p_a));
            if !may_gain(&here, &above) {
                prop_assert!(gain_log_odds(&here, &above, tolerance) <= 1e-9);
            }
        }
    }

    #[test]
    fn the_gain_test_tells_a_gain_from_none() {
        // 50 requests at 0.7 below, 60 at 0.9 above: a gain of twice the tolerance.
        assert!(gain_log_odds(&level(50.0, 35.0), &level(60.0, 54.0), 0.1) > 19f64.ln());
        // Both at 0.9: no gain.
        assert!(gain_log_odds(&level(50.0, 45.0), &level(60.0, 54.0), 0.1) < -(19f64.ln()));
        // Three lucky successes at a level just reached say little either way.
        assert!(gain_log_odds(&level(3.0, 3.0), &level(60.0, 54.0), 0.1).abs() < 19f64.ln());
    }

    proptest! {
        #[test]
        fn the_fitted_ratio_is_the_maximum_likelihood_one(
            n_h in 0.0f64..300.0, p_h in 0.0f64..=1.0,
            n_a in 0.0f64..300.0, p_a in 0.0f64..=1.0,
            tolerance in 0.0f64..0.4,
        ) {
            let (here, above) = (level(n_h, n_h * p_h), level(n_a, n_a * p_a));
            let fitted = gain_log_odds(&here, &above, tolerance);
            let reference = by_grid(&here, &above, tolerance);
            prop_assert!(fitted.is_finite());
            // The fit is at least as good as the grid's best point, and not better by more
            // than the grid's resolution allows.
            prop_assert!(fitted >= reference - 1e-6, "{fitted} < {reference}");
            prop_assert!(fitted <= reference + 1e-3 * (1.0 + reference.abs()), "{fitted} > {reference}");
        }
    }
}
