//! Estimation of the optimal tool-call count `n` of one (intent, module set) from the call counts
//! of its correct trajectories. Pure arithmetic, no I/O.
//!
//! # The rule
//!
//! OTC defines `n` as the fewest calls with which the request can be answered correctly, i.e. the
//! minimum call count among correct trajectories. Taken literally, one lucky trajectory that got
//! the right answer with too few calls would set `n` forever. Two guards:
//!
//! * **Outlier guard (a supported low quantile).** Each correct trajectory adds weight 1 at its
//!   call count. `n` is the smallest count `m` whose cumulative weight (of counts `<= m`) reaches
//!   `max(min_support, quantile · W)`, capped at `W` (the total correct weight). With the defaults
//!   (`min_support = 3`, `quantile = 0.05`) a count must be backed by at least three correct
//!   trajectories (and by 5 % of the correct weight once there are many) before it can become
//!   `n`. While fewer than `min_support` correct trajectories exist the cap makes `n` the largest
//!   count seen, which is the cautious choice: a budget too large wastes calls, one too small
//!   fails requests.
//! * **Forgetting (exponential decay per observation).** Every new trajectory of the combination,
//!   correct or not, first multiplies all existing weights by `decay` (default 0.995: a half-life
//!   of about 138 trajectories of that combination), and weights that fall below
//!   [`PRUNE_WEIGHT`] are dropped. Behaviour that stopped happening fades, so a module set whose
//!   tools got better (or worse) is re-learnt. Decay counts observations, not wall-clock time, so
//!   it needs no clock and replaying the log in order gives bit-identical results.
//!
//! `n` is unknown (`None`) until a correct trajectory exists, and becomes unknown again if every
//! correct observation has been forgotten.

use serde::{Deserialize, Serialize};

/// Weights below this are dropped, which keeps the histogram (and the checkpoint) small.
pub const PRUNE_WEIGHT: f64 = 1e-3;

/// The knobs of the estimator and of forgetting (shared with the bandit arms).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EstimatorConfig {
    /// Per-observation decay factor in `(0, 1]`; 1 never forgets.
    pub decay: f64,
    /// Correct weight a call count needs behind it before it can become `n`.
    pub min_support: f64,
    /// Fraction of the total correct weight a call count needs behind it, in `[0, 1]`.
    pub quantile: f64,
    /// Correct weight at which the confidence figure reaches 0.5.
    pub confidence_half: f64,
}

impl Default for EstimatorConfig {
    fn default() -> Self {
        Self {
            decay: 0.995,
            min_support: 3.0,
            quantile: 0.05,
            confidence_half: 10.0,
        }
    }
}

impl EstimatorConfig {
    /// Whether every knob is in range (finite, decay in `(0, 1]`, quantile in `[0, 1]`, others `>= 0`/`> 0`).
    pub fn is_valid(&self) -> bool {
        self.problems().is_empty()
    }

    /// Every knob out of its range: the knob (as a config file names it) and what is wrong.
    pub fn problems(&self) -> Vec<(Vec<&'static str>, String)> {
        let checks = [
            (
                "decay",
                self.decay,
                self.decay.is_finite() && self.decay > 0.0 && self.decay <= 1.0,
                "in (0, 1]",
            ),
            (
                "min_support",
                self.min_support,
                self.min_support.is_finite() && self.min_support >= 0.0,
                "finite and >= 0",
            ),
            (
                "quantile",
                self.quantile,
                self.quantile.is_finite() && (0.0..=1.0).contains(&self.quantile),
                "in [0, 1]",
            ),
            (
                "confidence_half",
                self.confidence_half,
                self.confidence_half.is_finite() && self.confidence_half > 0.0,
                "finite and > 0",
            ),
        ];
        checks
            .into_iter()
            .filter(|&(_, _, ok, _)| !ok)
            .map(|(knob, value, _, range)| {
                (vec![knob], format!("`{knob}` {value} must be {range}"))
            })
            .collect()
    }
}

/// Decayed weights of correct trajectories by call count, sorted by call count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallHistogram {
    bins: Vec<(u32, f64)>,
}

impl CallHistogram {
    /// Builds a histogram from stored bins; `None` if they are unsorted, duplicated or not
    /// finite positive weights (a corrupt checkpoint).
    pub fn from_bins(bins: Vec<(u32, f64)>) -> Option<Self> {
        let sorted = bins.windows(2).all(|w| w[0].0 < w[1].0);
        let finite = bins.iter().all(|&(_, w)| w.is_finite() && w > 0.0);
        (sorted && finite).then_some(Self { bins })
    }

