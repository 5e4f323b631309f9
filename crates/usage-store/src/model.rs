//! The store's serde types (inputs and outputs, usable directly as HTTP bodies), their
//! validation, and the run-unit fixed-point conversion.
//!
//! Run-units cross the API as `f64` and are stored as integer micro-units (`1 run-unit =
//! 1_000_000 micro-units`, rounded to nearest). Integer sums are exact and associative, so a
//! hard quota comparison `used + requested <= limit` means exactly what it says.

use crate::UsageError;
use crate::period::{BucketSize, MAX_TS_MS, PeriodWindow, QuotaPeriod};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Micro-units per run-unit: the storage resolution is one millionth of a run-unit.
pub const MICROS_PER_UNIT: f64 = 1_000_000.0;
/// Largest run-units one metering event may carry. Anything above is a caller bug.
pub const MAX_EVENT_RUN_UNITS: f64 = 1_000_000.0;
/// Largest quota limit, in run-units (keeps every sum far inside `i64` micro-units).
pub const MAX_QUOTA_RUN_UNITS: f64 = 1_000_000_000_000.0;
/// Longest accepted tenant, request id, module, tool or idempotency key, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// One metered tool call, as the orchestrator reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterEvent {
    /// The paying tenant.
    pub tenant: String,
    /// The orchestrator request this tool call belongs to.
    pub request_id: String,
    /// The module that served the call.
    pub module: String,
    /// The tool that was called.
    pub tool: String,
    /// Cost of the call: finite, `0 <= run_units <= MAX_EVENT_RUN_UNITS` (zero is allowed for
    /// free or cached calls, which still count as events).
    pub run_units: f64,
    /// When the call happened (Unix ms, UTC). Not before 1970 and not more than the store's
    /// allowed clock skew in the future. Decides the event's buckets and quota period.
    pub timestamp_ms: i64,
    /// Retries of the same event carry the same key; the event is then counted once. Scoped
    /// to the tenant.
    pub idempotency_key: String,
}

/// What [`crate::UsageBackend::meter`] did with one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum MeterOutcome {
    /// The event was new and is now recorded.
    Recorded {
        /// Row id of the stored event.
        event_id: i64,
        /// Run-units as stored (rounded to the micro-unit).
        run_units: f64,
        /// Run-units of this event beyond a soft quota's limit (0 when within, or no quota).
        overage: f64,
    },
    /// The idempotency key was seen before with the same event: nothing was added.
    Duplicate {
        /// Row id of the original event.
        event_id: i64,
    },
}

/// Whether a quota refuses or only records usage beyond its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaKind {
    /// An event that would take the period's usage above the limit is refused.
    Hard,
    /// Such an event is recorded, and its overage is recorded with it.
    Soft,
}

/// A tenant's quota: at most `limit` run-units per UTC `period`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Run-units per period: finite, `0 <= limit <= MAX_QUOTA_RUN_UNITS`.
    pub limit: f64,
    /// The period the limit applies to.
    pub period: QuotaPeriod,
    /// Hard or soft.
    pub kind: QuotaKind,
}

/// How much of a quota the current period has used. The quota itself is not repeated here:
/// every reply that carries a state carries its quota next to it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaState {
    /// Run-units metered in the current period.
    pub used: f64,
    /// `max(0, limit - used)`.
    pub remaining: f64,
    /// `max(0, used - limit)`. A soft quota gets one by metering past its limit; a hard quota
    /// only when its limit was lowered below what the period had already used (it never
    /// meters past its limit).
    pub overage: f64,
    /// `used >= limit`: a hard quota refuses every further non-free event this period.
    pub exhausted: bool,
}

/// Totals of one module.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleTotal {
    /// Run-units.
    pub run_units: f64,
    /// Metered events.
    pub events: u64,
}

/// A tenant's usage in its current quota period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// The tenant.
    pub tenant: String,
    /// The current period: the quota's, or the calendar month when the tenant has no quota.
    pub window: PeriodWindow,
    /// Run-units metered in the period.
    pub run_units: f64,
    /// Events metered in the period.
    pub events: u64,
    /// The same, per module (modules with no events are absent).
    pub by_module: BTreeMap<String, ModuleTotal>,
    /// The tenant's quota, if it has one.
    pub quota: Option<Quota>,
    /// The quota's state in the period (present exactly when `quota` is).
    pub state: Option<QuotaState>,
}

/// Default page size of a history query.
pub const DEFAULT_HISTORY_LIMIT: u32 = 100;
/// Largest page size of a history query.
pub const MAX_HISTORY_LIMIT: u32 = 1000;

