//! The cost signal of the OTC reward: a request's metered run-units normalised into
//! `r_cost` in `[0, 1]`.
//!
//! The normalisation is `r_cost = u / (u + ref)`, where `u` is the run-units the request spent and
//! `ref` is a reference spend for its intent class (or a default). It is 0 for a free request,
//! exactly 0.5 when the request spent the reference, and approaches but never reaches 1 as spend
//! grows, so there is no cap to tune and no two expensive requests look the same. Choose `ref` as
//! the spend of a typical good request of that intent: the cost penalty `β·r_cost` then stays
//! small for normal requests and grows smoothly for wasteful ones.
//!
//! `u` is what the usage store actually metered for the request (the sum of its events'
//! run-units, exact to the micro-unit: usage-store's `UsageBackend::request_total`, read by the
//! HTTP layer when a trajectory omits `run_units`), so the reward's cost term never comes from a
//! client's estimate. This module is policy vocabulary and knows nothing of the usage store.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a cost normaliser could not be built or applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CostError {
    /// A reference spend must be finite and strictly positive.
    #[error("{}", reference_problem(intent.as_deref(), *value))]
    InvalidReference {
        /// The intent whose reference was rejected (`None` for the default).
        intent: Option<String>,
        /// The rejected value.
        value: f64,
    },
    /// Run-units must be finite and non-negative.
    #[error("run-units must be finite and >= 0, got {0}")]
    InvalidUnits(f64),
}

/// Maps metered run-units to `r_cost` with a per-intent reference spend (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCostNormalizer", into = "RawCostNormalizer")]
pub struct CostNormalizer {
    default_reference: f64,
    per_intent: BTreeMap<String, f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCostNormalizer {
    /// Optional like every other knob of a config: a partial config takes the default.
    #[serde(default = "default_reference")]
    default_reference: f64,
    #[serde(default)]
    per_intent: BTreeMap<String, f64>,
}

impl TryFrom<RawCostNormalizer> for CostNormalizer {
    type Error = CostError;
    fn try_from(raw: RawCostNormalizer) -> Result<Self, CostError> {
        let mut normalizer = Self::new(raw.default_reference)?;
        for (intent, value) in raw.per_intent {
            normalizer = normalizer.with_intent(intent, value)?;
        }
        Ok(normalizer)
    }
}

impl From<CostNormalizer> for RawCostNormalizer {
    fn from(n: CostNormalizer) -> Self {
        Self {
            default_reference: n.default_reference,
            per_intent: n.per_intent,
        }
    }
}

/// The reference spend of an intent without its own: 10 run-units.
fn default_reference() -> f64 {
    10.0
}

impl Default for CostNormalizer {
    /// A default reference of 10 run-units and no per-intent overrides.
    fn default() -> Self {
        Self {
            default_reference: default_reference(),
            per_intent: BTreeMap::new(),
        }
    }
}

/// Names the knob as a config file spells it: `default_reference`, or an intent's entry in
/// `per_intent`.
fn reference_problem(intent: Option<&str>, value: f64) -> String {
    match intent {
        None => format!("`default_reference` must be finite and > 0, got {value}"),
        Some(intent) => {
            format!("`per_intent` reference of {intent:?} must be finite and > 0, got {value}")
        }
    }
}

fn check_reference(intent: Option<&str>, value: f64) -> Result<f64, CostError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(CostError::InvalidReference {
            intent: intent.map(str::to_owned),
            value,
        })
    }
}

impl CostNormalizer {
    /// A normaliser whose reference spend is `default_reference` for every intent.
    pub fn new(default_reference: f64) -> Result<Self, CostError> {
        Ok(Self {
            default_reference: check_reference(None, default_reference)?,
            per_intent: BTreeMap::new(),
        })
    }

    /// Sets the reference spend of one intent class.
    pub fn with_intent(
        mut self,
        intent: impl Into<String>,
        reference: f64,
    ) -> Result<Self, CostError> {
        let intent = intent.into();
        check_reference(Some(&intent), reference)?;
        self.per_intent.insert(intent, reference);
        Ok(self)
    }

    /// The reference spend used for `intent`.
    pub fn reference(&self, intent: &str) -> f64 {
        self.per_intent
            .get(intent)
            .copied()
            .unwrap_or(self.default_reference)
    }

    /// `r_cost = u / (u + ref(intent))`, in `[0, 1)`.
    pub fn r_cost(&self, intent: &str, run_units: f64) -> Result<f64, CostError> {
        if !run_units.is_finite() || run_units < 0.0 {
            return Err(CostError::InvalidUnits(run_units));
        }
        Ok(run_units / (run_units + self.reference(intent)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_at_the_reference_and_zero_when_free() {
        let n = CostNormalizer::new(10.0)
            .unwrap()
            .with_intent("search", 4.0)
            .unwrap();
        assert_eq!(n.r_cost("other", 0.0).unwrap(), 0.0);
        assert_eq!(n.r_cost("other", 10.0).unwrap(), 0.5);
        assert_eq!(n.r_cost("search", 4.0).unwrap(), 0.5);
        assert!(n.r_cost("other", 1e300).unwrap() <= 1.0);
    }

    #[test]
    fn bad_values_are_typed_errors() {
        assert!(matches!(
            CostNormalizer::new(0.0),
            Err(CostError::InvalidReference { .. })
        ));
        assert!(matches!(
            CostNormalizer::new(f64::NAN),
            Err(CostError::InvalidReference { .. })
        ));
        let n = CostNormalizer::default();
        assert_eq!(n.r_cost("x", -1.0), Err(CostError::InvalidUnits(-1.0)));
        assert!(matches!(
            n.r_cost("x", f64::INFINITY),
            Err(CostError::InvalidUnits(_))
        ));
        let bad: Result<CostNormalizer, _> =
            serde_json::from_str(r#"{"default_reference": 5, "per_intent": {"a": -1}}"#);
        assert!(bad.is_err());
    }
}
