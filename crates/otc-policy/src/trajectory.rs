//! A completed request as the policy learns from it ([`Trajectory`]), its validation limits, and
//! the canonical form of a module set. Pure: no I/O (the caller passes the clock in).

pub use crate::module_set::ModuleSet;
use serde::{Deserialize, Serialize};

/// Longest request id, intent or module name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Most modules a module set may hold (a call is stored as a one-byte index into its set).
pub const MAX_MODULES: usize = 64;
/// Most tool calls one trajectory may record.
pub const MAX_CALLS: usize = 1024;
/// Largest run-units a single request may report.
pub const MAX_RUN_UNITS: f64 = 1e9;
/// Largest latency a single request may report: one day, in milliseconds.
pub const MAX_LATENCY_MS: f64 = 86_400_000.0;
/// How far in the future (relative to the ingesting clock) a timestamp may lie: one day, which
/// absorbs clock skew between hosts but rejects seconds-vs-milliseconds mix-ups.
pub const MAX_FUTURE_SKEW_MS: i64 = 86_400_000;

/// One completed request: what was available, what was called, what it cost, whether it was right.
///
/// Unknown JSON fields are rejected, so a typo in a field name is an error, not a silent default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trajectory {
    /// Unique id of the request; ingest is idempotent on it.
    pub request_id: String,
    /// Intent class of the request.
    pub intent: String,
    /// The module set available when the request was decided (order does not matter).
    pub modules: Vec<String>,
    /// The module of each tool call, in call order; `m = calls.len()`.
    pub calls: Vec<String>,
    /// Metered run-units the request spent.
    pub run_units: f64,
    /// Whether the answer was correct.
    pub correct: bool,
    /// End-to-end latency of the request in milliseconds.
    pub latency_ms: f64,
    /// When the request completed, Unix milliseconds UTC.
    pub timestamp_ms: i64,
    /// The decision (`POST /admin/otc/decisions`) that served this request, if it asked for
    /// one. It tells the policy which budget the request was given, which is what the budget
    /// is learnt from; without it the request counts as given the budget the policy serves
    /// without exploring (what `GET /admin/otc/policy` advises), or, for a combination's first
    /// trajectory, the calls it made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<u64>,
    /// The module whose result answered, if the orchestrator knows (ignored on an incorrect
    /// trajectory). Without it a correct request credits the module of its last call, or shares
    /// that credit (see [`crate::arms`]): send it when the agent calls other tools after it
    /// has the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    /// Which call's result the answer used, counted from 1 (0: the answer used no tool
    /// result), if the orchestrator knows (e.g. the tool call the answer cites; ignored on an
    /// incorrect trajectory). It shows that any budget of at least this many calls would have
    /// answered, which is how an agent that uses every call it is given still reveals a lower
    /// budget (see [`crate::budget`]). With `answered_by` it must name a call to that module.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<u32>,
}

