//! [`BudgetConfig`]: the knobs of the budget decision and of its exploration, with their
//! defaults and ranges.

use serde::{Deserialize, Serialize};

/// The wait before a probe doubles after each failed one, up to `probe_after << MAX_BACKOFF`
/// observations (400 by default): a level that truly fails then costs about one failed request
/// per 400 observations once the backoff is full. A budget that became too generous is found
/// sooner through paired evidence when agents stop on their own or the orchestrator says which
/// call answered (`answered_at`); for an agent that uses every call and says nothing more,
/// only probes find it, and each probe of a level that does not work costs a request, so
/// following such a drift within `w` observations costs about one request in `w` (see
/// ARCHITECTURE.md).
pub const MAX_BACKOFF: u32 = 4;

/// Requests served the level below (decayed weight) after which a probe that reached no
/// verdict ends as failed: near the tolerance the odds move slowly, and a probe serves one call
/// short to half the decisions while it runs.
pub const MAX_PROBE_WEIGHT: f64 = 60.0;

/// The largest share of decisions that may explore (up, down during a probe, and the module
/// order at once): at least a tenth keep serving the policy's own budget and order.
pub const MAX_EXPLORATION: f64 = 0.9;

/// The knobs of the budget decision and of its exploration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetConfig {
    /// The largest budget ever served.
    pub max_budget: u32,
    /// The budget served for a combination with no evidence at all (no own trajectory and no
    /// sibling module set to borrow from). The budget climbs from there when requests fail
    /// (about three failed requests per level) and comes down when fewer calls answer as
    /// well, so the start is a trade: 1 (the default) spares a combination that needs calls
    /// the failures of the first climb (0 means "answer without tools"), and costs an agent
    /// that uses every call one call per request until the first probe where none is needed;
    /// a generous start would take such an agent dozens of requests per level to come down.
    /// Measured in closed loop against 0 (README.md, the closed-loop section): 0.08 to 0.15
    /// points of accuracy more in the steady, drift and siblings worlds, at 0.1 to 0.7 % of
    /// the oracle's call saving less.
    pub cold_start: u32,
    /// How much success a lower budget may give up against the current one and still be
    /// preferred, in `(0, 0.5)`: at 0 no evidence could ever show a lower level as good (the
    /// budget would never come down), and the tests compare against twice the tolerance.
    pub tolerance: f64,
    /// Paired weight a level needs before paired evidence can move the budget down to it.
    pub min_evidence: f64,
    /// Weight of requests served at a level (by exploration) before their success rate can move
    /// the budget.
    pub min_direct: f64,
    /// How many times more likely one answer must be than the other before evidence moves the
    /// budget; 19 is 95 % with even prior odds. The answers: "a level gains twice the
    /// tolerance over another" or "as much" (requests served both, climbs and descents);
    /// "works as well" or "clearly fails" (a quarter of the budget's success rate,
    /// [`super::FAILING_RATIO`]; quick probes, and stopping any probe); "keeps nearly all
    /// requests" or "half of them" (paired evidence). A probe also stops on these odds that
    /// the level below falls short of the tolerance.
    pub evidence_odds: f64,
    /// Weight of recent requests at the budget before a failing budget climbs.
    pub min_recent: f64,
    /// The budget climbs when the recent success rate at it falls below this, in `(0, 1)`.
    pub climb_below: f64,
    /// Per-observation decay of the recent window, in `(0, 1)`.
    pub recent_decay: f64,
    /// Per-observation decay of paired (revealed) evidence, in `(0, 1]`.
    pub reveal_decay: f64,
    /// Probability of serving one level above the budget, in `[0, 0.5]`.
    pub explore_up: f64,
    /// Probability of serving one level above the budget while it is undecided whether that
    /// level gains more than the tolerance (the budget leaves room for such a gain and the
    /// requests served above neither show it nor rule it out), in `[0, 0.5]`; the larger of
    /// this and `explore_up` applies. It finds budgets whose success rises gradually: an agent
    /// that stops on its own pays the extra call only when it needs it.
    pub explore_up_undecided: f64,
    /// Probability of serving one level below the budget during a probe (see
    /// [`BudgetConfig::probe_after`]), in `[0, 0.5]`.
    pub explore_down: f64,
    /// Observations at a budget before the level below it is probed; doubled after every probe
    /// that failed but the first (a climb for a gain counts as one), up to 16 times
    /// ([`MAX_BACKOFF`]), reset when the budget moves down or climbs because it fails. A probe
    /// ends at its first failure (when nothing succeeded yet), when the odds say the level
    /// fails or falls short of the tolerance, after [`MAX_PROBE_WEIGHT`] requests without a
    /// verdict, or when the budget moves down (it then goes on a level further).
    pub probe_after: u32,
    /// Probability of putting another module first than the best-ranked one, in `[0, 0.5]`.
    pub explore_order: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            max_budget: 16,
            cold_start: 1,
            tolerance: 0.1,
            min_evidence: 8.0,
            min_direct: 3.0,
            evidence_odds: 19.0,
            min_recent: 2.5,
            climb_below: 0.35,
            recent_decay: 0.9,
            reveal_decay: 0.95,
            explore_up: 0.05,
            explore_up_undecided: 0.25,
            explore_down: 0.5,
            probe_after: 25,
            explore_order: 0.03,
        }
    }
}

