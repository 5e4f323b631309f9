//! HTTP shapes of `POST /admin/otc/evaluate`: the body (the candidate is read straight into
//! otc-policy's `PolicyConfig`; its schema is [`super::candidate`]) and the answer, which
//! mirrors otc-policy's `EvaluationReport` (same JSON, the `From` impls make the compiler check
//! every field).

use crate::openapi::PolicyName;
use otc_policy::evaluate as ev;
use otc_policy::offpolicy as off;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of `POST /admin/otc/evaluate`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// The config to evaluate. Partial: a section or member left out takes its default (not
    /// the server's current value), so `{}` is the default config.
    #[schema(value_type = super::candidate::CandidateConfig)]
    pub candidate: otc_policy::PolicyConfig,
    /// Which logged decisions to evaluate on; every one when absent.
    #[serde(default)]
    pub scope: Option<EvaluationScope>,
}

/// Which logged decisions to evaluate on. Every trajectory is still replayed (a
/// combination's state depends on its whole history); only the decisions in scope are
/// evaluated on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluationScope {
    /// Only decisions of this intent.
    #[serde(default)]
    #[schema(value_type = Option<PolicyName>)]
    pub intent: Option<String>,
    /// Only decisions of this module set (any order).
    #[serde(default)]
    #[schema(value_type = Option<Vec<PolicyName>>, min_items = 1, max_items = 64)]
    pub modules: Option<Vec<String>>,
    /// Only decisions taken at or after this time, Unix ms.
    #[serde(default)]
    pub since_ms: Option<i64>,
    /// Only decisions taken before this time, Unix ms; not before `since_ms`.
    #[serde(default)]
    pub until_ms: Option<i64>,
}

impl From<EvaluationScope> for ev::Scope {
    fn from(s: EvaluationScope) -> Self {
        Self {
            intent: s.intent,
            modules: s.modules,
            since_ms: s.since_ms,
            until_ms: s.until_ms,
        }
    }
}

/// An estimate with its 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Estimate {
    /// The estimated mean per request.
    pub value: f64,
    /// Lower end of the 95 % interval.
    pub ci_low: f64,
    /// Upper end of the 95 % interval.
    pub ci_high: f64,
}

impl From<off::Estimate> for Estimate {
    fn from(e: off::Estimate) -> Self {
        Self {
            value: e.value,
            ci_low: e.ci_low,
            ci_high: e.ci_high,
        }
    }
}

/// The candidate's estimates of one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Evaluation {
    /// Rounds evaluated on.
    pub rounds: u64,
    /// `(Σw)² / Σw²`: how many rounds the weighted estimates are worth.
    pub effective_sample_size: f64,
    /// The largest importance weight (a large one means a few rounds decide the estimate).
    pub max_weight: f64,
    /// Inverse propensity scoring: unbiased, the widest interval.
    pub ips: Estimate,
    /// Self-normalised IPS: the estimate to read first.
    pub snips: Estimate,
    /// Doubly robust (a reward model plus the weighted error of the model).
    pub doubly_robust: Estimate,
}

impl From<off::Evaluation> for Evaluation {
    fn from(e: off::Evaluation) -> Self {
        Self {
            rounds: e.rounds as u64,
            effective_sample_size: e.effective_sample_size,
            max_weight: e.max_weight,
            ips: e.ips.into(),
            snips: e.snips.into(),
            doubly_robust: e.doubly_robust.into(),
        }
    }
}

/// One outcome: what the logging policy did and what the candidate would have done.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Metric {
    /// The mean observed under the logging policy, with its 95 % interval.
    pub logged: Estimate,
    /// The candidate's estimates; their intervals include `path_sd`.
    pub candidate: Evaluation,
    /// The standard deviation the candidate's own run adds to its value: its own draws where
    /// it explores, and its budget would have moved on its own probes' (or up-exploration's)
    /// evidence at other times than the log's. 0 when it never explores and no such move
    /// happened.
    pub path_sd: f64,
}

impl From<ev::Metric> for Metric {
    fn from(m: ev::Metric) -> Self {
        Self {
            logged: m.logged.into(),
            candidate: m.candidate.into(),
            path_sd: m.path_sd,
        }
    }
}

/// The three outcomes of a request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Outcomes {
    /// Composite reward, as the traffic was scored.
    pub reward: Metric,
    /// Share of correct requests.
    pub accuracy: Metric,
    /// Tool calls per request.
    pub calls: Metric,
}

impl From<ev::Outcomes> for Outcomes {
    fn from(o: ev::Outcomes) -> Self {
        Self {
            reward: o.reward.into(),
            accuracy: o.accuracy.into(),
            calls: o.calls.into(),
        }
    }
}

/// What the candidate would have done on the logged traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvaluationReport {
    /// Logged decisions in scope.
    pub decisions: u64,
    /// Of them, those whose trajectory arrived: the rounds evaluated on.
    pub rounds: u64,
    /// Decisions in scope that never got a trajectory (left out).
    pub unanswered: u64,
    /// Decisions whose logged propensity replaying the log did not reproduce (0 when the log
    /// was produced the way it is replayed).
    pub replay_mismatches: u64,
    /// `(Σw)² / Σw²` of the reward's weights: how many rounds the estimates are worth; below
    /// 200 the intervals are unreliable.
    pub effective_sample_size: f64,
    /// The largest importance weight.
    pub max_weight: f64,
    /// Mean probability per round the candidate puts on actions the log never took (the
    /// intervals are widened by the most those could change the value; above 0.01 the
    /// evaluation is refused).
    pub unsupported_mass: f64,
    /// The estimates.
    pub outcomes: Outcomes,
    /// What to keep in mind when reading the numbers.
    pub notes: Vec<String>,
}

impl From<ev::EvaluationReport> for EvaluationReport {
    fn from(r: ev::EvaluationReport) -> Self {
        Self {
            decisions: r.decisions,
            rounds: r.rounds,
            unanswered: r.unanswered,
            replay_mismatches: r.replay_mismatches,
            effective_sample_size: r.effective_sample_size,
            max_weight: r.max_weight,
            unsupported_mass: r.unsupported_mass,
            outcomes: r.outcomes.into(),
            notes: r.notes,
        }
    }
}

#[cfg(test)]
mod tests {

    /// The mirror's JSON is otc-policy's: a client reads the same report from the CLI's
    /// `--json` and from the API.
    #[test]
    fn the_report_serialises_as_otc_policy_does() {
        let estimate = |value| otc_policy::offpolicy::Estimate {
            value,
            ci_low: value - 1.0,
            ci_high: value + 1.0,
        };
        let metric = otc_policy::evaluate::Metric {
            logged: estimate(0.5),
            candidate: otc_policy::offpolicy::Evaluation {
                rounds: 7,
                effective_sample_size: 6.5,
                max_weight: 1.5,
                ips: estimate(0.1),
                snips: estimate(0.2),
                doubly_robust: estimate(0.3),
            },
            path_sd: 0.25,
        };
        let report = otc_policy::evaluate::EvaluationReport {
            decisions: 9,
            rounds: 7,
            unanswered: 2,
            replay_mismatches: 1,
            effective_sample_size: 6.5,
            max_weight: 1.5,
            unsupported_mass: 0.001,
            outcomes: otc_policy::evaluate::Outcomes {
                reward: metric,
                accuracy: metric,
                calls: metric,
            },
            notes: vec!["a note".into()],
        };
        assert_eq!(
            serde_json::to_value(super::EvaluationReport::from(report.clone())).unwrap(),
            serde_json::to_value(report).unwrap()
        );
    }
}
