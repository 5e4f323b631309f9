//! Off-policy evaluation checked against the truth: log a run under one config, evaluate a
//! candidate on that log ([`crate::evaluate`]), then run the candidate itself in closed loop on
//! the same requests (same seed, so the same request draws) and compare. The closed-loop run
//! is the counterfactual the evaluation estimates: what the candidate would have done on the
//! traffic that was served.

use super::{MemoryError, MemoryPolicy, Scenario, run};
use crate::config::PolicyConfig;
use crate::evaluate::{EvaluateError, EvaluationReport, Scope};

/// The candidate's true closed-loop means on the same requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    /// Mean composite reward.
    pub reward: f64,
    /// Share of correct requests.
    pub accuracy: f64,
    /// Tool calls per request.
    pub calls: f64,
}

/// One check: the offline estimate (or why there is none) and the truth.
#[derive(Debug)]
pub struct OfflineCheck {
    /// The evaluation of the candidate on the logging run's log.
    pub estimate: Result<EvaluationReport, EvaluateError>,
    /// What the candidate did in closed loop on the same requests.
    pub truth: Truth,
}

/// Why a check could not run.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// A run failed.
    #[error(transparent)]
    Run(#[from] MemoryError),
    /// The candidate's own log could not be summarised (it decided nothing).
    #[error("the candidate's closed-loop run could not be summarised: {0}")]
    Truth(EvaluateError),
}

/// Logs `scenario` under `logging` with `seed`, evaluates each candidate on the log, and runs
/// each candidate in closed loop on the same requests; one check per candidate, in order.
pub fn check(
    scenario: &Scenario,
    seed: u64,
    logging: &PolicyConfig,
    candidates: &[PolicyConfig],
) -> Result<Vec<OfflineCheck>, OfflineError> {
    let log = logged_run(scenario, seed, logging)?;
    candidates
        .iter()
        .map(|candidate| {
            let estimate = log.evaluate(candidate, logging, &Scope::default());
            let own = logged_run(scenario, seed, candidate)?;
            // The candidate on its own log: the logged means are its closed-loop means.
            let mine = own
                .evaluate(candidate, candidate, &Scope::default())
                .map_err(OfflineError::Truth)?;
            Ok(OfflineCheck {
                estimate,
                truth: Truth {
                    reward: mine.outcomes.reward.logged.value,
                    accuracy: mine.outcomes.accuracy.logged.value,
                    calls: mine.outcomes.calls.logged.value,
                },
            })
        })
        .collect()
}

/// The log of `scenario` run under `config` with `seed`.
pub fn logged_run(
    scenario: &Scenario,
    seed: u64,
    config: &PolicyConfig,
) -> Result<crate::evaluate::MemoryLog, MemoryError> {
    let mut policy = MemoryPolicy::recording(config.clone());
    run(scenario, seed, &mut policy)?;
    Ok(policy.log().cloned().unwrap_or_default())
}