/// Why a trajectory was rejected. Nothing is written for a rejected trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ValidationError {
    /// A name (request id, intent, module) is empty, too long or uses characters outside
    /// `[A-Za-z0-9._:-]`.
    #[error("{field}: {reason}")]
    BadName {
        /// Which field (`request_id`, `intent`, `modules`, `calls`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The module set is empty, too large, or lists a module twice.
    #[error("modules: {0}")]
    BadModuleSet(String),
    /// More calls than [`MAX_CALLS`].
    #[error("calls: {count} calls exceed the limit of {MAX_CALLS}")]
    TooManyCalls {
        /// Calls in the trajectory.
        count: usize,
    },
    /// A call names a module that is not in the trajectory's module set.
    #[error("calls[{index}]: the module is not in the module set")]
    CallOutsideSet {
        /// Position of the call.
        index: usize,
        /// The module it names.
        module: String,
    },
    /// A number is NaN, infinite, negative or beyond its limit.
    #[error("{field}: {value} is outside [0, {max}] or not finite")]
    BadNumber {
        /// Which field (`run_units`, `latency_ms`).
        field: &'static str,
        /// The rejected value (as text, so NaN and infinities survive JSON).
        value: String,
        /// Its upper limit.
        max: f64,
    },
    /// `decision_id` names no logged decision.
    #[error("decision_id: no such decision was logged")]
    UnknownDecision {
        /// The id.
        id: u64,
    },
    /// `decision_id` names a decision made for another intent or module set.
    #[error("decision_id: the decision was made for another intent or module set")]
    DecisionMismatch {
        /// The id.
        id: u64,
    },
    /// `decision_id` names a decision another request already reported on (one decision
    /// serves one request).
    #[error(
        "decision_id: the decision already served another request (one decision serves one request)"
    )]
    DecisionUsed {
        /// The id.
        id: u64,
    },
    /// `answered_by` names a module the trajectory did not call.
    #[error("answered_by: the module was not called")]
    AnsweredByNotCalled {
        /// The module it names.
        module: String,
    },
    /// `answered_at` counts past the trajectory's calls.
    #[error("answered_at: {value} is beyond the {calls} calls made")]
    AnsweredAtBeyondCalls {
        /// The rejected index.
        value: u32,
        /// Calls in the trajectory.
        calls: usize,
    },
    /// `answered_at` and `answered_by` disagree: the call at `answered_at` is not to the
    /// module `answered_by` names (or `answered_at` is 0, no tool, while a module is named).
    #[error("answered_at: {}", disagreement(*value))]
    AnsweredAtDisagrees {
        /// The index.
        value: u32,
    },
    /// The timestamp is negative or more than [`MAX_FUTURE_SKEW_MS`] ahead of the clock.
    #[error("timestamp_ms: {value} is negative or too far in the future (now {now_ms})")]
    BadTimestamp {
        /// The rejected timestamp.
        value: i64,
        /// The clock it was checked against.
        now_ms: i64,
    },
}

/// Why `answered_at` (the call `at`) cannot go with `answered_by`.
fn disagreement(at: u32) -> &'static str {
    if at == 0 {
        "0 says no tool result answered, while answered_by names a module"
    } else {
        "the call it names is not to the module answered_by names"
    }
}

fn check_name(field: &'static str, name: &str) -> Result<(), ValidationError> {
    // A list's field names the list: say it is one of its names that is wrong.
    let subject = match field {
        "modules" => "a module name ",
        "calls" => "a call's module name ",
        _ => "",
    };
    let bad = |reason: String| ValidationError::BadName {
        field,
        reason: format!("{subject}{reason}"),
    };
    if name.is_empty() {
        return Err(bad("must not be empty".into()));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(bad(format!(
            "is {} bytes, over the limit of {MAX_NAME_BYTES}",
            name.len()
        )));
    }
    // The name is not repeated: an error never echoes the client's text.
    if name
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        return Err(bad(
            "contains a character outside [A-Za-z0-9._:-]".to_owned()
        ));
    }
    Ok(())
}

fn check_number(field: &'static str, value: f64, max: f64) -> Result<(), ValidationError> {
    if value.is_finite() && (0.0..=max).contains(&value) {
        Ok(())
    } else {
        // Scientific notation for huge values: `1e308` must not come back as 309 digits.
        let value = if value.is_finite() && value.abs() >= 1e15 {
            format!("{value:e}")
        } else {
            value.to_string()
        };
        Err(ValidationError::BadNumber { field, value, max })
    }
}

