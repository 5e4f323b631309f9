//! The evaluation report: the candidate's estimated composite reward, accuracy and calls per
//! request (IPS, SNIPS and doubly robust, 95 % intervals) beside the logging policy's observed
//! values, or why no number can be given.
//!
//! Support: a candidate that puts probability on actions the log could not have taken (see
//! the module docs of [`super`]) is refused when that mass averages more than
//! [`MAX_UNSUPPORTED`] per round. Below, the estimates cover the supported part and every
//! interval is widened on both sides by the mean unsupported mass times the outcome's observed
//! range: the most the unseen actions could move the value (a worst-case bound, not a guess).

use super::EvaluateError;
use super::path::PathReport;
use crate::offpolicy::{self, Estimate, Evaluation, LoggedRound, OffPolicyError};
use serde::{Deserialize, Serialize};

/// Mean unsupported probability per round above which an evaluation is refused.
pub const MAX_UNSUPPORTED: f64 = 0.01;

/// Effective sample size below which the report says its intervals are not to be trusted.
pub const RELIABLE_ESS: f64 = 200.0;

/// One completed round, for every outcome at once: reward, accuracy (0/1), calls.
#[derive(Debug, Clone, Copy)]
pub(super) struct Round {
    pub(super) logged_propensity: f64,
    pub(super) target_probability: f64,
    pub(super) unsupported: UnsupportedMass,
    pub(super) outcome: [f64; 3],
    pub(super) model_logged: [f64; 3],
    pub(super) model_target: [f64; 3],
}

/// Probability a candidate puts on actions the log could not have taken, by where it went:
/// budgets below every one the logging policy could serve in that context, above every one,
/// or a module first that it could not serve first (at a budget it could). One round's, or
/// the mean per round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UnsupportedMass {
    /// On budgets below every one the log could serve.
    pub below: f64,
    /// On budgets above every one the log could serve.
    pub above: f64,
    /// On a module first that the log could not serve first.
    pub order: f64,
}

impl UnsupportedMass {
    /// All of it.
    pub fn total(&self) -> f64 {
        self.below + self.above + self.order
    }

    /// The refusal's message: how much, where it went, what usually puts it there, and the
    /// budget knobs the candidate changed (`changed`).
    pub(super) fn refusal(&self, rounds: usize, max_mass: f64, changed: &[String]) -> String {
        let shown = |mass: f64| mass > offpolicy::SUPPORT_TOLERANCE;
        let mut kinds = Vec::new();
        if shown(self.below) {
            kinds.push(format!(
                "{:.2}% of its probability per decision on budgets below any the log could \
                 serve there (it is capped lower, comes down sooner or probes the level below \
                 more often: e.g. max_budget, tolerance, probe_after, explore_down; only the \
                 logging policy's own probes show what a lower budget does)",
                self.below * 100.0
            ));
        }
        if shown(self.above) {
            kinds.push(format!(
                "{:.2}% on budgets above any the log could serve there (it climbs sooner, \
                 starts higher or explores up more: e.g. climb_below, tolerance, cold_start, \
                 explore_up, explore_up_undecided)",
                self.above * 100.0
            ));
        }
        if shown(self.order) {
            kinds.push(format!(
                "{:.2}% on a module first that the log could not serve first there (it ranks \
                 the modules otherwise or explores the order more: e.g. explore_order)",
                self.order * 100.0
            ));
        }
        let changed = if changed.is_empty() {
            "its budget knobs are the logging config's".to_owned()
        } else {
            format!(
                "its budget knobs that differ from the logging config's: {} (a knob a \
                 candidate leaves out takes its default, not the logged value)",
                changed.join(", ")
            )
        };
        format!(
            "the log does not support the candidate: at {rounds} of the logged decisions it \
             would take actions the logging policy could not have taken there (up to {:.1}% \
             of its probability at one): {}; {changed}; to evaluate it, narrow the change, or \
             first log decisions under a config that explores those actions",
            max_mass * 100.0,
            kinds.join("; ")
        )
    }
}