/// A history request: a tenant's usage in UTC-aligned buckets over `[from_ms, to_ms)`.
///
/// The range is widened to whole buckets (`from_ms` down, `to_ms` up): a bucket is never
/// split, so a range that starts at 10:30 with day buckets includes that whole day. The page
/// reports the effective range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// The tenant.
    pub tenant: String,
    /// Hour or day.
    pub bucket: BucketSize,
    /// Start of the range (inclusive).
    pub from_ms: i64,
    /// End of the range (exclusive), greater than `from_ms`.
    pub to_ms: i64,
    /// `next_cursor` of the previous page; absent for the first page.
    #[serde(default)]
    pub cursor: Option<i64>,
    /// Buckets per page, `1..=MAX_HISTORY_LIMIT` (default `DEFAULT_HISTORY_LIMIT`).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// One history bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryBucket {
    /// First millisecond of the bucket.
    pub start_ms: i64,
    /// First millisecond after it.
    pub end_ms: i64,
    /// Run-units metered in the bucket.
    pub run_units: f64,
    /// Events metered in the bucket.
    pub events: u64,
    /// The same, per module (modules with no events in the bucket are absent).
    pub by_module: BTreeMap<String, ModuleTotal>,
}

/// One page of history. Buckets without events are omitted (the series is sparse).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryPage {
    /// The tenant.
    pub tenant: String,
    /// Hour or day.
    pub bucket: BucketSize,
    /// Effective start of the range (aligned down to a bucket).
    pub from_ms: i64,
    /// Effective end of the range (aligned up to a bucket).
    pub to_ms: i64,
    /// Non-empty buckets, oldest first.
    pub buckets: Vec<HistoryBucket>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<i64>,
}

/// What one request was metered, over all its tool calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestUsage {
    /// The request.
    pub request_id: String,
    /// Run-units of all its events.
    pub run_units: f64,
    /// Number of events (metered tool calls).
    pub events: u64,
    /// The same, per module.
    pub by_module: BTreeMap<String, ModuleTotal>,
}

/// Run-units as integer micro-units, or why they are malformed (not finite, negative, or above
/// `max`).
pub fn units_to_micros(field: &'static str, units: f64, max: f64) -> Result<i64, UsageError> {
    if !units.is_finite() {
        return Err(UsageError::invalid(
            field,
            format!("must be finite, got {units}"),
        ));
    }
    if units < 0.0 {
        return Err(UsageError::invalid(
            field,
            format!("must be >= 0, got {units}"),
        ));
    }
    if units > max {
        return Err(UsageError::invalid(
            field,
            format!("must be <= {max}, got {units}"),
        ));
    }
    // Exact: |units| <= 1e12, so units * 1e6 <= 1e18 < 2^63 and the cast cannot saturate.
    Ok((units * MICROS_PER_UNIT).round() as i64)
}

/// Micro-units back to run-units (exact for totals below 2^53 micro-units, ~9 billion units).
pub fn micros_to_units(micros: i64) -> f64 {
    micros as f64 / MICROS_PER_UNIT
}

