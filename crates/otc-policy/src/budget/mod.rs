//! The tool-call budget a combination is *served*: evidence per budget level and the rule that
//! moves the budget. Pure arithmetic, no I/O.
//!
//! # Why this is not OTC's `n`
//!
//! OTC's `n` (the fewest calls that answer correctly, [`crate::estimate`]) scores a trajectory.
//! Served as a budget it censors its own evidence: a request given too few calls can never show
//! that more would have worked, so one lucky short answer pulls the budget down and nothing pulls
//! it back up. The served budget is therefore a decision of its own, learnt from what happened to
//! requests *at the budgets they were served*.
//!
//! # Evidence
//!
//! Every trajectory of the combination says which budget `k` it was served (through its logged
//! decision; an unlogged trajectory counts as served the `m` calls it made), how many calls `m`
//! it made and whether it was correct. Per budget level `j` the state keeps decayed weights:
//!
//! * **served / succeeded**: requests served exactly `j`, and how many of them were correct.
//!   Unbiased evidence for P(correct | budget `j`). A correct request that overran its budget
//!   still counts at the budget it was served.
//! * **gave_up**: of the failures served `j`, those that stopped before using the budget. The
//!   agent gave up, so no larger budget would have helped that request.
//! * **paired / kept**, for levels below the served budget: of the requests that were correct at
//!   `k`, how many stopped on their own within `j` calls, or answered with the result of a call
//!   within the first `j` (`answered_at`). An agent that stops when it has the answer shows for
//!   free that any budget `>= m` would have sufficed, and so does an orchestrator that says
//!   which call answered; a request that used its whole budget and says nothing more shows
//!   nothing about lower ones and counts as *not kept* (conservative: a silent over-calling
//!   agent never reveals a lower budget, only exploration does).
//!
//! Evidence at the budget itself also feeds a short **recent** window (decay
//! [`BudgetConfig::recent_decay`]), which is what notices a budget that stopped working.
//!
//! # The rule (applied after every observation, in log order, so a rebuild replays it exactly)
//!
//! The budget served is the smallest level whose success is within
//! [`BudgetConfig::tolerance`] of what more calls achieve. Success may jump from nothing to
//! nearly everything at one level (every request needs the same calls) or rise gradually
//! (requests need different numbers of calls); the rule must not mistake the second for the
//! first.
//!
//! * **Climb when failing**: one level up when the recent success at the budget, as a
//!   Beta(1, 1) posterior mean, is below [`BudgetConfig::climb_below`] with at least
//!   [`BudgetConfig::min_recent`] weight (a failure that stopped before using its whole budget
//!   does not count against the budget: the budget did not cause it). Climbing so forgets the
//!   evidence at and below the level left: it is contradicted by what just happened. Not once
//!   the largest budget was served and failed as well, nor once a level above fails because
//!   its agents gave up before using it (it would fail even if every other failure there had
//!   been answered with more calls; those agents would have stopped at the same call under
//!   any larger budget): then no budget helps (success only grows with the budget), and
//!   the descent brings the budget down instead; a budget that keeps failing serves that
//!   level again (the largest budget after the longest wait between probes, a level whose
//!   agents gave up after four times `probe_after`), to see whether that changed (from fresh
//!   evidence: what was served before is forgotten).
//! * **Nothing at all**: the budget goes straight to 0 (no tools) once the largest budget, or
//!   a level whose agents gave up before using it, succeeds no more often than no answer at
//!   all, within the tolerance (strong odds of half the tolerance against twice it): no tools
//!   is then the smallest budget within the tolerance of the best.
//! * **Climb for a gain**: one level up when some level above (with at least
//!   [`BudgetConfig::min_direct`] requests served) succeeds more often than the budget by more
//!   than the tolerance, on the odds of [`BudgetConfig::evidence_odds`]: the generalized
//!   likelihood ratio of "twice the tolerance more" against "as often", fitted to the requests
//!   served both levels (so a level just reached, with few requests, is not taken as known).
//!   This is what finds the budget where success rises gradually; it counts as a failed probe.
//!   Not where agents that stop on their own say otherwise: when the requests correct one
//!   level up mostly stopped within the budget (paired evidence, at least `min_direct` of it,
//!   leaning to "within the tolerance") and no level further up gains over that one, the
//!   gain is an unlucky streak at the budget, not a level that answers more (two samples of
//!   different requests against the same requests under both budgets).
//! * **Descend** to the lowest level `j` shown, on *strong* evidence, to succeed within the
//!   tolerance of the budget (success only grows with the budget, so the levels between do
//!   too), looking no further down than a level that clearly falls short:
//!   * paired evidence: posterior mean of kept / paired >= 1 − tolerance, with at least
//!     [`BudgetConfig::min_evidence`] weight and odds that it keeps nearly all requests rather
//!     than half; a lucky short answer is one kept request among many that are not, so it
//!     cannot pull the budget down;
//!   * requests probed there (at least `min_direct`): the odds that `j` does *not* fall short
//!     of the budget by more than the tolerance (the same likelihood ratio as the climb, the
//!     other way), and no level above says otherwise. After the first module changed (a
//!     **quick** probe, [`BudgetState::quick_probe`]) the calls the old first module took are
//!     expected to be unneeded, and odds that `j` works rather than clearly fails
//!     ([`FAILING_RATIO`]) are enough too, without strong odds (half the log odds) that it
//!     falls short: after the first module changed, after a failing
//!     climb and after a probe's own descent, until two probes have failed.
//! * **A new first module** ([`BudgetState::new_regime`]): the budget drops at once by the
//!   calls that were made before the first call to it, and probes are quick. The
//!   trajectory that showed it is folded in as the new order would have played it, without
//!   those calls.
//!
//! # Exploration
//!
//! With probability [`BudgetConfig::explore_up`] a decision serves one level above the budget
//! ([`BudgetConfig::explore_up_undecided`] while it is open whether that level gains more than
//! the tolerance: for an agent that stops on its own the extra call costs only the requests
//! that need it), and during a probe with [`BudgetConfig::explore_down`] one level below, the
//! latter only while the evidence still allows that the lower level works (serving a budget
//! that is known to fail costs a request). See [`BudgetState::exploration`] and
//! [`crate::decision`].