/// One outcome: the logging policy's observed mean and the candidate's estimates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The mean observed under the logging policy, with its 95 % interval.
    pub logged: Estimate,
    /// The candidate's estimates (IPS, SNIPS, doubly robust) with their 95 % intervals,
    /// which include [`Self::path_sd`].
    pub candidate: Evaluation,
    /// The standard deviation the candidate's own run adds to its value: its own draws of
    /// an action where it explores, and when its budget would have moved on its own probes'
    /// evidence, which the log cannot say (see `evaluate::path`). 0 when it never explores
    /// and its budget never moved on such evidence.
    #[serde(default)]
    pub path_sd: f64,
}

/// The three outcomes of a request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Outcomes {
    /// Composite reward (the logged OTC reward).
    pub reward: Metric,
    /// Share of correct requests.
    pub accuracy: Metric,
    /// Tool calls per request.
    pub calls: Metric,
}

/// What a candidate would have done on the logged traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    /// Logged decisions in scope.
    pub decisions: u64,
    /// Of them, those whose trajectory arrived: the rounds evaluated on.
    pub rounds: u64,
    /// Decisions in scope that never got a trajectory (left out).
    pub unanswered: u64,
    /// Decisions whose logged propensity the replay of the logging policy did not reproduce
    /// (0 when the log was produced the way it is replayed).
    pub replay_mismatches: u64,
    /// `(Σw)² / Σw²`: how many rounds the weighted estimates are worth.
    pub effective_sample_size: f64,
    /// The largest importance weight.
    pub max_weight: f64,
    /// Mean probability per round the candidate puts on actions the log could not have taken.
    pub unsupported_mass: f64,
    /// The estimates.
    pub outcomes: Outcomes,
    /// What to keep in mind when reading the numbers.
    pub notes: Vec<String>,
}

/// `estimate` with an independent error of standard deviation `sd` added to its interval.
fn add_spread(estimate: Estimate, sd: f64) -> Estimate {
    let extra = offpolicy::Z_95 * sd;
    let wider = |half: f64| half.hypot(extra);
    Estimate {
        value: estimate.value,
        ci_low: estimate.value - wider(estimate.value - estimate.ci_low),
        ci_high: estimate.value + wider(estimate.ci_high - estimate.value),
    }
}

fn widen(estimate: Estimate, by: f64) -> Estimate {
    Estimate {
        value: estimate.value,
        ci_low: estimate.ci_low - by,
        ci_high: estimate.ci_high + by,
    }
}

/// An estimate within the range its outcome can take: an accuracy is in `[0, 1]` and calls
/// are not negative, whatever the normal approximation or a doubly robust correction says
/// (a mean of values in a range is in that range).
fn within(estimate: Estimate, (low, high): (f64, f64)) -> Estimate {
    Estimate {
        value: estimate.value.clamp(low, high),
        ci_low: estimate.ci_low.clamp(low, high),
        ci_high: estimate.ci_high.clamp(low, high),
    }
}

/// What an outcome can be: unbounded (the composite reward, whose bounds depend on the
/// weights), `[0, 1]` (accuracy) or `[0, ∞)` (calls).
const UNBOUNDED: (f64, f64) = (f64::NEG_INFINITY, f64::INFINITY);
const UNIT: (f64, f64) = (0.0, 1.0);
const COUNT: (f64, f64) = (0.0, f64::INFINITY);

/// The rounds as the estimators see one outcome of them.
fn logged_rounds(rounds: &[Round], outcome: usize) -> Vec<LoggedRound> {
    rounds
        .iter()
        .map(|r| LoggedRound {
            logged_propensity: r.logged_propensity,
            target_probability: r.target_probability,
            reward: r.outcome[outcome],
            model_logged: r.model_logged[outcome],
            model_target: r.model_target[outcome],
            // Bounded below instead (module docs).
            unsupported_mass: 0.0,
        })
        .collect()
}

