//! The learnt state of one (intent, module set) and how one trajectory updates it. Pure: the
//! store's incremental ingest and its rebuild both call [`CombinationState::observe`] in
//! trajectory-log order, which is why a rebuild reproduces the incremental checkpoint exactly.

use crate::arms::{Answerer, Arms};
use crate::budget::{BudgetEvidence, BudgetObservation, BudgetState};
use crate::config::PolicyConfig;
use crate::estimate::CallHistogram;
use crate::reward::{Score, score};
use serde::{Deserialize, Serialize};

/// How far a new first module's score must be ahead of the old first's for the swap to count
/// as a new regime of the budget (see [`BudgetState::new_regime`]). Two modules that answer
/// about equally often swap places all the time; that is not a new path.
pub const REGIME_MARGIN: f64 = 0.1;

/// Below this score the old first module is taken not to answer at all (one pull without an
/// answer is 1/3), so being overtaken is a new regime whatever the margin.
pub const USELESS_BELOW: f64 = 0.45;

/// Everything a checkpoint remembers about one (intent, module set).
#[derive(Debug, Clone, PartialEq)]
pub struct CombinationState {
    /// Trajectories observed (not decayed).
    pub samples: u64,
    /// Correct trajectories observed (not decayed).
    pub correct_samples: u64,
    /// Decayed call counts of correct trajectories: OTC's `n`, used to score.
    pub hist: CallHistogram,
    /// Per-module answer credit.
    pub arms: Arms,
    /// The served budget and its evidence.
    pub budget: BudgetState,
    /// Latest `timestamp_ms` among the observed trajectories (0 before any).
    pub updated_ms: i64,
}

/// One trajectory as the state sees it: calls as indices into the canonical module set.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// Module index of each call, in order.
    pub calls: &'a [u8],
    /// Whether the answer was correct.
    pub correct: bool,
    /// Normalised cost in `[0, 1]`.
    pub r_cost: f64,
    /// Completion time, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The budget its decision served (`None`: not logged).
    pub served: Option<u32>,
    /// The policy's budget when it was decided (`None`: not logged).
    pub policy_budget: Option<u32>,
    /// The module that answered, as the orchestrator reported it.
    pub answered_by: Option<u8>,
    /// Which call's result answered (1-based; 0: no tool result), as the orchestrator
    /// reported it.
    pub answered_at: Option<u32>,
    /// Its decision explored the module order (and served one call more for it): evidence
    /// for the arms, not for the budget.
    pub order_explored: bool,
}

impl CombinationState {
    /// The state of a combination never seen, for a set of `modules` modules.
    pub fn new(modules: usize) -> Self {
        Self {
            samples: 0,
            correct_samples: 0,
            hist: CallHistogram::default(),
            arms: Arms::new(modules),
            budget: BudgetState::default(),
            updated_ms: 0,
        }
    }