mod config;
mod evidence;
mod rule;

pub use config::{BudgetConfig, MAX_BACKOFF, MAX_EXPLORATION, MAX_PROBE_WEIGHT};
pub use evidence::{FAILING_RATIO, Level};

use serde::{Deserialize, Serialize};

/// Weights below this are dropped, which keeps the checkpoint small.
pub const PRUNE_WEIGHT: f64 = crate::estimate::PRUNE_WEIGHT;

/// One trajectory as the budget sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetObservation {
    /// The budget it was served (`None`: not logged, counted as served the calls it made).
    pub served: Option<u32>,
    /// Calls made.
    pub calls: u32,
    /// Whether it was correct.
    pub correct: bool,
    /// Which call's result answered, if the orchestrator said (1-based, 0: none).
    pub answered_at: Option<u32>,
}

/// Which way a decision explored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// One level above the budget.
    Up,
    /// One level below the budget.
    Down,
}

/// The budget exploration open to a decision: the policy's budget and the probabilities of
/// serving one level below or above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exploration {
    /// The policy's budget.
    pub policy_budget: u32,
    /// Probability of serving `policy_budget - 1`.
    pub down: f64,
    /// Probability of serving `policy_budget + 1`.
    pub up: f64,
}

/// What the policy knows about its budget, for callers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BudgetEvidence {
    /// Decayed weight of requests served this budget.
    pub samples: f64,
    /// Their success rate; `None` before any.
    pub success_rate: Option<f64>,
}