/// An outcome's estimates, and whether one of them (or an end of its interval) lay outside
/// the range the outcome can take and is shown at its edge.
fn metric(
    rounds: &[Round],
    outcome: usize,
    unsupported: f64,
    (range, path_sd): ((f64, f64), f64),
) -> Result<(Metric, bool), OffPolicyError> {
    let logged = logged_rounds(rounds, outcome);
    let mut candidate = offpolicy::evaluate(&logged)?;
    let (low, high) = rounds
        .iter()
        .flat_map(|r| [r.outcome[outcome], r.model_logged[outcome]])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
    let by = unsupported * (high - low);
    let candidate_interval = |e: Estimate| widen(add_spread(e, path_sd), by);
    let raw = [
        candidate_interval(candidate.ips),
        candidate_interval(candidate.snips),
        candidate_interval(candidate.doubly_robust),
        offpolicy::logged_value(&logged)?,
    ];
    let clamped = raw.map(|e| within(e, range));
    [candidate.ips, candidate.snips, candidate.doubly_robust] =
        [clamped[0], clamped[1], clamped[2]];
    Ok((
        Metric {
            logged: clamped[3],
            candidate,
            path_sd,
        },
        raw != clamped,
    ))
}

/// The report on `rounds`, or why there is none.
pub(super) fn report(
    rounds: &[Round],
    decisions: u64,
    replay_mismatches: u64,
    path: PathReport,
) -> Result<EvaluationReport, EvaluateError> {
    if rounds.is_empty() {
        return Err(OffPolicyError::Empty.into());
    }
    let n = rounds.len() as f64;
    let unsupported = rounds.iter().map(|r| r.unsupported.total()).sum::<f64>() / n;
    if unsupported > MAX_UNSUPPORTED {
        let mean = |kind: fn(&UnsupportedMass) -> f64| {
            rounds.iter().map(|r| kind(&r.unsupported)).sum::<f64>() / n
        };
        return Err(EvaluateError::Unsupported {
            rounds: rounds
                .iter()
                .filter(|r| r.unsupported.total() > offpolicy::SUPPORT_TOLERANCE)
                .count(),
            max_mass: rounds
                .iter()
                .map(|r| r.unsupported.total())
                .fold(0.0, f64::max),
            mass: UnsupportedMass {
                below: mean(|m| m.below),
                above: mean(|m| m.above),
                order: mean(|m| m.order),
            },
            changed: Vec::new(),
        });
    }
    let (reward, _) = metric(rounds, 0, unsupported, (UNBOUNDED, path.sd[0]))?;
    let (accuracy, accuracy_clamped) = metric(rounds, 1, unsupported, (UNIT, path.sd[1]))?;
    let (calls, calls_clamped) = metric(rounds, 2, unsupported, (COUNT, path.sd[2]))?;
    let outcomes = Outcomes {
        reward,
        accuracy,
        calls,
    };
    let ess = outcomes.reward.candidate.effective_sample_size;
    let mut notes = Vec::new();
    if ess < RELIABLE_ESS {
        notes.push(format!(
            "the effective sample size is {ess:.0}: below {RELIABLE_ESS:.0} the intervals are \
             unreliable; log more decisions, or evaluate a candidate closer to the current \
             config"
        ));
    }
    if unsupported > 0.0 {
        notes.push(format!(
            "the candidate puts {:.2}% of its probability on actions the log never took; the \
             intervals are widened by the most those could change the value",
            unsupported * 100.0
        ));
    }
    // The moves are worth a note where they make up a tenth of an interval's variance (the
    // candidate's own draws, also in `path_sd`, are no news).
    let material = [&outcomes.reward, &outcomes.accuracy, &outcomes.calls]
        .iter()
        .zip(path.moves_sd)
        .any(|(metric, sd)| {
            let dr = metric.candidate.doubly_robust;
            let half = (dr.ci_high - dr.ci_low) / 2.0;
            (offpolicy::Z_95 * sd).powi(2) >= 0.1 * half.powi(2)
        });
    if path.shifts > 0 && material {
        notes.push(format!(
            "the candidate's budget moved {} on evidence that comes at random times (a \
             probe's, or up-exploration's for a gain; a run of moves down on one probe counts \
             once); its own run would have moved at other times, and the intervals include \
             that (standard deviation: {:.4} reward, {:.4} accuracy, {:.3} calls per request; \
             path_sd adds the candidate's own exploration draws); a config \
             evaluated on its own log gets it too, since a second run of it would probe at \
             other times",
            if path.shifts == 1 {
                "once".to_owned()
            } else {
                format!("{} times", path.shifts)
            },
            path.moves_sd[0],
            path.moves_sd[1],
            path.moves_sd[2]
        ));
    }
    if !path.unprobed.is_empty() {
        const SHOWN: usize = 5;
        let mut names = path.unprobed[..path.unprobed.len().min(SHOWN)].join(", ");
        if path.unprobed.len() > SHOWN {
            names.push_str(&format!(" and {} more", path.unprobed.len() - SHOWN));
        }
        notes.push(format!(
            "the level below the budget had not been probed, at the log's end, for over four \
             times probe_after requests and a quarter of the set's requests in scope, and its \
             agents do not show lower budgets on their own, in: {names}; a fall in the calls \
             they need since then is invisible to this log, and the estimates assume there \
             was none (a candidate probing at other times could have found one)"
        ));
    }
    if accuracy_clamped || calls_clamped {
        notes.push(
            "an accuracy or calls estimate (or an end of its interval) fell outside what it can \
             be (accuracy in [0, 1], calls not below 0) and is shown at that edge: the estimator \
             overshot, which small or heavily weighted logs make likely"
                .to_owned(),
        );
    }
    if replay_mismatches > 0 {
        notes.push(format!(
            "{replay_mismatches} logged propensities were not reproduced by replaying the log \
             (the checkpoints were rebuilt under another config, or the log was edited): the \
             logged propensities are used, the support check may be off"
        ));
    }
    Ok(EvaluationReport {
        decisions,
        rounds: rounds.len() as u64,
        unanswered: decisions - rounds.len() as u64,
        replay_mismatches,
        effective_sample_size: ess,
        max_weight: outcomes.reward.candidate.max_weight,
        unsupported_mass: unsupported,
        outcomes,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log where nothing was answered, and a reward model that expected some answers: the
    /// doubly robust correction pulls the accuracy below 0 and its interval further, which the
    /// report does not repeat (the reward, whose range depends on the weights, is left alone).
    #[test]
    fn an_accuracy_is_reported_within_0_and_1_and_calls_not_below_0() {
        let rounds: Vec<Round> = (0..40)
            .map(|i| {
                let (logged, target) = if i % 2 == 0 {
                    (0.25, 0.75)
                } else {
                    (0.75, 0.25)
                };
                Round {
                    logged_propensity: logged,
                    target_probability: target,
                    unsupported: UnsupportedMass::default(),
                    outcome: [-0.1, 0.0, 0.0],
                    model_logged: [0.2, 0.3, 0.5],
                    model_target: [0.2, 0.3, 0.5],
                }
            })
            .collect();
        let report = report(&rounds, 40, 0, PathReport::default()).unwrap();
        let raw = |outcome: usize| {
            offpolicy::evaluate(&logged_rounds(&rounds, outcome))
                .unwrap()
                .doubly_robust
        };
        assert!(
            raw(1).value < 0.0 && raw(2).ci_low < 0.0,
            "the case is the one meant"
        );
        for metric in [report.outcomes.accuracy, report.outcomes.calls] {
            let c = metric.candidate;
            for e in [c.ips, c.snips, c.doubly_robust, metric.logged] {
                assert!(
                    e.ci_low >= 0.0 && e.value >= e.ci_low && e.ci_high >= e.value,
                    "{e:?}"
                );
            }
        }
        let accuracy = report.outcomes.accuracy.candidate.doubly_robust;
        assert!(accuracy.ci_high <= 1.0);
        assert_eq!(report.outcomes.reward.candidate.doubly_robust, raw(0));
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("shown at that edge")),
            "{:?}",
            report.notes
        );
    }
}
