//! Per-module bandit arms of one (intent, module set): decayed mean composite reward, pull count,
//! and the UCB1 score used to rank modules. Pure arithmetic, no I/O.
//!
//! A trajectory pulls each *distinct* module it called once, with the trajectory's composite
//! reward (a module called three times in one request did not earn three rewards). Arms forget at
//! the same per-observation rate as the `n` estimator (see [`crate::estimate`]).
//!
//! UCB1: `ucb_i = mean_i + range · sqrt(2 ln N / n_i)`, where `N` is the decayed number of
//! trajectories of the combination, `n_i` the decayed pulls of arm `i` and `range = α + β` the
//! width of the composite reward's interval `[−β, α]`, so the bonus is in the reward's own units.
//! An arm never pulled has no mean and an infinite score: it is ranked first, because nothing is
//! known about it.

use serde::{Deserialize, Serialize};

/// One arm's sufficient statistics: decayed reward sum and decayed pull count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// Decayed sum of composite rewards.
    pub reward_sum: f64,
    /// Decayed number of pulls (0 = never pulled, or forgotten).
    pub pulls: f64,
}

impl Arm {
    /// Mean reward, `None` for an unpulled arm.
    pub fn mean(&self) -> Option<f64> {
        (self.pulls > 0.0).then(|| self.reward_sum / self.pulls)
    }

    /// UCB1 score, `None` for an unpulled arm (ranked before any pulled arm).
    pub fn ucb(&self, total: f64, range: f64) -> Option<f64> {
        let mean = self.mean()?;
        let log_total = total.max(1.0).ln();
        Some(mean + range * (2.0 * log_total / self.pulls).sqrt())
    }
}

/// The arms of a module set, indexed like the set's canonical order, plus the decayed
/// trajectory count `N`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arms {
    arms: Vec<Arm>,
    total: f64,
}

impl Arms {
    /// Fresh arms for a set of `modules` modules.
    pub fn new(modules: usize) -> Self {
        Self {
            arms: vec![Arm::default(); modules],
            total: 0.0,
        }
    }

    /// Rebuilds arms from stored parts; `None` if any number is negative or not finite.
    pub fn from_parts(arms: Vec<Arm>, total: f64) -> Option<Self> {
        let ok = total.is_finite()
            && total >= 0.0
            && arms
                .iter()
                .all(|a| a.reward_sum.is_finite() && a.pulls.is_finite() && a.pulls >= 0.0);
        ok.then_some(Self { arms, total })
    }

    /// The arms in canonical module order.
    pub fn arms(&self) -> &[Arm] {
        &self.arms
    }

    /// Decayed number of trajectories `N`.
    pub fn total(&self) -> f64 {
        self.total
    }

    /// Forgets: multiplies every statistic by `factor`; an arm whose pulls fall below
    /// [`crate::estimate::PRUNE_WEIGHT`] is reset to unpulled.
    pub fn decay(&mut self, factor: f64) {
        if factor == 1.0 {
            return;
        }
        self.total *= factor;
        for arm in &mut self.arms {
            arm.reward_sum *= factor;
            arm.pulls *= factor;
            if arm.pulls < crate::estimate::PRUNE_WEIGHT {
                *arm = Arm::default();
            }
        }
    }

    /// Records one trajectory with reward `reward` that called the modules at `called` (indices,
    /// repeats allowed; each distinct index is pulled once).
    pub fn record(&mut self, called: &[u8], reward: f64) {
        self.total += 1.0;
        let mut seen = [false; 256];
        for &index in called {
            let i = usize::from(index);
            if seen[i] {
                continue;
            }
            seen[i] = true;
            if let Some(arm) = self.arms.get_mut(i) {
                arm.reward_sum += reward;
                arm.pulls += 1.0;
            }
        }
    }

    /// Arm indices ranked best first: unpulled arms first (in canonical order), then by UCB score
    /// descending, ties broken by canonical order.
    pub fn ranking(&self, range: f64) -> Vec<(usize, Option<f64>)> {
        let mut ranked: Vec<(usize, Option<f64>)> = self
            .arms
            .iter()
            .enumerate()
            .map(|(i, arm)| (i, arm.ucb(self.total, range)))
            .collect();
        ranked.sort_by(|a, b| match (a.1, b.1) {
            (None, None) => a.0.cmp(&b.0),
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => y.total_cmp(&x).then(a.0.cmp(&b.0)),
        });
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpulled_arms_come_first_then_ucb() {
        let mut arms = Arms::new(3);
        for _ in 0..10 {
            arms.record(&[0], 0.2);
            arms.record(&[1, 1], 0.9);
        }
        let order: Vec<usize> = arms.ranking(1.1).into_iter().map(|(i, _)| i).collect();
        assert_eq!(order, vec![2, 1, 0]);
        assert_eq!(arms.arms()[1].pulls, 10.0, "a repeated module is one pull");
        assert!((arms.arms()[1].mean().unwrap() - 0.9).abs() < 1e-12);
    }

    #[test]
    fn the_bonus_shrinks_with_pulls_and_scales_with_the_range() {
        let few = Arm {
            reward_sum: 0.5,
            pulls: 1.0,
        };
        let many = Arm {
            reward_sum: 50.0,
            pulls: 100.0,
        };
        assert!(few.ucb(200.0, 1.1).unwrap() > many.ucb(200.0, 1.1).unwrap());
        assert!(few.ucb(200.0, 2.0).unwrap() > few.ucb(200.0, 1.0).unwrap());
        assert_eq!(Arm::default().ucb(10.0, 1.0), None);
    }

    #[test]
    fn decay_forgets_until_unpulled() {
        let mut arms = Arms::new(1);
        arms.record(&[0], 1.0);
        for _ in 0..2000 {
            arms.decay(0.995);
        }
        assert_eq!(arms.arms()[0], Arm::default());
    }
}