    /// The bins `(calls, weight)`, sorted by calls.
    pub fn bins(&self) -> &[(u32, f64)] {
        &self.bins
    }

    /// Multiplies every weight by `factor` and drops those below [`PRUNE_WEIGHT`].
    pub fn decay(&mut self, factor: f64) {
        if factor == 1.0 {
            return;
        }
        for bin in &mut self.bins {
            bin.1 *= factor;
        }
        self.bins.retain(|&(_, w)| w >= PRUNE_WEIGHT);
    }

    /// Adds one correct trajectory that made `calls` calls.
    pub fn add(&mut self, calls: u32) {
        match self.bins.binary_search_by_key(&calls, |&(c, _)| c) {
            Ok(i) => self.bins[i].1 += 1.0,
            Err(i) => self.bins.insert(i, (calls, 1.0)),
        }
    }

    /// Total correct weight `W` (summed in bin order, so it is reproducible bit for bit).
    pub fn total(&self) -> f64 {
        self.bins.iter().map(|&(_, w)| w).sum()
    }

    /// The optimal call count under the rule of the module docs, `None` when nothing correct is
    /// remembered.
    pub fn estimate(&self, config: &EstimatorConfig) -> Option<u32> {
        let total = self.total();
        if total <= 0.0 {
            return None;
        }
        let needed = config.min_support.max(config.quantile * total).min(total);
        let mut cumulative = 0.0;
        for &(calls, weight) in &self.bins {
            cumulative += weight;
            if cumulative >= needed {
                return Some(calls);
            }
        }
        // Rounding can leave the running sum a hair under `total`; the last bin then holds it.
        self.bins.last().map(|&(calls, _)| calls)
    }

