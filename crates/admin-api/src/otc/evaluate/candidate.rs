//! The schema of a candidate policy config in `POST /admin/otc/evaluate` (schema only: the
//! body is read straight into otc-policy's `PolicyConfig`, so its defaults and rules stay in
//! one place). The defaults the document shows are read from otc-policy's own, and tests check
//! that the members and the bounds documented here are the policy's.

use serde::Serialize;
use utoipa::ToSchema;

/// A candidate policy config (schema only; see each section for its members, defaults and
/// ranges). Unknown members are refused at every level.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CandidateConfig {
    /// Weights of the composite reward. The evaluation judges every candidate by the reward
    /// the traffic was logged with, so these change how the candidate learns, not the yardstick.
    pub reward: CandidateReward,
    /// How run-units become `r_cost`.
    pub cost: CandidateCost,
    /// How `n` is estimated and how fast old behaviour is forgotten.
    pub estimator: CandidateEstimator,
    /// How the served budget is decided and explored.
    pub budget: CandidateBudget,
}

/// The reward section of a candidate config (schema only).
#[derive(Debug, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CandidateReward {
    /// Weight of `r_tool·r_correctness`, finite and >= 0.
    #[schema(minimum = 0)]
    pub alpha: f64,
    /// Weight of `r_cost`, finite and >= 0.
    #[schema(minimum = 0)]
    pub beta: f64,
    /// The smoothing constant `c` of the `n = 0` branch, finite and > 0.
    #[schema(exclusive_minimum = 0)]
    pub smoothing: f64,
}

/// The cost section of a candidate config (schema only).
#[derive(Debug, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CandidateCost {
    /// The run-units at which `r_cost = 0.5`, finite and > 0 (default 10).
    #[schema(exclusive_minimum = 0)]
    pub default_reference: f64,
    /// The same per intent, overriding the default.
    #[serde(default)]
    pub per_intent: std::collections::BTreeMap<String, f64>,
}

/// The estimator section of a candidate config (schema only).
#[derive(Debug, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CandidateEstimator {
    /// Per-observation decay, in `(0, 1]`; 1 never forgets.
    #[schema(exclusive_minimum = 0, maximum = 1)]
    pub decay: f64,
    /// Correct weight a call count needs behind it before it can become `n`, >= 0.
    #[schema(minimum = 0)]
    pub min_support: f64,
    /// Share of all correct weight a call count needs behind it, in `[0, 1]`.
    #[schema(minimum = 0, maximum = 1)]
    pub quantile: f64,
    /// No longer used; kept so older configs parse. > 0.
    #[schema(exclusive_minimum = 0)]
    pub confidence_half: f64,
}

/// The budget section of a candidate config (schema only): how the served budget is learnt
/// and explored; every knob is documented in otc-policy's `budget::BudgetConfig`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CandidateBudget {
    /// The largest budget ever served, at most 1024.
    #[schema(minimum = 0, maximum = 1024)]
    pub max_budget: u32,
    /// The budget of a combination with no evidence, at most `max_budget`.
    #[schema(minimum = 0, maximum = 1024)]
    pub cold_start: u32,
    /// Success a lower budget may give up and still be preferred, in `(0, 0.5)`.
    #[schema(exclusive_minimum = 0, exclusive_maximum = 0.5)]
    pub tolerance: f64,
    /// Paired weight before paired evidence can move the budget down, >= 0.
    #[schema(minimum = 0)]
    pub min_evidence: f64,
    /// Weight served at a level before its success rate can move the budget, >= 0.
    #[schema(minimum = 0)]
    pub min_direct: f64,
    /// How many times likelier one answer must be before evidence moves the budget, >= 1.
    #[schema(minimum = 1)]
    pub evidence_odds: f64,
    /// Recent weight at the budget before a failing budget climbs, >= 0.
    #[schema(minimum = 0)]
    pub min_recent: f64,
    /// The budget climbs below this recent success rate, in `(0, 1)`.
    #[schema(exclusive_minimum = 0, exclusive_maximum = 1)]
    pub climb_below: f64,
    /// Per-observation decay of the recent window, in `(0, 1)`.
    #[schema(exclusive_minimum = 0, exclusive_maximum = 1)]
    pub recent_decay: f64,
    /// Per-observation decay of paired evidence, in `(0, 1]`.
    #[schema(exclusive_minimum = 0, maximum = 1)]
    pub reveal_decay: f64,
    /// Share of decisions served one level above the budget, in `[0, 0.5]`.
    /// The larger of it and `explore_up_undecided`, plus `explore_down` and `explore_order`,
    /// must stay at most 0.9.
    #[schema(minimum = 0, maximum = 0.5)]
    pub explore_up: f64,
    /// The same while a gain above the budget is undecided, in `[0, 0.5]`.
    #[schema(minimum = 0, maximum = 0.5)]
    pub explore_up_undecided: f64,
    /// Share of decisions served one level below during a probe, in `[0, 0.5]`.
    #[schema(minimum = 0, maximum = 0.5)]
    pub explore_down: f64,
    /// Observations at a budget before the level below is probed.
    #[schema(minimum = 0)]
    pub probe_after: u32,
    /// Share of decisions that put another module first, in `[0, 0.5]`.
    #[schema(minimum = 0, maximum = 0.5)]
    pub explore_order: f64,
}