/// The served-budget state of one combination.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetState {
    /// The budget decisions serve when they do not explore; `None` before any evidence.
    pub current: Option<u32>,
    /// Recent requests served the current budget (fast decay).
    pub recent_served: f64,
    /// Of them, correct ones.
    pub recent_succeeded: f64,
    /// Recent correct requests that stopped before their budget or said they answered with an
    /// earlier call: whether the agents of this combination reveal lower budgets at all
    /// (decays like paired evidence).
    pub early: f64,
    /// A probe of the level below is running (see [`BudgetConfig::probe_after`]).
    pub probing: bool,
    /// Probes are quick: the level below is expected to work (the first module changed,
    /// [`BudgetState::new_regime`]; the budget climbed because it failed, which a streak of
    /// ordinary failures also does; or a probe just took the budget down), so it may pass on
    /// a few successes. Two failed probes end it. Otherwise a probe needs strong odds that the
    /// level is within the tolerance.
    pub quick_probe: bool,
    /// The module that came first when the evidence at and below the budget was gathered
    /// (the path; see [`BudgetState::new_regime`]), as an index into the canonical set.
    pub led_by: Option<u8>,
    /// Probes of the level below that failed (a climb for a gain counts as one) since the
    /// budget last moved down or climbed because it failed (the backoff exponent). Set to 2
    /// where the budget reaches the largest one by a failing climb or a re-check (see the
    /// rule), so that level's own evidence decides before its first probe.
    pub failed_probes: u32,
    /// Observations since the budget moved or the last probe ended.
    pub since_probe: u32,
    /// Evidence per level, sorted by level, negligible levels dropped.
    levels: Vec<(u32, Level)>,
}

impl BudgetState {
    /// Rebuilds a state from stored parts; `None` if a weight is negative or not finite, a
    /// success count exceeds its total, a level's failures given up exceed its failures, or
    /// the levels are unsorted.
    pub fn from_parts(
        current: Option<u32>,
        recent: (f64, f64),
        early: f64,
        probe: (bool, bool, u32, u32),
        led_by: Option<u8>,
        levels: Vec<(u32, Level)>,
    ) -> Option<Self> {
        let weight = |x: f64| x.is_finite() && x >= 0.0;
        let levels_ok = levels.windows(2).all(|w| w[0].0 < w[1].0)
            && levels.iter().all(|(_, l)| {
                weight(l.served)
                    && weight(l.succeeded)
                    && weight(l.paired)
                    && weight(l.kept)
                    && weight(l.gave_up)
                    && l.succeeded <= l.served * (1.0 + 1e-9)
                    && l.gave_up <= (l.served - l.succeeded).max(0.0) * (1.0 + 1e-9) + 1e-9
                    && l.kept <= l.paired * (1.0 + 1e-9)
            });
        let ok = levels_ok
            && weight(recent.0)
            && weight(recent.1)
            && recent.1 <= recent.0 * (1.0 + 1e-9)
            && weight(early);
        ok.then_some(Self {
            current,
            recent_served: recent.0,
            recent_succeeded: recent.1,
            early,
            probing: probe.0,
            quick_probe: probe.1,
            led_by,
            failed_probes: probe.2,
            since_probe: probe.3,
            levels,
        })
    }

    /// A state without evidence whose budget is `budget` (a loan).
    pub fn starting_at(budget: u32) -> Self {
        Self {
            current: Some(budget),
            ..Self::default()
        }
    }

    /// The evidence per level, sorted by level.
    pub fn levels(&self) -> &[(u32, Level)] {
        &self.levels
    }

    /// The evidence at `level` (all zero when there is none).
    pub fn level(&self, level: u32) -> Level {
        self.levels
            .binary_search_by_key(&level, |&(l, _)| l)
            .map_or_else(|_| Level::default(), |i| self.levels[i].1)
    }