    /// Folds one trajectory in and returns its score.
    ///
    /// Order: forget (decay), learn `n` from this trajectory if it is correct, score it against
    /// the updated `n` (so a correct trajectory always has an `n`, the reward's precondition),
    /// credit the module that answered, then update the served budget.
    pub fn observe(
        &mut self,
        obs: &Observation<'_>,
        config: &PolicyConfig,
    ) -> Result<Score, crate::reward::RewardError> {
        let calls = u32::try_from(obs.calls.len()).unwrap_or(u32::MAX);
        let decay = config.estimator.decay;
        let mut hist = self.hist.clone();
        hist.decay(decay);
        if obs.correct {
            hist.add(calls);
        }
        let n = hist.estimate(&config.estimator);
        let scored = score(
            calls,
            n.map(f64::from),
            obs.correct,
            obs.r_cost,
            &config.reward,
        )?;
        self.hist = hist;
        self.arms.decay(decay);
        let answerer = match (obs.answered_by, obs.answered_at) {
            (Some(module), _) => Answerer::Module(module),
            (None, Some(0)) => Answerer::NoTool,
            (None, Some(at)) => obs
                .calls
                .get(at as usize - 1)
                .map_or(Answerer::LastCall, |&module| Answerer::Module(module)),
            // An agent that stopped before its budget ran out stopped after the answer; one
            // that used it all may have spent its last calls after the answer.
            (None, None) if obs.served.is_none_or(|served| calls >= served) => {
                Answerer::LastCallBudgetSpent
            }
            (None, None) => Answerer::LastCall,
        };
        if obs.correct {
            self.arms.record_answered(obs.calls, answerer);
        } else if obs.served.is_some() {
            // The agent followed a decision's order: a module it left did not answer. (Unlogged,
            // a failure pulls nobody: nothing says its calls followed an order.)
            self.arms.record_left(obs.calls);
        }
        let top_after = self.arms.leader();
        // A module answers first where none did, or clearly overtook the one that was first
        // when the budget's evidence was gathered (which then does not answer, or answers far
        // less often): budget evidence gathered before was about another path, and is
        // forgotten before this trajectory (the first of the new path) is folded in. Two
        // modules that answer about equally often may swap places without that; comparing
        // with the path's module, not the previous top, also notices an overtake that
        // happened in small steps. A failed request can show it too: the requests that left
        // the path's module pulled it below `USELESS_BELOW` (then nothing was wasted on the
        // way to an answer, so the budget does not drop and the level below is probed).
        let path = self.budget.led_by.map(usize::from);
        let regime_changed = match (path, top_after) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(a), Some(b)) => {
                let (old, new) = (self.arms.arms()[a].score(), self.arms.arms()[b].score());
                a != b && (old < USELESS_BELOW || new - old > REGIME_MARGIN)
            }
        };
        if self.budget.current.is_none() {
            // A first trajectory served by a decision starts from that decision's budget (a
            // sibling's loan, or the cold start), not from the exploration it may have been.
            self.budget.current = obs.policy_budget;
        }
        // Calls made before the first call to the new first module: not needed once it comes
        // first (only read from a trajectory served the policy's own order).
        let wasted = match top_after {
            Some(top) if regime_changed && obs.correct && !obs.order_explored => obs
                .calls
                .iter()
                .position(|&c| usize::from(c) == top)
                .map_or(0, |p| p as u32),
            _ => 0,
        };
        if regime_changed {
            // With the new first module first, the trajectory that showed it would have been
            // served its budget (an unlogged one: the current budget) without its wasted calls:
            // the budget drops there. (Not to the policy's budget without them: one served a
            // call more by exploration would drop it below what the trajectory itself shows to
            // work; when it shows no drop at all, the level below is probed at once.)
            let answered_within = (wasted > 0)
                .then(|| obs.served.or(self.budget.current))
                .flatten()
                .map(|served| served.saturating_sub(wasted));
            self.budget.new_regime(
                answered_within,
                top_after.and_then(|t| u8::try_from(t).ok()),
            );
        }
        if !obs.order_explored {
            // The trajectory that showed the new first module is the new path's first piece of
            // evidence, but it was played on the old one: it is folded in as the new path would
            // have played it, without its wasted calls. Folded in as played, it would tell the
            // levels just below the dropped budget that they lose a request they would have
            // kept, which holds the next descent back for many requests.
            self.budget.observe(
                BudgetObservation {
                    served: obs.served.map(|k| k.saturating_sub(wasted)),
                    calls: calls - wasted,
                    correct: obs.correct,
                    answered_at: obs.answered_at.map(|at| {
                        if at > 0 {
                            at.saturating_sub(wasted).max(1)
                        } else {
                            0
                        }
                    }),
                },
                &config.budget,
                decay,
            );
        }
        self.samples += 1;
        self.correct_samples += u64::from(obs.correct);
        self.updated_ms = self.updated_ms.max(obs.timestamp_ms);
        Ok(scored)
    }

    /// OTC's optimal `n`, the count trajectories are scored against.
    pub fn optimal_n(&self, config: &PolicyConfig) -> Option<u32> {
        self.hist.estimate(&config.estimator)
    }

    /// How sure the policy is that its budget succeeds (see [`BudgetState::confidence`]).
    pub fn confidence(&self, config: &PolicyConfig) -> f64 {
        self.budget.confidence(&config.budget)
    }

    /// The arms as named views, best first (ties in canonical order, flagged).
    pub fn ranked_arms(&self, names: &[String]) -> Vec<ArmView> {
        rank_arms(&self.arms, names)
    }
}

/// Names and ranks `arms` (indexed like `names`) best first, for display.
pub fn rank_arms(arms: &Arms, names: &[String]) -> Vec<ArmView> {
    crate::decision::view_order(arms)
        .into_iter()
        .map(|(i, tied)| {
            let arm = arms.arms()[i];
            ArmView {
                module: names.get(i).cloned().unwrap_or_default(),
                score: arm.score(),
                pulls: arm.pulls,
                answered: arm.answered,
                tied,
            }
        })
        .collect()
}

/// One module's credit as shown to callers. While a module set's own arms have fewer than
/// [`crate::advice::LOAN_ARMS_UNTIL`] pulls behind them, the advice for it ranks
/// with what sibling sets lend added to them (the reason says so), and so do these figures;
/// its checkpoint shows its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmView {
    /// Module name.
    pub module: String,
    /// Posterior mean of "a call to it answers" (0.5 for a module never tried).
    pub score: f64,
    /// Decayed number of requests that called it: correct ones, and failed ones served by a
    /// decision that left it for another module (with a sibling's loan: see above).
    pub pulls: f64,
    /// Of them, those it answered (a shared credit counts half).
    pub answered: f64,
    /// Whether another module has exactly the same score (a decision breaks the tie at random;
    /// this view lists tied modules in canonical order).
    pub tied: bool,
}