// The schema's defaults are otc-policy's own (utoipa reads them from these impls), so the
// document cannot drift from the code.

impl Default for CandidateReward {
    fn default() -> Self {
        let r = otc_policy::RewardConfig::default();
        Self {
            alpha: r.alpha(),
            beta: r.beta(),
            smoothing: r.smoothing(),
        }
    }
}

impl Default for CandidateCost {
    fn default() -> Self {
        Self {
            // With no intent of its own, an intent's reference is the default one.
            default_reference: otc_policy::CostNormalizer::default().reference(""),
            per_intent: std::collections::BTreeMap::new(),
        }
    }
}

impl Default for CandidateEstimator {
    fn default() -> Self {
        let e = otc_policy::EstimatorConfig::default();
        Self {
            decay: e.decay,
            min_support: e.min_support,
            quantile: e.quantile,
            confidence_half: e.confidence_half,
        }
    }
}

impl Default for CandidateBudget {
    fn default() -> Self {
        let b = otc_policy::budget::BudgetConfig::default();
        Self {
            max_budget: b.max_budget,
            cold_start: b.cold_start,
            tolerance: b.tolerance,
            min_evidence: b.min_evidence,
            min_direct: b.min_direct,
            evidence_odds: b.evidence_odds,
            min_recent: b.min_recent,
            climb_below: b.climb_below,
            recent_decay: b.recent_decay,
            reveal_decay: b.reveal_decay,
            explore_up: b.explore_up,
            explore_up_undecided: b.explore_up_undecided,
            explore_down: b.explore_down,
            probe_after: b.probe_after,
            explore_order: b.explore_order,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The member names of `schema` (a component of the document), sorted.
    fn members(doc: &Value, schema: &str) -> Vec<String> {
        let mut names: Vec<String> = doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{schema} is in the document"))
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    fn keys(value: &Value) -> Vec<String> {
        let mut names: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    }

    /// The schema-only candidate types name exactly the members `PolicyConfig` reads, so a
    /// knob added to the policy cannot go undocumented.
    #[test]
    fn the_candidate_schema_names_every_member_of_the_policy_config() {
        let doc: Value = serde_json::from_str(&crate::router::openapi_document()).unwrap();
        let config = serde_json::to_value(otc_policy::PolicyConfig::default()).unwrap();
        assert_eq!(members(&doc, "CandidateConfig"), keys(&config));
        for (section, schema) in [
            ("reward", "CandidateReward"),
            ("cost", "CandidateCost"),
            ("estimator", "CandidateEstimator"),
            ("budget", "CandidateBudget"),
        ] {
            assert_eq!(members(&doc, schema), keys(&config[section]), "{section}");
        }
    }

    /// Whether `config` is a valid candidate by otc-policy's own rules (parse and range).
    fn valid(config: Value) -> bool {
        serde_json::from_value::<otc_policy::PolicyConfig>(config)
            .is_ok_and(|c| c.problem().is_none())
    }

    /// Every bound the document states for a candidate's member is the policy's: a value past
    /// it is refused, one at it (or just inside an exclusive one) accepted. The other knobs
    /// are set so that no rule that ties knobs together bites (exploration shares at 0, the
    /// largest budget at its maximum, the cold start at 0).
    #[test]
    fn the_documented_bounds_are_the_policys() {
        let doc: Value = serde_json::from_str(&crate::router::openapi_document()).unwrap();
        let mut relaxed = serde_json::to_value(otc_policy::PolicyConfig::default()).unwrap();
        for knob in [
            "explore_up",
            "explore_up_undecided",
            "explore_down",
            "explore_order",
        ] {
            relaxed["budget"][knob] = 0.0.into();
        }
        relaxed["budget"]["max_budget"] = 1024.into();
        relaxed["budget"]["cold_start"] = 0.into();
        let mut checked = 0;
        for (section, schema) in [
            ("reward", "CandidateReward"),
            ("cost", "CandidateCost"),
            ("estimator", "CandidateEstimator"),
            ("budget", "CandidateBudget"),
        ] {
            let properties = doc["components"]["schemas"][schema]["properties"]
                .as_object()
                .unwrap();
            for (name, property) in properties {
                let integer = property["type"] == "integer";
                let step = if integer { 1.0 } else { 1e-9 };
                let at = |value: f64| {
                    let mut config = relaxed.clone();
                    config[section][name] = if integer {
                        (value as i64).into()
                    } else {
                        value.into()
                    };
                    valid(config)
                };
                for (bound, outside, inside) in [
                    ("minimum", -step, 0.0),
                    ("maximum", step, 0.0),
                    ("exclusiveMinimum", 0.0, step),
                    ("exclusiveMaximum", 0.0, -step),
                ] {
                    let Some(b) = property[bound].as_f64() else {
                        continue;
                    };
                    checked += 1;
                    assert!(
                        !at(b + outside),
                        "{section}.{name} {bound} {b}: past it is valid"
                    );
                    assert!(
                        at(b + inside),
                        "{section}.{name} {bound} {b}: at it is invalid"
                    );
                }
            }
        }
        assert!(checked >= 25, "only {checked} bounds checked");
    }
}
