//! The learnt state of one (intent, module set) and how one trajectory updates it. Pure: the
//! store's incremental ingest and its rebuild both call [`CombinationState::observe`] in
//! trajectory-log order, which is why a rebuild reproduces the incremental checkpoint exactly.

use crate::arms::Arms;
use crate::config::PolicyConfig;
use crate::estimate::CallHistogram;
use crate::reward::{Score, score};
use serde::{Deserialize, Serialize};

/// Everything a checkpoint remembers about one (intent, module set).
#[derive(Debug, Clone, PartialEq)]
pub struct CombinationState {
    /// Trajectories observed (not decayed).
    pub samples: u64,
    /// Correct trajectories observed (not decayed).
    pub correct_samples: u64,
    /// Decayed call counts of correct trajectories.
    pub hist: CallHistogram,
    /// Per-module bandit arms.
    pub arms: Arms,
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
}

impl CombinationState {
    /// The state of a combination never seen, for a set of `modules` modules.
    pub fn new(modules: usize) -> Self {
        Self {
            samples: 0,
            correct_samples: 0,
            hist: CallHistogram::default(),
            arms: Arms::new(modules),
            updated_ms: 0,
        }
    }

    /// Folds one trajectory in and returns its score.
    ///
    /// Order: forget (decay), learn `n` from this trajectory if it is correct, score it against
    /// the updated `n` (so a correct trajectory always has an `n`, the reward's precondition),
    /// then credit the modules it called with the composite.
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
        self.arms.record(obs.calls, scored.composite);
        self.samples += 1;
        self.correct_samples += u64::from(obs.correct);
        self.updated_ms = self.updated_ms.max(obs.timestamp_ms);
        Ok(scored)
    }

    /// The current estimate of `n`.
    pub fn optimal_n(&self, config: &PolicyConfig) -> Option<u32> {
        self.hist.estimate(&config.estimator)
    }

    /// The confidence figure of the estimate.
    pub fn confidence(&self, config: &PolicyConfig) -> f64 {
        self.hist.confidence(&config.estimator)
    }

    /// The arms as named views, ranked best first.
    pub fn ranked_arms(&self, names: &[String], config: &PolicyConfig) -> Vec<ArmView> {
        rank_arms(&self.arms, names, config.reward_range())
    }
}

/// Names and ranks `arms` (indexed like `names`) best first; `range` scales the UCB bonus.
pub fn rank_arms(arms: &Arms, names: &[String], range: f64) -> Vec<ArmView> {
    arms.ranking(range)
        .into_iter()
        .map(|(i, ucb)| {
            let arm = arms.arms()[i];
            ArmView {
                module: names.get(i).cloned().unwrap_or_default(),
                mean: arm.mean(),
                pulls: arm.pulls,
                ucb,
            }
        })
        .collect()
}

/// One module's arm as shown to callers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmView {
    /// Module name.
    pub module: String,
    /// Decayed mean composite reward; `null` if never pulled.
    pub mean: Option<f64>,
    /// Decayed pull count.
    pub pulls: f64,
    /// UCB1 score; `null` if never pulled (such arms are ranked first: explore them).
    pub ucb: Option<f64>,
}

/// A stored checkpoint as shown to callers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Intent class.
    pub intent: String,
    /// Module set, canonical (sorted) order.
    pub modules: Vec<String>,
    /// Estimated optimal tool-call count; `null` until a correct trajectory exists.
    pub optimal_n: Option<u32>,
    /// Trajectories observed.
    pub samples: u64,
    /// Correct trajectories observed.
    pub correct_samples: u64,
    /// Confidence in `optimal_n`, in `[0, 1)`.
    pub confidence: f64,
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
    /// Never seen with this module set: pooled from the intent's other module sets.
    IntentFallback,
    /// The intent was never seen: no budget, every module unexplored.
    Unseen,
}

/// What the policy advises for a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Intent class asked about.
    pub intent: String,
    /// Module set asked about, canonical order.
    pub modules: Vec<String>,
    /// Tool-call budget (the estimated optimal `n`); `null` when unknown.
    pub budget: Option<u32>,
    /// Confidence in the budget, in `[0, 1)`; discounted for a fallback.
    pub confidence: f64,
    /// Where the advice came from.
    pub source: RecommendationSource,
    /// The requested modules ranked best first by UCB (unexplored first).
    pub ranked: Vec<ArmView>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever trajectories arrive, the state stays in range: means within the reward's
        /// interval, confidence in [0, 1), `n` one of the correct call counts seen, counts exact.
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
                let obs = Observation { calls, correct: *correct, r_cost: *r_cost, timestamp_ms: 1 };
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
            if let Some(n) = state.optimal_n(&config) {
                prop_assert!(correct_counts.contains(&n));
            }
            for arm in state.ranked_arms(&["a".into(), "b".into(), "c".into(), "d".into()], &config) {
                if let Some(mean) = arm.mean {
                    prop_assert!(mean >= -config.reward.beta() - 1e-9 && mean <= config.reward.alpha() + 1e-9);
                }
            }
        }
    }
}