/// A stored checkpoint as shown to callers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Intent class.
    pub intent: String,
    /// Module set, canonical (sorted) order.
    pub modules: Vec<String>,
    /// The budget decisions serve when they do not explore.
    pub budget: u32,
    /// OTC's optimal tool-call count, used to score trajectories; `null` until a correct
    /// trajectory exists.
    pub optimal_n: Option<u32>,
    /// Trajectories observed.
    pub samples: u64,
    /// Correct trajectories observed.
    pub correct_samples: u64,
    /// How sure the policy is that its budget succeeds, in `[0, 1)`.
    pub confidence: f64,
    /// The evidence behind the budget.
    pub evidence: BudgetEvidence,
    /// Arms ranked best first.
    pub arms: Vec<ArmView>,
    /// Latest trajectory timestamp folded in, Unix milliseconds.
    pub updated_ms: i64,
}

/// Where a recommendation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationSource {
    /// The checkpoint of exactly this (intent, module set).
    Exact,
    /// No evidence of its own: borrowed from the intent's module sets that share modules with
    /// it, in proportion to the overlap.
    IntentFallback,
    /// Nothing applies: the cold-start budget, every module untried.
    Unseen,
}

/// What the policy advises for a request (read-only: no exploration, nothing logged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Intent class asked about.
    pub intent: String,
    /// Module set asked about, canonical order.
    pub modules: Vec<String>,
    /// Tool-call budget; 0 means "answer without tools".
    pub budget: u32,
    /// How sure the policy is that the budget succeeds, in `[0, 1)`; discounted for a loan.
    pub confidence: f64,
    /// Where the advice came from.
    pub source: RecommendationSource,
    /// Why this budget, in a sentence.
    pub reason: String,
    /// The evidence behind the budget (of the exact combination; zero for a loan).
    pub evidence: BudgetEvidence,
    /// OTC's optimal `n`, the count trajectories are scored against (not the budget).
    pub optimal_n: Option<u32>,
    /// The modules ranked best first; empty when the budget is 0 (answer without tools).
    pub ranked: Vec<ArmView>,
}

