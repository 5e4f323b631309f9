//! The OTC reward (OTC-GRPO, arXiv 2504.14870): how close a request's tool-call count came to the
//! optimum, combined with correctness and cost into one composite score.
//!
//! Pure arithmetic, no I/O.
//!
//! # Representation of the optimal count `n`
//!
//! `n` is an `f64`, not an integer: an estimate taken from a quantile or a decayed window of
//! observations may be fractional, and the formula is defined for any real `n >= 0`. `n = 0`
//! means "answering without any tool call is optimal", which is a real, meaningful value.
//! An *unknown* optimum (no correct trajectory seen yet) is never encoded as 0: it is
//! `Option::None` in [`score`], where a correct trajectory with an unknown optimum is an error
//! (the caller, the policy store, must first resolve `n`, e.g. from that very trajectory) and an
//! incorrect one gets no tool reward at all (`r_tool = None`, since `r_correctness = 0` zeroes
//! the product anyway).

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Why a reward could not be computed. Every variant names the offending input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RewardError {
    /// A configuration weight (`alpha`, `beta`) or the smoothing constant is negative or not finite.
    #[error("reward config: {name} must be a finite number >= 0, got {value}")]
    InvalidWeight {
        /// Which field.
        name: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// The cos-branch smoothing constant `c` must be strictly positive (it divides by `2m + c`).
    #[error("reward config: smoothing constant c must be finite and > 0, got {0}")]
    InvalidSmoothing(f64),
    /// The optimal call count `n` is negative or not finite.
    #[error("optimal tool-call count must be a finite number >= 0, got {0}")]
    InvalidOptimal(f64),
    /// The normalised cost is outside `[0, 1]` or not finite.
    #[error("r_cost must be a finite number in [0, 1], got {0}")]
    InvalidCost(f64),
    /// A correct trajectory cannot be scored before its optimal count is known.
    #[error("the optimal tool-call count is unknown; a correct trajectory needs one to be scored")]
    UnknownOptimal,
}

/// Weights of the composite reward and the smoothing constant of the `n = 0` branch.
///
/// Construct with [`RewardConfig::new`] or deserialize: both validate, so a config that
/// exists is always usable and never yields NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRewardConfig", deny_unknown_fields)]
pub struct RewardConfig {
    alpha: f64,
    beta: f64,
    smoothing: f64,
}

/// The JSON form; a field left out takes its default (a config file states what it changes).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRewardConfig {
    #[serde(default = "default_alpha")]
    alpha: f64,
    #[serde(default = "default_beta")]
    beta: f64,
    #[serde(default = "default_smoothing")]
    smoothing: f64,
}

fn default_alpha() -> f64 {
    RewardConfig::default().alpha
}

fn default_beta() -> f64 {
    RewardConfig::default().beta
}

fn default_smoothing() -> f64 {
    RewardConfig::default().smoothing
}

impl TryFrom<RawRewardConfig> for RewardConfig {
    type Error = RewardError;
    fn try_from(raw: RawRewardConfig) -> Result<Self, RewardError> {
        Self::new(raw.alpha, raw.beta, raw.smoothing)
    }
}

impl Default for RewardConfig {
    /// `alpha = 1.0`, `beta = 0.1` (the seed's defaults) and `c = 1.0`.
    fn default() -> Self {
        Self {
            alpha: 1.0,
            beta: 0.1,
            smoothing: 1.0,
        }
    }
}

impl RewardConfig {
    /// Validates and builds a config: `alpha` and `beta` finite and `>= 0`, `smoothing` finite and `> 0`.
    pub fn new(alpha: f64, beta: f64, smoothing: f64) -> Result<Self, RewardError> {
        for (name, value) in [("alpha", alpha), ("beta", beta)] {
            if !value.is_finite() || value < 0.0 {
                return Err(RewardError::InvalidWeight { name, value });
            }
        }
        if !smoothing.is_finite() || smoothing <= 0.0 {
            return Err(RewardError::InvalidSmoothing(smoothing));
        }
        Ok(Self {
            alpha,
            beta,
            smoothing,
        })
    }

    /// Weight of the tool-and-correctness term.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Weight of the cost penalty.
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// Smoothing constant `c` of the `n = 0` (cos) branch.
    pub fn smoothing(&self) -> f64 {
        self.smoothing
    }
}

/// The tool-call reward `r_tool(m, n)` for `m` calls made when `n` were optimal, in `[0, 1]`.
///
/// * `m = n = 0`: 1.
/// * `n = 0 < m`: `cos(m·π / (2m + c))`, falling from near 1 towards 0 as `m` grows.
/// * `n > 0`: `sin(f(m,n)·π / (2n))` with `f = 2nm / (m+n)`, which simplifies to
///   `sin(π·m / (m+n))`: 1 at `m = n`, symmetric in `m` and `n`, 0 at `m = 0`.
///
/// The simplified form is used because it avoids the division by `2n` of a product; a property
/// test checks it against the paper's literal form. The result is clamped to `[0, 1]` so floating
/// noise never escapes.
pub fn r_tool(m: u32, n: f64, smoothing: f64) -> Result<f64, RewardError> {
    if !n.is_finite() || n < 0.0 {
        return Err(RewardError::InvalidOptimal(n));
    }
    if !smoothing.is_finite() || smoothing <= 0.0 {
        return Err(RewardError::InvalidSmoothing(smoothing));
    }
    let m = f64::from(m);
    let raw = if n == 0.0 {
        if m == 0.0 {
            1.0
        } else {
            (m * PI / (2.0 * m + smoothing)).cos()
        }
    } else {
        (PI * m / (m + n)).sin()
    };
    Ok(raw.clamp(0.0, 1.0))
}