    /// Confidence in the estimate, in `[0, 1)`: `W / (W + confidence_half)`, 0 when unknown.
    pub fn confidence(&self, config: &EstimatorConfig) -> f64 {
        let total = self.total();
        if total <= 0.0 {
            0.0
        } else {
            total / (total + config.confidence_half)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hist(counts: &[u32]) -> CallHistogram {
        let mut h = CallHistogram::default();
        for &c in counts {
            h.add(c);
        }
        h
    }

    #[test]
    fn unknown_until_something_correct() {
        let cfg = EstimatorConfig::default();
        assert_eq!(CallHistogram::default().estimate(&cfg), None);
        assert_eq!(CallHistogram::default().confidence(&cfg), 0.0);
        assert_eq!(hist(&[4]).estimate(&cfg), Some(4));
    }

    #[test]
    fn one_lucky_outlier_does_not_set_n() {
        let cfg = EstimatorConfig::default();
        // One request got lucky with a single call; the rest needed three.
        let mut counts = vec![1];
        counts.extend(std::iter::repeat_n(3, 20));
        counts.extend(std::iter::repeat_n(5, 20));
        assert_eq!(hist(&counts).estimate(&cfg), Some(3));
        // With few observations the cautious largest count is used.
        assert_eq!(hist(&[1, 3]).estimate(&cfg), Some(3));
    }

    #[test]
    fn old_behaviour_is_forgotten() {
        let cfg = EstimatorConfig::default();
        let mut h = hist(&[2; 50]);
        assert_eq!(h.estimate(&cfg), Some(2));
        // The combination changed: two calls no longer suffice, three do.
        let mut steps = 0;
        while h.estimate(&cfg) != Some(3) {
            h.decay(cfg.decay);
            h.add(3);
            steps += 1;
            assert!(steps < 2000, "never forgot");
        }
        assert!(steps > 50, "forgot too fast: {steps}");
    }

    #[test]
    fn the_quantile_raises_the_support_needed_once_there_are_many() {
        let cfg = EstimatorConfig::default();
        // 4 lucky one-call answers out of 100: above min_support (3) but under 5 % of the
        // weight (5), so they do not set n.
        let mut counts = vec![1; 4];
        counts.extend(std::iter::repeat_n(2, 96));
        assert_eq!(hist(&counts).estimate(&cfg), Some(2));
        // Two more make them 6 of 102, past 5 % (5.1): now they do.
        counts.extend([1, 1]);
        assert_eq!(hist(&counts).estimate(&cfg), Some(1));
        // With the quantile off, min_support alone decides.
        let support_only = EstimatorConfig {
            quantile: 0.0,
            ..cfg
        };
        assert_eq!(
            hist(&[1, 1, 1, 2, 2, 2, 2]).estimate(&support_only),
            Some(1)
        );
        assert_eq!(hist(&[1, 1, 2, 2, 2, 2]).estimate(&support_only), Some(2));
    }

    #[test]
    fn confidence_is_half_at_confidence_half() {
        let cfg = EstimatorConfig::default();
        let h = hist(&[3; 10]);
        assert!((h.confidence(&cfg) - 0.5).abs() < 1e-12);
        assert!(hist(&[3; 30]).confidence(&cfg) > 0.74);
    }

    #[test]
    fn from_bins_accepts_sorted_positive_bins_only() {
        let ok = |bins: Vec<(u32, f64)>| CallHistogram::from_bins(bins).is_some();
        assert!(ok(vec![]));
        assert!(ok(vec![(0, PRUNE_WEIGHT)]));
        assert!(ok(vec![(1, 1.0), (2, 0.5), (7, 3.0)]));
        assert!(!ok(vec![(2, 1.0), (1, 1.0)]), "unsorted");
        assert!(!ok(vec![(2, 1.0), (2, 1.0)]), "duplicated");
        assert!(!ok(vec![(1, 1.0), (3, 1.0), (2, 1.0)]), "unsorted later");
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(!ok(vec![(1, 1.0), (2, bad)]), "weight {bad}");
            assert!(!ok(vec![(1, bad)]), "weight {bad}");
        }
        let h = CallHistogram::from_bins(vec![(1, 1.0), (4, 2.0)]).unwrap();
        assert_eq!(h.bins(), &[(1, 1.0), (4, 2.0)]);
        assert_eq!(h.total(), 3.0);
    }

    #[test]
    fn decay_drops_weights_below_the_prune_floor() {
        let mut h = CallHistogram::from_bins(vec![(1, PRUNE_WEIGHT * 1.5), (2, 1.0)]).unwrap();
        h.decay(1.0);
        assert_eq!(h.bins().len(), 2, "a factor of 1 changes nothing");
        h.decay(0.5);
        assert_eq!(h.bins(), &[(2, 0.5)]);
    }

    #[test]
    fn every_out_of_range_knob_makes_the_config_invalid() {
        let base = EstimatorConfig::default();
        assert!(base.is_valid());
        // The edges of each range are valid.
        for edge in [
            EstimatorConfig { decay: 1.0, ..base },
            EstimatorConfig {
                min_support: 0.0,
                ..base
            },
            EstimatorConfig {
                quantile: 0.0,
                ..base
            },
            EstimatorConfig {
                quantile: 1.0,
                ..base
            },
            EstimatorConfig {
                confidence_half: 1e-9,
                ..base
            },
        ] {
            assert!(edge.is_valid(), "{edge:?}");
        }
        let invalid = [
            EstimatorConfig { decay: 0.0, ..base },
            EstimatorConfig {
                decay: -0.5,
                ..base
            },
            EstimatorConfig {
                decay: 1.0 + 1e-9,
                ..base
            },
            EstimatorConfig {
                decay: f64::NAN,
                ..base
            },
            EstimatorConfig {
                decay: f64::INFINITY,
                ..base
            },
            EstimatorConfig {
                min_support: -1.0,
                ..base
            },
            EstimatorConfig {
                min_support: f64::NAN,
                ..base
            },
            EstimatorConfig {
                min_support: f64::INFINITY,
                ..base
            },
            EstimatorConfig {
                quantile: -0.01,
                ..base
            },
            EstimatorConfig {
                quantile: 1.01,
                ..base
            },
            EstimatorConfig {
                quantile: f64::NAN,
                ..base
            },
            EstimatorConfig {
                confidence_half: 0.0,
                ..base
            },
            EstimatorConfig {
                confidence_half: -1.0,
                ..base
            },
            EstimatorConfig {
                confidence_half: f64::NAN,
                ..base
            },
            EstimatorConfig {
                confidence_half: f64::INFINITY,
                ..base
            },
        ];
        for config in invalid {
            assert!(!config.is_valid(), "{config:?}");
        }
    }

    proptest! {
        #[test]
        fn the_estimate_is_an_observed_count(counts in proptest::collection::vec(0u32..50, 1..200)) {
            let cfg = EstimatorConfig::default();
            let h = hist(&counts);
            let n = h.estimate(&cfg).unwrap();
            prop_assert!(counts.contains(&n));
            prop_assert!(n >= *counts.iter().min().unwrap());
            let c = h.confidence(&cfg);
            prop_assert!((0.0..1.0).contains(&c));
        }
    }
}
