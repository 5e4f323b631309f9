//! Off-policy evaluation: what a candidate policy would have earned on traffic another policy
//! served, estimated from the logged decisions. Pure arithmetic, no I/O.
//!
//! Each logged round carries the probability with which the logging policy took the action it
//! took (the decision's propensity), the probability the candidate gives that same action in
//! that context, the observed reward, and a reward model's predictions (for the doubly robust
//! estimator). Three standard estimators (Dudík, Langford and Li 2011; Swaminathan and
//! Joachims 2015):
//!
//! * **IPS** (inverse propensity scoring): the mean of `w·r` with `w = π(a|x) / μ(a|x)`.
//!   Unbiased when the log supports the candidate; its variance grows with the weights.
//! * **SNIPS** (self-normalised IPS): `Σ w·r / Σ w`. Slightly biased, far less variance; the
//!   usual first choice.
//! * **DR** (doubly robust): the model's value of the candidate plus the IPS-weighted error of
//!   the model on the logged action: unbiased if either the propensities or the model are
//!   right.
//!
//! Confidence intervals are normal approximations (95 %, `z = 1.96`); the effective sample
//! size `(Σw)² / Σw²` says how many rounds the estimate is really worth. No number is given
//! where the log does not support the candidate: when it puts probability on actions the
//! logging policy never took with a positive propensity in that context, every estimator here
//! is biased by an unknown amount ([`OffPolicyError::Unsupported`]).

use serde::{Deserialize, Serialize};

/// The normal quantile of a two-sided 95 % interval.
pub const Z_95: f64 = 1.96;

/// Unsupported probability mass the estimators tolerate per round before refusing: a
/// rounding allowance, not a modelling choice.
pub const SUPPORT_TOLERANCE: f64 = 1e-9;

/// One logged decision and what became of it, as the estimators see it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoggedRound {
    /// `μ(a|x)`: the probability with which the logging policy took the logged action.
    pub logged_propensity: f64,
    /// `π(a|x)`: the probability the candidate gives the logged action in the same context.
    pub target_probability: f64,
    /// The reward observed for the logged action.
    pub reward: f64,
    /// The reward model's prediction for the logged action, `q̂(x, a)`.
    pub model_logged: f64,
    /// The reward model's value of the candidate in this context, `Σ_a π(a|x)·q̂(x, a)`.
    pub model_target: f64,
    /// Probability the candidate puts, in this context, on actions the logging policy could
    /// not have taken (propensity 0): mass no estimator can see.
    pub unsupported_mass: f64,
}

/// An estimate with its 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The estimated expected reward per round.
    pub value: f64,
    /// Lower end of the 95 % interval.
    pub ci_low: f64,
    /// Upper end of the 95 % interval.
    pub ci_high: f64,
}

impl Estimate {
    fn around(value: f64, standard_error: f64) -> Self {
        Self {
            value,
            ci_low: value - Z_95 * standard_error,
            ci_high: value + Z_95 * standard_error,
        }
    }
}

/// All three estimates of one candidate on one log.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Rounds in the log.
    pub rounds: usize,
    /// `(Σw)² / Σw²`: how many rounds the weighted estimate is worth.
    pub effective_sample_size: f64,
    /// The largest importance weight (a large one means a few rounds decide the estimate).
    pub max_weight: f64,
    /// Inverse propensity scoring.
    pub ips: Estimate,
    /// Self-normalised inverse propensity scoring.
    pub snips: Estimate,
    /// Doubly robust, with the reward model as the direct-method part.
    pub doubly_robust: Estimate,
}

/// Why no estimate can be given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OffPolicyError {
    /// No round: the log is empty, or nothing in it is in scope.
    #[error(
        "no logged decision in scope has a trajectory to evaluate on (the log holds none, or the scope leaves them all out)"
    )]
    Empty,
    /// A round's numbers are not probabilities or finite rewards.
    #[error("round {index} is malformed: {reason}")]
    Malformed {
        /// Index of the round.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The candidate takes actions the log never took with a positive propensity.
    #[error(
        "the log does not support the candidate: in {rounds} of the logged contexts it would take \
         actions the logging policy never took (up to {max_mass:.3} of its probability); \
         log decisions that explore those actions first"
    )]
    Unsupported {
        /// Rounds with unsupported mass.
        rounds: usize,
        /// The largest unsupported mass of a round.
        max_mass: f64,
    },
    /// The candidate gives probability zero to every logged action: nothing was observed of
    /// what it would do.
    #[error("the candidate never takes an action the log took; nothing observed of it")]
    NoOverlap,
}

fn check(index: usize, round: &LoggedRound) -> Result<(), OffPolicyError> {
    let bad = |reason| Err(OffPolicyError::Malformed { index, reason });
    if !(round.logged_propensity > 0.0 && round.logged_propensity <= 1.0) {
        return bad("the logged propensity must be in (0, 1]");
    }
    if !(0.0..=1.0).contains(&round.target_probability) {
        return bad("the candidate's probability must be in [0, 1]");
    }
    if !(0.0..=1.0).contains(&round.unsupported_mass) {
        return bad("the unsupported mass must be in [0, 1]");
    }
    if ![round.reward, round.model_logged, round.model_target]
        .iter()
        .all(|x| x.is_finite())
    {
        return bad("rewards and model values must be finite");
    }
    Ok(())
}

