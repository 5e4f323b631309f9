//! [`Summary`]: the targets of `otc simulate` over several seeds of one scenario (accuracy
//! against the fixed budget, call saving against the oracle, convergence, drift, module
//! ranking, downward exploration).

use super::report::{RunReport, Totals};
use serde::Serialize;

/// The targets of a set of runs of one scenario, over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Runs summarised.
    pub runs: usize,
    /// Policy accuracy minus fixed-budget accuracy, pooled over runs (points are × 100).
    pub accuracy_delta: f64,
    /// The policy's call saving as a fraction of the oracle's, pooled over runs.
    pub saving_vs_oracle: f64,
    /// Median trajectories to converge, over every combination of every run (a combination
    /// that never converged counts as the run's length).
    pub median_convergence: f64,
    /// Fraction of runs in which every combination converged within `within` trajectories.
    pub runs_all_within: f64,
    /// The most combinations of one run that did not converge within `within` trajectories.
    pub worst_run_misses: usize,
    /// The bound used for the two figures above.
    pub within: usize,
    /// Lowest fraction of non-exploration decisions at `n*` after convergence.
    pub min_stays: f64,
    /// Largest number of trajectories taken to follow a drift (`None`: no drift, or never).
    pub max_drift_follow: Option<usize>,
    /// Drifts never followed.
    pub drifts_missed: usize,
    /// Largest number of trajectories until the helpful module stayed first.
    pub max_helpful_first: Option<usize>,
    /// Lowest fraction of the last 100 decisions with the helpful module first.
    pub min_top_right: f64,
    /// Fraction of decisions that served a budget below the policy's.
    pub explored_down: f64,
}

impl Summary {
    /// Summarises `runs`, counting convergence within `within` trajectories.
    pub fn of(runs: &[RunReport], within: usize) -> Self {
        let mut fixed = Totals::default();
        let mut oracle = Totals::default();
        let mut policy = Totals::default();
        let mut convergence = Vec::new();
        let mut all_within = 0;
        let mut worst_run_misses = 0;
        let mut min_stays: f64 = 1.0;
        let mut max_drift_follow = None;
        let mut drifts_missed = 0;
        let mut max_helpful_first: Option<usize> = None;
        let mut min_top_right: f64 = 1.0;
        let mut down = 0.0;
        let mut decisions = 0.0;
        for run in runs {
            let (f, o, p) = run.totals();
            fixed = fixed.plus(&f);
            oracle = oracle.plus(&o);
            policy = policy.plus(&p);
            let mut misses = 0;
            for c in &run.combos {
                let t = c.converged_at.unwrap_or(c.policy.requests as usize);
                convergence.push(t);
                if t > within {
                    misses += 1;
                }
                if let Some(stays) = c.stays {
                    min_stays = min_stays.min(stays);
                }
                if c.drift_to.is_some() {
                    match c.followed_drift_in {
                        Some(t) => max_drift_follow = max_drift_follow.max(Some(t)),
                        None => drifts_missed += 1,
                    }
                }
                if c.optimal > 0 || c.drift_to.is_some() {
                    let t = c.helpful_first_at.unwrap_or(c.policy.requests as usize);
                    max_helpful_first = max_helpful_first.max(Some(t));
                }
                if let Some(top) = c.top_right_last_100 {
                    min_top_right = min_top_right.min(top);
                }
                down += c.explored_down * c.policy.requests as f64;
                decisions += c.policy.requests as f64;
            }
            all_within += usize::from(misses == 0);
            worst_run_misses = worst_run_misses.max(misses);
        }
        convergence.sort_unstable();
        let median = match convergence.len() {
            0 => 0.0,
            n if n % 2 == 1 => convergence[n / 2] as f64,
            n => (convergence[n / 2 - 1] + convergence[n / 2]) as f64 / 2.0,
        };
        let oracle_saving = fixed.calls as f64 - oracle.calls as f64;
        Self {
            runs: runs.len(),
            accuracy_delta: policy.accuracy() - fixed.accuracy(),
            saving_vs_oracle: if oracle_saving > 0.0 {
                (fixed.calls as f64 - policy.calls as f64) / oracle_saving
            } else {
                1.0
            },
            median_convergence: median,
            runs_all_within: all_within as f64 / runs.len().max(1) as f64,
            worst_run_misses,
            within,
            min_stays,
            max_drift_follow,
            drifts_missed,
            max_helpful_first,
            min_top_right,
            explored_down: down / decisions.max(1.0),
        }
    }

    /// The summary as text lines.
    pub fn text(&self) -> String {
        let opt = |v: Option<usize>| v.map_or("-".to_owned(), |t| t.to_string());
        format!(
            "over {}: accuracy {:+.2} points against the fixed budget; call saving {:.1}% of the oracle's\n\
             convergence (from then on at least 99.5% of non-exploration decisions at n*): median {:.0} trajectories; \
             every combination within {} on {:.0}% of runs (worst run: {} missed); lowest share after convergence {:.2}%\n\
             drift followed within {} trajectories ({} missed); helpful module first within {}; \
             top module right on at least {:.0}% of the last 100 decisions; budget explored down on {:.2}% of decisions\n",
            if self.runs == 1 {
                "1 run".to_owned()
            } else {
                format!("{} runs", self.runs)
            },
            self.accuracy_delta * 100.0,
            self.saving_vs_oracle * 100.0,
            self.median_convergence,
            self.within,
            self.runs_all_within * 100.0,
            self.worst_run_misses,
            self.min_stays * 100.0,
            opt(self.max_drift_follow),
            self.drifts_missed,
            opt(self.max_helpful_first),
            self.min_top_right * 100.0,
            self.explored_down * 100.0,
        )
    }
}