    fn level_mut(&mut self, level: u32) -> &mut Level {
        let i = match self.levels.binary_search_by_key(&level, |&(l, _)| l) {
            Ok(i) => i,
            Err(i) => {
                self.levels.insert(i, (level, Level::default()));
                i
            }
        };
        &mut self.levels[i].1
    }

    /// The budget a decision serves when it does not explore.
    pub fn policy_budget(&self, config: &BudgetConfig) -> u32 {
        self.current
            .unwrap_or(config.cold_start)
            .min(config.max_budget)
    }

    /// Evidence behind the current budget.
    pub fn evidence(&self, config: &BudgetConfig) -> BudgetEvidence {
        let level = self.level(self.policy_budget(config));
        BudgetEvidence {
            samples: level.served,
            success_rate: (level.served > 0.0).then(|| level.succeeded / level.served),
        }
    }

    /// How sure the policy is that its budget succeeds: the posterior mean (Beta(1, 1)) of
    /// success of requests served the budget, 0 with no evidence at all. It falls as soon as
    /// requests at the budget start failing.
    pub fn confidence(&self, config: &BudgetConfig) -> f64 {
        if self.current.is_none() {
            return 0.0;
        }
        self.level(self.policy_budget(config)).success()
    }

    /// Folds one trajectory in and then applies the rule of the module docs. `decay` is the
    /// long-memory decay shared with the rest of the checkpoint.
    pub fn observe(&mut self, obs: BudgetObservation, config: &BudgetConfig, decay: f64) {
        self.forget(decay, config);
        let top = config.max_budget;
        let obs = self.as_served(obs, config);
        let served = obs.served.unwrap_or(obs.calls).min(top);
        let stopped_early = obs.calls < served;
        // The calls the answer needed: the call it used if the orchestrator said, else every
        // call made.
        let needed = obs.answered_at.map_or(obs.calls, |at| at.min(obs.calls));
        let revealed = needed < served;
        let level = self.level_mut(served);
        level.served += 1.0;
        if obs.correct {
            level.succeeded += 1.0;
        } else if stopped_early {
            level.gave_up += 1.0;
        }
        if obs.correct {
            if revealed {
                self.early += 1.0;
            }
            // Levels below `needed - 1` get no "not kept" weight: the descent stops at the first
            // level without strong evidence, so they are never reached through this request.
            let lowest = if revealed {
                needed.saturating_sub(1)
            } else {
                served.saturating_sub(1)
            };
            for j in lowest..served {
                let kept = revealed && needed <= j;
                let level = self.level_mut(j);
                level.paired += 1.0;
                if kept {
                    level.kept += 1.0;
                }
            }
        }
        let current = *self.current.get_or_insert(served);
        if served == current {
            // Only a failure that used its whole budget can be the budget's fault; one that
            // stopped before it was wrong for another reason and does not push the budget up.
            self.recent_served += 1.0;
            if obs.correct || stopped_early {
                self.recent_succeeded += 1.0;
            }
        }
        if self.probing
            && served + 1 == current
            && !obs.correct
            && self.level(served).succeeded == 0.0
            && !self.level(current).fails(config.min_direct, config)
        {
            // The probe's first request failed at the lower budget, where the budget itself
            // works: back off. (Where the budget fails as well, one failure below it says
            // nothing; the odds decide.)
            self.end_probe(true);
        } else if !self.probing {
            self.since_probe = self.since_probe.saturating_add(1);
        }
        self.step(config);
    }