impl BudgetConfig {
    /// Whether every knob is in range (see each field).
    pub fn is_valid(&self) -> bool {
        self.problems().is_empty()
    }

    /// Every knob out of its range, and every rule between knobs broken: the knobs to blame
    /// (as a config file names them) and what is wrong, in the words of each field's docs.
    pub fn problems(&self) -> Vec<(Vec<&'static str>, String)> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, knob: &'static str, value: f64, range: &str| {
            if !ok {
                problems.push((vec![knob], format!("`{knob}` {value} must be {range}")));
            }
        };
        let unit_open = |x: f64| x.is_finite() && x > 0.0 && x < 1.0;
        let probability = |x: f64| x.is_finite() && (0.0..=0.5).contains(&x);
        let weight = |x: f64| x.is_finite() && x >= 0.0;
        let max_calls = crate::trajectory::MAX_CALLS as u32;
        check(
            self.max_budget <= max_calls,
            "max_budget",
            f64::from(self.max_budget),
            &format!("at most {max_calls}"),
        );
        let (tolerance, odds) = (self.tolerance, self.evidence_odds);
        check(
            tolerance.is_finite() && tolerance > 0.0 && tolerance < 0.5,
            "tolerance",
            tolerance,
            "in (0, 0.5)",
        );
        for (knob, value) in [
            ("min_evidence", self.min_evidence),
            ("min_direct", self.min_direct),
            ("min_recent", self.min_recent),
        ] {
            check(weight(value), knob, value, "finite and >= 0");
        }
        check(
            odds.is_finite() && odds >= 1.0,
            "evidence_odds",
            odds,
            "finite and >= 1",
        );
        for (knob, value) in [
            ("climb_below", self.climb_below),
            ("recent_decay", self.recent_decay),
        ] {
            check(unit_open(value), knob, value, "in (0, 1)");
        }
        let reveal = self.reveal_decay;
        check(
            reveal.is_finite() && reveal > 0.0 && reveal <= 1.0,
            "reveal_decay",
            reveal,
            "in (0, 1]",
        );
        let shares = [
            ("explore_up", self.explore_up),
            ("explore_up_undecided", self.explore_up_undecided),
            ("explore_down", self.explore_down),
            ("explore_order", self.explore_order),
        ];
        for (knob, value) in shares {
            check(probability(value), knob, value, "in [0, 0.5]");
        }
        if self.cold_start > self.max_budget && self.max_budget <= max_calls {
            problems.push((
                vec!["cold_start", "max_budget"],
                format!(
                    "`cold_start` {} must be at most `max_budget` {}",
                    self.cold_start, self.max_budget
                ),
            ));
        }
        if shares.iter().all(|&(_, value)| probability(value)) {
            let up = if self.explore_up >= self.explore_up_undecided {
                "explore_up"
            } else {
                "explore_up_undecided"
            };
            let sum = self.explore_up.max(self.explore_up_undecided)
                + self.explore_down
                + self.explore_order;
            if sum > MAX_EXPLORATION {
                problems.push((
                    vec![up, "explore_down", "explore_order"],
                    format!(
                        "at most {MAX_EXPLORATION} of decisions may explore: the larger of \
                         `explore_up` and `explore_up_undecided` ({}) plus `explore_down` ({}) \
                         plus `explore_order` ({}) is {sum}: lower them by {:.2} in all",
                        self.explore_up.max(self.explore_up_undecided),
                        self.explore_down,
                        self.explore_order,
                        sum - MAX_EXPLORATION
                    ),
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_knob_out_of_range_is_refused() {
        let ok = BudgetConfig::default();
        assert!(ok.is_valid());
        let bad: Vec<(&str, BudgetConfig)> = vec![
            (
                "max_budget",
                BudgetConfig {
                    max_budget: 5000,
                    ..ok
                },
            ),
            (
                "cold_start",
                BudgetConfig {
                    cold_start: 17,
                    ..ok
                },
            ),
            (
                "tolerance",
                BudgetConfig {
                    tolerance: 1.0,
                    ..ok
                },
            ),
            (
                "tolerance 0: nothing could show a lower level as good",
                BudgetConfig {
                    tolerance: 0.0,
                    ..ok
                },
            ),
            (
                "tolerance 0.5: twice it is every request",
                BudgetConfig {
                    tolerance: 0.5,
                    ..ok
                },
            ),
            (
                "tolerance NaN",
                BudgetConfig {
                    tolerance: f64::NAN,
                    ..ok
                },
            ),
            (
                "min_evidence",
                BudgetConfig {
                    min_evidence: -1.0,
                    ..ok
                },
            ),
            (
                "min_direct",
                BudgetConfig {
                    min_direct: f64::INFINITY,
                    ..ok
                },
            ),
            (
                "min_recent",
                BudgetConfig {
                    min_recent: -0.5,
                    ..ok
                },
            ),
            (
                "evidence_odds",
                BudgetConfig {
                    evidence_odds: 0.5,
                    ..ok
                },
            ),
            (
                "climb_below",
                BudgetConfig {
                    climb_below: 1.0,
                    ..ok
                },
            ),
            (
                "recent_decay",
                BudgetConfig {
                    recent_decay: 0.0,
                    ..ok
                },
            ),
            (
                "reveal_decay",
                BudgetConfig {
                    reveal_decay: 1.5,
                    ..ok
                },
            ),
            (
                "explore_up",
                BudgetConfig {
                    explore_up: 0.6,
                    ..ok
                },
            ),
            (
                "explore_down",
                BudgetConfig {
                    explore_down: -0.1,
                    ..ok
                },
            ),
            (
                "explore_order",
                BudgetConfig {
                    explore_order: f64::NAN,
                    ..ok
                },
            ),
            (
                "explore_up_undecided",
                BudgetConfig {
                    explore_up_undecided: 0.7,
                    ..ok
                },
            ),
            (
                "sum",
                BudgetConfig {
                    explore_up: 0.3,
                    explore_down: 0.5,
                    explore_order: 0.15,
                    ..ok
                },
            ),
            (
                "sum with the undecided rate",
                BudgetConfig {
                    explore_up_undecided: 0.4,
                    explore_order: 0.05,
                    ..ok
                },
            ),
        ];
        for (name, config) in bad {
            assert!(!config.is_valid(), "{name} accepted");
        }
        // The boundaries themselves are in range.
        for config in [
            BudgetConfig {
                reveal_decay: 1.0,
                ..ok
            },
            BudgetConfig {
                tolerance: 0.49,
                ..ok
            },
            BudgetConfig {
                cold_start: 16,
                ..ok
            },
            BudgetConfig {
                explore_up: 0.0,
                explore_up_undecided: 0.0,
                explore_down: 0.0,
                explore_order: 0.0,
                ..ok
            },
            BudgetConfig {
                explore_up_undecided: 0.35,
                explore_order: 0.05,
                ..ok
            },
        ] {
            assert!(config.is_valid(), "{config:?}");
        }
    }
}