/// Checks a tenant, request id, module, tool or idempotency key: not blank, at most
/// [`MAX_NAME_BYTES`], no control characters.
pub fn check_name(field: &'static str, value: &str) -> Result<(), UsageError> {
    if value.trim().is_empty() {
        return Err(UsageError::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_NAME_BYTES {
        return Err(UsageError::invalid(
            field,
            format!(
                "must be at most {MAX_NAME_BYTES} bytes, got {}",
                value.len()
            ),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(UsageError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks a timestamp: in `[0, MAX_TS_MS)` Unix ms.
pub fn check_ts(field: &'static str, ts_ms: i64) -> Result<(), UsageError> {
    if !(0..MAX_TS_MS).contains(&ts_ms) {
        return Err(UsageError::invalid(
            field,
            format!("must be in [0, {MAX_TS_MS}) Unix ms, got {ts_ms}"),
        ));
    }
    Ok(())
}

/// A [`MeterEvent`] that passed validation, with its units in micro-units.
#[derive(Debug, Clone)]
pub struct ValidEvent<'a> {
    /// The event as given.
    pub event: &'a MeterEvent,
    /// Its run-units in micro-units.
    pub micros: i64,
}

impl MeterEvent {
    /// Checks every field; `now_ms` (the backend's clock) and `max_skew_ms` bound the timestamp
    /// from above. Every backend validates an event with this before it writes anything.
    pub fn validate(&self, now_ms: i64, max_skew_ms: i64) -> Result<ValidEvent<'_>, UsageError> {
        check_name("tenant", &self.tenant)?;
        check_name("request_id", &self.request_id)?;
        check_name("module", &self.module)?;
        check_name("tool", &self.tool)?;
        check_name("idempotency_key", &self.idempotency_key)?;
        check_ts("timestamp_ms", self.timestamp_ms)?;
        if self.timestamp_ms > now_ms.saturating_add(max_skew_ms) {
            return Err(UsageError::invalid(
                "timestamp_ms",
                format!(
                    "{} is more than {max_skew_ms} ms in the future (now {now_ms})",
                    self.timestamp_ms
                ),
            ));
        }
        let micros = units_to_micros("run_units", self.run_units, MAX_EVENT_RUN_UNITS)?;
        Ok(ValidEvent {
            event: self,
            micros,
        })
    }
}

impl Quota {
    /// The limit in micro-units, or why the quota is malformed.
    pub fn limit_micros(&self) -> Result<i64, UsageError> {
        units_to_micros("limit", self.limit, MAX_QUOTA_RUN_UNITS)
    }

    /// The state of this quota after `used_micros` in the current period.
    pub fn state(&self, limit_micros: i64, used_micros: i64) -> QuotaState {
        QuotaState {
            used: micros_to_units(used_micros),
            remaining: micros_to_units((limit_micros - used_micros).max(0)),
            overage: micros_to_units((used_micros - limit_micros).max(0)),
            exhausted: used_micros >= limit_micros,
        }
    }
}

impl HistoryQuery {
    /// The page size to use, or why it is malformed.
    pub fn page_limit(&self) -> Result<u32, UsageError> {
        let limit = self.limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
        if !(1..=MAX_HISTORY_LIMIT).contains(&limit) {
            return Err(UsageError::invalid(
                "limit",
                format!("must be in 1..={MAX_HISTORY_LIMIT}, got {limit}"),
            ));
        }
        Ok(limit)
    }

    /// Checks the whole query and widens it to whole buckets: the range a backend reads, or why
    /// the query is malformed. Every backend checks a history query with this.
    pub fn range(&self) -> Result<HistoryRange, UsageError> {
        check_name("tenant", &self.tenant)?;
        check_ts("from_ms", self.from_ms)?;
        if !(1..=MAX_TS_MS).contains(&self.to_ms) {
            return Err(UsageError::invalid(
                "to_ms",
                format!("must be in [1, {MAX_TS_MS}] Unix ms, got {}", self.to_ms),
            ));
        }
        if self.to_ms <= self.from_ms {
            return Err(UsageError::invalid("to_ms", "must be greater than from_ms"));
        }
        let limit = self.page_limit()?;
        let (from_ms, to_ms) = (
            self.bucket.floor(self.from_ms),
            self.bucket.ceil(self.to_ms),
        );
        let start_ms = match self.cursor {
            None => from_ms,
            Some(c) if (from_ms..to_ms).contains(&c) && self.bucket.floor(c) == c => c,
            Some(c) => {
                return Err(UsageError::invalid(
                    "cursor",
                    format!("{c} is not a bucket start inside the query's range"),
                ));
            }
        };
        Ok(HistoryRange {
            from_ms,
            to_ms,
            start_ms,
            limit,
        })
    }
}

/// A checked [`HistoryQuery`]'s range, widened to whole buckets ([`HistoryQuery::range`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryRange {
    /// Effective start of the range (aligned down to a bucket).
    pub from_ms: i64,
    /// Effective end of the range (aligned up to a bucket).
    pub to_ms: i64,
    /// First bucket of this page: the cursor, or `from_ms` on the first page.
    pub start_ms: i64,
    /// Buckets per page.
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unit_conversion_rejects_bad_values() {
        for bad in [f64::NAN, f64::INFINITY, -0.5, 1e7] {
            assert!(matches!(
                units_to_micros("run_units", bad, MAX_EVENT_RUN_UNITS),
                Err(UsageError::InvalidInput {
                    field: "run_units",
                    ..
                })
            ));
        }
        assert_eq!(units_to_micros("x", 0.1, 1.0).unwrap(), 100_000);
        assert_eq!(units_to_micros("x", -0.0, 1.0).unwrap(), 0);
    }

    proptest! {
        #[test]
        fn micros_round_trip_within_half_a_micro(u in 0.0..MAX_EVENT_RUN_UNITS) {
            let m = units_to_micros("x", u, MAX_EVENT_RUN_UNITS).unwrap();
            prop_assert!((micros_to_units(m) - u).abs() <= 0.5e-6 + u * f64::EPSILON);
        }
    }
}