    /// An unlogged trajectory (no decision) as if it had been served the policy's current
    /// budget, which is what `GET /admin/otc/policy` advised: one that stopped within it
    /// reveals lower budgets like any other, and one that made more calls than the budget
    /// counts as a request the budget would have cut off (a failure at the budget), so
    /// requests that keep needing more make the budget climb. The first one, with no budget
    /// yet, starts the budget at its own call count.
    fn as_served(&self, obs: BudgetObservation, config: &BudgetConfig) -> BudgetObservation {
        match (obs.served, self.current) {
            (None, Some(k)) => {
                let k = k.min(config.max_budget);
                // The answer needed the calls up to the one it used, if the orchestrator said.
                let needed = obs.answered_at.map_or(obs.calls, |at| at.min(obs.calls));
                BudgetObservation {
                    served: Some(k),
                    correct: obs.correct && needed <= k,
                    ..obs
                }
            }
            (None, None) => BudgetObservation {
                served: Some(obs.calls.min(config.max_budget)),
                ..obs
            },
            (Some(_), _) => obs,
        }
    }

    fn forget(&mut self, decay: f64, config: &BudgetConfig) {
        let recent = config.recent_decay;
        self.recent_served *= recent;
        self.recent_succeeded *= recent;
        self.early *= config.reveal_decay;
        for (_, level) in &mut self.levels {
            level.served *= decay;
            level.succeeded *= decay;
            level.gave_up *= decay;
            level.paired *= config.reveal_decay;
            level.kept *= config.reveal_decay;
            if level.served < PRUNE_WEIGHT {
                level.served = 0.0;
                level.succeeded = 0.0;
                level.gave_up = 0.0;
            }
            if level.paired < PRUNE_WEIGHT {
                level.paired = 0.0;
                level.kept = 0.0;
            }
        }
        self.levels.retain(|(_, level)| !level.is_negligible());
    }

    /// Whether it is open whether one call more than `k` gains more than the tolerance: `k`
    /// works at least in part, and the requests served `k` and `k + 1` neither show the gain
    /// nor rule it out.
    fn gain_undecided(&self, k: u32, config: &BudgetConfig) -> bool {
        // A budget that fails outright climbs by the failing rule sooner than exploration
        // could show a gain: only a budget that works in part explores more.
        let odds = config.evidence_odds.ln();
        self.level(k).success() >= config.climb_below
            && self.gains_above(k, k + 1, config).abs() < odds
    }

    /// The exploration open to a decision: one level down with probability `explore_down`
    /// (only while the evidence allows that the level below works), one level up with `explore_up` (below
    /// `max_budget`).
    pub fn exploration(&self, config: &BudgetConfig) -> Exploration {
        self.exploration_facts(config).exploration(config)
    }

    /// What the exploration open to a decision depends on in the state; the exploration knobs
    /// then set the probabilities ([`ExplorationFacts::exploration`]). Two configs that differ
    /// only in those knobs share the facts.
    pub fn exploration_facts(&self, config: &BudgetConfig) -> ExplorationFacts {
        let k = self.policy_budget(config);
        let below_max = k < config.max_budget;
        ExplorationFacts {
            policy_budget: k,
            may_probe: self.probing && self.lower_may_work(k, config),
            below_max,
            gain_undecided: below_max && self.gain_undecided(k, config),
        }
    }
}

/// What the exploration open to a decision depends on in the budget state
/// ([`BudgetState::exploration_facts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExplorationFacts {
    /// The policy's budget.
    pub policy_budget: u32,
    /// A probe is open and the level below may work.
    pub may_probe: bool,
    /// The budget is below `max_budget`.
    pub below_max: bool,
    /// It is open whether one call more gains more than the tolerance.
    pub gain_undecided: bool,
}

impl ExplorationFacts {
    /// The exploration these facts open under `config`'s exploration knobs.
    pub fn exploration(&self, config: &BudgetConfig) -> Exploration {
        Exploration {
            policy_budget: self.policy_budget,
            down: if self.may_probe {
                config.explore_down
            } else {
                0.0
            },
            up: if !self.below_max {
                0.0
            } else if self.gain_undecided {
                config.explore_up.max(config.explore_up_undecided)
            } else {
                config.explore_up
            },
        }
    }
}

#[cfg(test)]
mod gradual_tests;
#[cfg(test)]
mod nothing_helps_tests;
#[cfg(test)]
pub(crate) mod tests;