impl ValidationError {
    /// Where in a trajectory's JSON the problem is, as RFC 6901 pointer segments without the
    /// leading `/` (`latency_ms`, `calls/3`), for error reports that point at the field.
    pub fn field_path(&self) -> String {
        match self {
            Self::BadName { field, .. } | Self::BadNumber { field, .. } => (*field).to_owned(),
            Self::BadModuleSet(_) => "modules".to_owned(),
            Self::TooManyCalls { .. } => "calls".to_owned(),
            Self::CallOutsideSet { index, .. } => format!("calls/{index}"),
            Self::BadTimestamp { .. } => "timestamp_ms".to_owned(),
            Self::AnsweredByNotCalled { .. } => "answered_by".to_owned(),
            Self::AnsweredAtBeyondCalls { .. } | Self::AnsweredAtDisagrees { .. } => {
                "answered_at".to_owned()
            }
            Self::UnknownDecision { .. }
            | Self::DecisionMismatch { .. }
            | Self::DecisionUsed { .. } => "decision_id".to_owned(),
        }
    }
}

impl Trajectory {
    /// Checks every limit of this module against the clock `now_ms` (Unix milliseconds).
    pub fn validate(&self, now_ms: i64) -> Result<(), ValidationError> {
        self.validated_set(now_ms).map(drop)
    }

    /// Validates like [`Trajectory::validate`] and returns the canonical module set.
    pub fn validated_set(&self, now_ms: i64) -> Result<ModuleSet, ValidationError> {
        check_name("request_id", &self.request_id)?;
        check_names(&self.intent, &self.modules)?;
        let set = ModuleSet::new(&self.modules)?;
        if self.calls.len() > MAX_CALLS {
            return Err(ValidationError::TooManyCalls {
                count: self.calls.len(),
            });
        }
        for (index, module) in self.calls.iter().enumerate() {
            if set.index_of(module).is_none() {
                return Err(ValidationError::CallOutsideSet {
                    index,
                    module: module.clone(),
                });
            }
        }
        if let Some(module) = &self.answered_by {
            check_name("answered_by", module)?;
            if !self.calls.contains(module) {
                return Err(ValidationError::AnsweredByNotCalled {
                    module: module.clone(),
                });
            }
        }
        if let Some(at) = self.answered_at {
            let index = usize::try_from(at).unwrap_or(usize::MAX);
            if index > self.calls.len() {
                return Err(ValidationError::AnsweredAtBeyondCalls {
                    value: at,
                    calls: self.calls.len(),
                });
            }
            if let Some(module) = &self.answered_by
                && (index == 0 || self.calls[index - 1] != *module)
            {
                return Err(ValidationError::AnsweredAtDisagrees { value: at });
            }
        }
        check_number("run_units", self.run_units, MAX_RUN_UNITS)?;
        check_number("latency_ms", self.latency_ms, MAX_LATENCY_MS)?;
        if self.timestamp_ms < 0 || self.timestamp_ms > now_ms.saturating_add(MAX_FUTURE_SKEW_MS) {
            return Err(ValidationError::BadTimestamp {
                value: self.timestamp_ms,
                now_ms,
            });
        }
        Ok(set)
    }

    /// [`Trajectory::validate`] against the system clock.
    pub fn validate_now(&self) -> Result<(), ValidationError> {
        self.validate(jiff::Timestamp::now().as_millisecond())
    }
}

/// Checks an intent class name: the same rules as a trajectory's (so a filter that names an
/// impossible intent is an error, not an empty answer).
pub fn check_intent(intent: &str) -> Result<(), ValidationError> {
    check_name("intent", intent)
}

/// Checks an (intent, module list) pair as a recommendation request: the same name and size
/// limits as a trajectory's.
pub fn check_names(intent: &str, modules: &[String]) -> Result<(), ValidationError> {
    check_name("intent", intent)?;
    if modules.is_empty() {
        return Err(ValidationError::BadModuleSet("must not be empty".into()));
    }
    if modules.len() > MAX_MODULES {
        return Err(ValidationError::BadModuleSet(format!(
            "{} modules exceed the limit of {MAX_MODULES}",
            modules.len()
        )));
    }
    modules.iter().try_for_each(|m| check_name("modules", m))
}

#[cfg(test)]
#[path = "trajectory_tests.rs"]
mod tests;
