//! A deterministic synthetic world of trajectories with a known truth, for tests, benches and
//! demos: each intent has a true optimal call count and each module a known payoff. It is an
//! open-loop log (nobody followed the policy's advice); the closed loop is in
//! [`crate::simulate`]. Pure: a seeded SplitMix64 generator, no I/O, no clock.
//!
//! The world's rules, per trajectory of an intent with optimal count `n`:
//! * the call count `m` is drawn uniformly from `[n − 2, n + 3]` (floored at 0);
//! * each call picks a module of the set uniformly;
//! * with `m < n` the answer is correct only by luck ([`LUCKY`]), which is exactly the outlier
//!   the estimator must resist; with `m >= n` it is correct with the payoff of the module of the
//!   last call, the one whose result the agent answered with (payoff 1 when `m = n = 0`);
//! * run-units are `m` times the intent's unit cost.

use crate::trajectory::Trajectory;

/// Probability that a trajectory with too few calls is correct anyway.
pub const LUCKY: f64 = 0.01;

/// SplitMix64: tiny, fast, and good enough for fixtures.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

/// One intent of the world.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentSpec {
    /// Intent name.
    pub name: String,
    /// True optimal call count.
    pub optimal: u32,
    /// Modules available and their payoff (probability of helping to a correct answer).
    pub modules: Vec<(String, f64)>,
    /// Run-units per call.
    pub unit_cost: f64,
}

impl IntentSpec {
    /// The module with the highest payoff.
    pub fn best_module(&self) -> &str {
        self.modules
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or("", |m| m.0.as_str())
    }

    /// The module names.
    pub fn module_names(&self) -> Vec<String> {
        self.modules.iter().map(|m| m.0.clone()).collect()
    }
}

/// A world: several intents, each with its own truth.
#[derive(Debug, Clone, PartialEq)]
pub struct World {
    /// The intents.
    pub intents: Vec<IntentSpec>,
}

impl World {
    /// `intents` intents with optimal counts cycling through 1..=5 and four modules each whose
    /// best payoff is clearly ahead (0.95 against at most 0.35), its position varying by intent.
    pub fn standard(intents: usize) -> Self {
        let payoffs = [0.95, 0.35, 0.2, 0.1];
        let intents = (0..intents)
            .map(|i| {
                let modules = (0..4)
                    .map(|j| (format!("mod-{i}-{j}"), payoffs[(j + i) % 4]))
                    .collect();
                IntentSpec {
                    name: format!("intent-{i}"),
                    optimal: (i % 5) as u32 + 1,
                    modules,
                    unit_cost: 1.0 + (i % 3) as f64,
                }
            })
            .collect();
        Self { intents }
    }

    /// `count` trajectories, intents interleaved at random, ids `"{prefix}-{k}"`, timestamps
    /// one millisecond apart from `start_ms`.
    pub fn trajectories(
        &self,
        count: usize,
        seed: u64,
        prefix: &str,
        start_ms: i64,
    ) -> Vec<Trajectory> {
        let mut rng = Rng::new(seed);
        (0..count)
            .map(|k| {
                let spec = &self.intents[rng.below(self.intents.len() as u64) as usize];
                let low = spec.optimal.saturating_sub(2);
                let m = low + rng.below(u64::from(spec.optimal + 3 - low + 1)) as u32;
                let picks: Vec<usize> = (0..m)
                    .map(|_| rng.below(spec.modules.len() as u64) as usize)
                    .collect();
                let p_correct = if m < spec.optimal {
                    LUCKY
                } else {
                    picks.last().map_or(1.0, |&i| spec.modules[i].1)
                };
                let correct = rng.unit() < p_correct;
                Trajectory {
                    request_id: format!("{prefix}-{k}"),
                    intent: spec.name.clone(),
                    modules: spec.module_names(),
                    calls: picks.iter().map(|&i| spec.modules[i].0.clone()).collect(),
                    run_units: f64::from(m) * spec.unit_cost,
                    correct,
                    latency_ms: 50.0 + 100.0 * f64::from(m),
                    timestamp_ms: start_ms + k as i64,
                    decision_id: None,
                    answered_by: None,
                    answered_at: None,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_is_deterministic_and_valid() {
        let world = World::standard(5);
        let a = world.trajectories(500, 7, "t", 1_700_000_000_000);
        assert_eq!(a, world.trajectories(500, 7, "t", 1_700_000_000_000));
        for t in &a {
            assert_eq!(t.validate(1_700_000_000_000), Ok(()));
        }
        assert_eq!(world.intents[0].best_module(), "mod-0-0");
        assert_eq!(world.intents[1].best_module(), "mod-1-3");
    }
}