/// The composite reward `α·r_tool·r_correctness − β·r_cost`, in `[−β, α]`.
pub fn composite(
    r_tool: f64,
    correct: bool,
    r_cost: f64,
    config: &RewardConfig,
) -> Result<f64, RewardError> {
    if !r_cost.is_finite() || !(0.0..=1.0).contains(&r_cost) {
        return Err(RewardError::InvalidCost(r_cost));
    }
    let r_correctness = if correct { 1.0 } else { 0.0 };
    Ok(config.alpha * r_tool * r_correctness - config.beta * r_cost)
}

/// Every input and output of one scoring, so a stored score can be explained later.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Tool calls made.
    pub calls: u32,
    /// Optimal tool calls used for scoring, `None` when unknown.
    pub optimal: Option<f64>,
    /// The tool reward, `None` when the optimum is unknown (only possible for incorrect answers).
    pub r_tool: Option<f64>,
    /// 1 for a correct answer, 0 otherwise.
    pub r_correctness: f64,
    /// Normalised cost in `[0, 1]`.
    pub r_cost: f64,
    /// `α·r_tool·r_correctness − β·r_cost`.
    pub composite: f64,
    /// The configuration the score was computed with.
    pub config: RewardConfig,
}

/// Scores one request: validates every input, then computes `r_tool` and the composite.
///
/// See the module documentation for how an unknown optimum (`optimal = None`) is treated.
pub fn score(
    calls: u32,
    optimal: Option<f64>,
    correct: bool,
    r_cost: f64,
    config: &RewardConfig,
) -> Result<Score, RewardError> {
    let r_tool = match optimal {
        Some(n) => Some(r_tool(calls, n, config.smoothing)?),
        None if correct => return Err(RewardError::UnknownOptimal),
        None => None,
    };
    let composite = composite(r_tool.unwrap_or(0.0), correct, r_cost, config)?;
    Ok(Score {
        calls,
        optimal,
        r_tool,
        r_correctness: if correct { 1.0 } else { 0.0 },
        r_cost,
        composite,
        config: *config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(m: u32, n: f64) -> f64 {
        r_tool(m, n, 1.0).unwrap()
    }

    // The paper's reference values, written as published (0.707107 is 1/sqrt(2) to 6 places).
    #[allow(clippy::approx_constant)]
    #[test]
    fn reference_values_match_the_paper() {
        let cases = [
            (1, 1.0, 1.0),
            (2, 1.0, 0.866025),
            (3, 1.0, 0.707107),
            (1, 2.0, 0.866025),
            (8, 2.0, 0.587785),
            (0, 1.0, 0.0),
            (0, 0.0, 1.0),
        ];
        for (m, n, want) in cases {
            assert!(
                (r(m, n) - want).abs() < 5e-7,
                "r({m},{n}) = {} want {want}",
                r(m, n)
            );
        }
    }

    #[test]
    fn cos_branch_uses_the_smoothing_constant() {
        // cos(1·π/(2+1)) = cos(π/3) = 0.5; a larger c flattens the penalty.
        assert!((r_tool(1, 0.0, 1.0).unwrap() - 0.5).abs() < 1e-12);
        assert!(r_tool(1, 0.0, 10.0).unwrap() > 0.5);
    }

    #[test]
    fn invalid_inputs_are_typed_errors() {
        assert_eq!(r_tool(1, -1.0, 1.0), Err(RewardError::InvalidOptimal(-1.0)));
        assert!(matches!(
            r_tool(1, f64::NAN, 1.0),
            Err(RewardError::InvalidOptimal(_))
        ));
        assert_eq!(r_tool(1, 1.0, 0.0), Err(RewardError::InvalidSmoothing(0.0)));
        assert!(matches!(
            RewardConfig::new(f64::INFINITY, 0.1, 1.0),
            Err(RewardError::InvalidWeight { name: "alpha", .. })
        ));
        assert!(matches!(
            RewardConfig::new(1.0, -0.1, 1.0),
            Err(RewardError::InvalidWeight { name: "beta", .. })
        ));
        let cfg = RewardConfig::default();
        assert_eq!(
            composite(1.0, true, 1.5, &cfg),
            Err(RewardError::InvalidCost(1.5))
        );
        assert!(matches!(
            composite(1.0, true, f64::NAN, &cfg),
            Err(RewardError::InvalidCost(_))
        ));
    }

    #[test]
    fn unknown_optimum_is_not_zero() {
        let cfg = RewardConfig::default();
        assert_eq!(
            score(3, None, true, 0.0, &cfg),
            Err(RewardError::UnknownOptimal)
        );
        let wrong = score(3, None, false, 0.5, &cfg).unwrap();
        assert_eq!(wrong.r_tool, None);
        assert!((wrong.composite + 0.05).abs() < 1e-12);
    }

    #[test]
    fn config_deserialization_validates() {
        let bad: Result<RewardConfig, _> =
            serde_json::from_str(r#"{"alpha": -1, "beta": 0.1, "smoothing": 1}"#);
        assert!(bad.unwrap_err().to_string().contains("alpha"));
        let good: RewardConfig =
            serde_json::from_str(r#"{"alpha": 1, "beta": 0.1, "smoothing": 1}"#).unwrap();
        assert_eq!(good, RewardConfig::default());
    }
}