/// The mean and the standard error of the mean of `xs` (0 for fewer than two values).
fn mean_and_error(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let variance = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (variance / n).sqrt())
}

/// Evaluates a candidate on a log: IPS, SNIPS and doubly robust estimates with 95 %
/// intervals, the effective sample size and the largest weight; or why no number can be given.
pub fn evaluate(rounds: &[LoggedRound]) -> Result<Evaluation, OffPolicyError> {
    if rounds.is_empty() {
        return Err(OffPolicyError::Empty);
    }
    for (index, round) in rounds.iter().enumerate() {
        check(index, round)?;
    }
    let unsupported: Vec<f64> = rounds
        .iter()
        .map(|r| r.unsupported_mass)
        .filter(|&m| m > SUPPORT_TOLERANCE)
        .collect();
    if !unsupported.is_empty() {
        return Err(OffPolicyError::Unsupported {
            rounds: unsupported.len(),
            max_mass: unsupported.iter().copied().fold(0.0, f64::max),
        });
    }
    let weights: Vec<f64> = rounds
        .iter()
        .map(|r| r.target_probability / r.logged_propensity)
        .collect();
    let weight_sum: f64 = weights.iter().sum();
    if weight_sum <= 0.0 {
        return Err(OffPolicyError::NoOverlap);
    }
    let n = rounds.len() as f64;
    let square_sum: f64 = weights.iter().map(|w| w * w).sum();

    let ips_terms: Vec<f64> = rounds
        .iter()
        .zip(&weights)
        .map(|(r, w)| w * r.reward)
        .collect();
    let (ips, ips_error) = mean_and_error(&ips_terms);

    let snips = ips_terms.iter().sum::<f64>() / weight_sum;
    // Delta method: the self-normalised mean's variance is that of w·(r − V) over the mean
    // weight squared.
    let residuals: Vec<f64> = rounds
        .iter()
        .zip(&weights)
        .map(|(r, w)| w * (r.reward - snips))
        .collect();
    let (_, residual_error) = mean_and_error(&residuals);
    let snips_error = residual_error / (weight_sum / n);

    let dr_terms: Vec<f64> = rounds
        .iter()
        .zip(&weights)
        .map(|(r, w)| r.model_target + w * (r.reward - r.model_logged))
        .collect();
    let (dr, dr_error) = mean_and_error(&dr_terms);

    Ok(Evaluation {
        rounds: rounds.len(),
        effective_sample_size: weight_sum * weight_sum / square_sum,
        max_weight: weights.iter().copied().fold(0.0, f64::max),
        ips: Estimate::around(ips, ips_error),
        snips: Estimate::around(snips, snips_error),
        doubly_robust: Estimate::around(dr, dr_error),
    })
}

/// The logging policy's own value on its log, for comparison: the mean observed reward with
/// its interval (what the candidate's estimates are set beside).
pub fn logged_value(rounds: &[LoggedRound]) -> Result<Estimate, OffPolicyError> {
    if rounds.is_empty() {
        return Err(OffPolicyError::Empty);
    }
    let rewards: Vec<f64> = rounds.iter().map(|r| r.reward).collect();
    let (mean, error) = mean_and_error(&rewards);
    Ok(Estimate::around(mean, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(mu: f64, pi: f64, reward: f64) -> LoggedRound {
        LoggedRound {
            logged_propensity: mu,
            target_probability: pi,
            reward,
            model_logged: 0.0,
            model_target: 0.0,
            unsupported_mass: 0.0,
        }
    }

    #[test]
    fn the_logging_policy_evaluated_on_its_own_log_is_its_mean_reward() {
        let log: Vec<LoggedRound> = [(0.5, 1.0), (0.25, 0.0), (0.8, 0.5)]
            .iter()
            .map(|&(mu, r)| round(mu, mu, r))
            .collect();
        let e = evaluate(&log).expect("supported");
        assert!((e.ips.value - 0.5).abs() < 1e-12);
        assert!((e.snips.value - 0.5).abs() < 1e-12);
        assert!((e.effective_sample_size - 3.0).abs() < 1e-12);
        assert_eq!(logged_value(&log).expect("log").value, 0.5);
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(evaluate(&[]), Err(OffPolicyError::Empty));
        let mut unsupported = round(0.5, 0.5, 1.0);
        unsupported.unsupported_mass = 0.3;
        let Err(OffPolicyError::Unsupported { rounds, max_mass }) =
            evaluate(&[round(0.5, 0.5, 1.0), unsupported])
        else {
            panic!("an unsupported candidate must be refused");
        };
        assert_eq!((rounds, max_mass), (1, 0.3));
        assert_eq!(
            evaluate(&[round(0.5, 0.0, 1.0)]),
            Err(OffPolicyError::NoOverlap)
        );
        for bad in [
            round(0.0, 0.5, 1.0),
            round(1.5, 0.5, 1.0),
            round(0.5, -0.1, 1.0),
            round(0.5, 0.5, f64::NAN),
        ] {
            assert!(matches!(
                evaluate(&[bad]),
                Err(OffPolicyError::Malformed { index: 0, .. })
            ));
        }
    }
}