#[cfg(test)]
#[path = "state_credit_tests.rs"]
mod credit_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::arms::Arm;

    /// A state whose budget is 3 with no probe running, and two modules with these arms.
    fn two_modules(a: (f64, f64), b: (f64, f64)) -> CombinationState {
        let arm = |(pulls, answered)| Arm { pulls, answered };
        let mut state = CombinationState::new(2);
        state.arms = Arms::from_parts(vec![arm(a), arm(b)]).unwrap();
        state.budget.current = Some(3);
        state.budget.since_probe = 7;
        // The budget's path is the module first now (none while they are tied).
        state.budget.led_by = state.arms.strict_top().map(|t| t as u8);
        state
    }

    /// Module 1 answers one correct request (an order exploration, so the budget itself only
    /// sees a regime change); returns whether it started a new regime (a probe, the wait reset).
    fn module_one_answers(state: &mut CombinationState) -> bool {
        let obs = Observation {
            calls: &[1],
            correct: true,
            r_cost: 0.0,
            timestamp_ms: 1,
            served: Some(4),
            policy_budget: Some(3),
            answered_by: Some(1),
            answered_at: None,
            order_explored: true,
        };
        state.observe(&obs, &PolicyConfig::default()).unwrap();
        let started = state.budget.probing;
        assert_eq!(
            started,
            state.budget.since_probe == 0,
            "probe and wait move together"
        );
        started
    }

    #[test]
    fn a_new_regime_needs_a_clear_overtake_or_a_useless_first_module() {
        // Scores (answered + 1) / (pulls + 2), before -> after one answer by module 1.
        // Module 0 at 0.50 is overtaken by 0.625: a margin over REGIME_MARGIN.
        assert!(module_one_answers(&mut two_modules(
            (100.0, 50.0),
            (0.2, 0.0)
        )));
        // Module 0 at 0.55 is overtaken by 0.625: a swap between two useful modules.
        assert!(!module_one_answers(&mut two_modules(
            (100.0, 55.0),
            (1.0, 0.5)
        )));
        // Module 0 at 0.40 (under USELESS_BELOW) is overtaken narrowly (0.48): it never helped.
        assert!(module_one_answers(&mut two_modules(
            (100.0, 40.0),
            (3.0, 0.9)
        )));
        // Module 0 at 0.40 stays first (module 1 rises to 0.31): no change of regime.
        assert!(!module_one_answers(&mut two_modules(
            (100.0, 40.0),
            (10.0, 2.0)
        )));
        // The first module ever to answer where none did.
        assert!(module_one_answers(&mut two_modules((0.0, 0.0), (0.0, 0.0))));
        // A first trajectory adopts its decision's budget, then probes below it.
        let mut fresh = two_modules((0.0, 0.0), (0.0, 0.0));
        fresh.budget.current = None;
        assert!(module_one_answers(&mut fresh));
        assert_eq!(fresh.budget.current, Some(3));
    }

    /// The trajectory that shows a new first module is folded in as the new order plays it:
    /// two calls to the module that never helped come off its budget, its calls and its
    /// answering call, so it is evidence for the level the budget dropped to.
    #[test]
    fn the_trajectory_that_changes_the_first_module_counts_without_its_wasted_calls() {
        let mut state = two_modules((100.0, 40.0), (3.0, 0.9));
        let obs = Observation {
            calls: &[0, 0, 1],
            correct: true,
            r_cost: 0.0,
            timestamp_ms: 1,
            served: Some(3),
            policy_budget: Some(3),
            answered_by: Some(1),
            answered_at: Some(3),
            order_explored: false,
        };
        state.observe(&obs, &PolicyConfig::default()).unwrap();
        assert_eq!(state.budget.led_by, Some(1));
        assert_eq!(
            state.budget.current,
            Some(1),
            "dropped by the two wasted calls"
        );
        let served_at = |k| state.budget.level(k).served;
        assert!(
            served_at(1) > 0.0,
            "served the new budget: {:?}",
            state.budget
        );
        assert_eq!(served_at(3), 0.0, "nothing recorded at the budget played");
        assert_eq!(state.budget.level(1).succeeded, served_at(1));
    }

    /// Regression (closed-loop trace, steady world, over-caller): a trajectory served a call
    /// more than the budget of 3 by exploration called a useless module twice, then the new
    /// first module twice. With that module first it needed 2 calls; the budget went to 3 - 2
    /// = 1, failed there, and climbed back.
    #[test]
    fn a_new_first_module_drops_the_budget_only_as_far_as_its_trajectory_shows() {
        let mut state = two_modules((100.0, 40.0), (3.0, 0.9));
        let obs = Observation {
            calls: &[0, 0, 1, 1],
            correct: true,
            r_cost: 0.0,
            timestamp_ms: 1,
            served: Some(4),
            policy_budget: Some(3),
            answered_by: None,
            answered_at: None,
            order_explored: false,
        };
        state.observe(&obs, &PolicyConfig::default()).unwrap();
        assert_eq!(state.budget.led_by, Some(1));
        assert_eq!(state.budget.current, Some(2), "{:?}", state.budget);
    }

    proptest! {
        /// Whatever trajectories arrive, the state stays in range: scores within the reward's
        /// interval, confidence in [0, 1), `n` one of the correct call counts seen, the budget
        /// within its limit, counts exact.
        #[test]
        fn observe_keeps_the_state_in_range(
            steps in proptest::collection::vec(
                (proptest::collection::vec(0u8..4, 0..12), any::<bool>(), 0.0f64..1.0),
                1..150,
            )
        ) {
            let config = PolicyConfig::default();
            let mut state = CombinationState::new(4);
            let mut correct_counts = Vec::new();
            for (calls, correct, r_cost) in &steps {
                let obs = Observation { calls, correct: *correct, r_cost: *r_cost, timestamp_ms: 1, served: Some(calls.len() as u32), policy_budget: None, answered_by: None, answered_at: None, order_explored: false };
                let score = state.observe(&obs, &config).unwrap();
                prop_assert!(score.composite >= -config.reward.beta() - 1e-12);
                prop_assert!(score.composite <= config.reward.alpha() + 1e-12);
                if *correct {
                    correct_counts.push(calls.len() as u32);
                    prop_assert!(score.optimal.is_some());
                }
            }
            prop_assert_eq!(state.samples, steps.len() as u64);
            prop_assert_eq!(state.correct_samples, correct_counts.len() as u64);
            let confidence = state.confidence(&config);
            prop_assert!((0.0..1.0).contains(&confidence));
            prop_assert!(state.budget.policy_budget(&config.budget) <= config.budget.max_budget);
            if let Some(n) = state.optimal_n(&config) {
                prop_assert!(correct_counts.contains(&n));
            }
            let names: Vec<String> = ["a", "b", "c", "d"].map(String::from).into();
            let ranked = state.ranked_arms(&names);
            // Every module once, best first.
            let mut listed: Vec<String> = ranked.iter().map(|a| a.module.clone()).collect();
            listed.sort();
            prop_assert_eq!(listed, names);
            prop_assert!(ranked.windows(2).all(|w| w[0].score >= w[1].score));
            for arm in ranked {
                prop_assert!(arm.score > 0.0 && arm.score < 1.0);
                prop_assert!(arm.answered <= arm.pulls + 1e-9);
            }
        }
    }
}
