//! HTTP shapes of the billing endpoints. They mirror usage-store's serde types field for
//! field (same JSON), adding the OpenAPI schema the store's types do not carry; the `From`
//! impls make the compiler check that every field is carried over.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use usage_store as us;
use utoipa::ToSchema;

/// The tenant used when a request names none.
pub const DEFAULT_TENANT: &str = "default";

fn default_tenant() -> String {
    DEFAULT_TENANT.to_owned()
}

/// One metered tool call, as the orchestrator reports it. Its names (tenant, request, module,
/// tool, idempotency key) are not blank, at most 256 bytes of UTF-8, without control
/// characters; `module` must be in the module catalogue.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterRequest {
    /// The paying tenant (default `default`).
    #[serde(default = "default_tenant")]
    #[schema(
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        min_length = 1,
        max_length = 256
    )]
    pub tenant: String,
    /// The orchestrator request this tool call belongs to.
    #[schema(
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        min_length = 1,
        max_length = 256
    )]
    pub request_id: String,
    /// The module that served the call.
    #[schema(
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        min_length = 1,
        max_length = 256
    )]
    pub module: String,
    /// The tool that was called.
    #[schema(
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        min_length = 1,
        max_length = 256
    )]
    pub tool: String,
    /// Cost of the call: finite, 0 to 1e6.
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub run_units: f64,
    /// When the call happened, Unix ms UTC; at most 5 minutes in the future. Part of the
    /// event: a retry must send the same value.
    #[schema(minimum = 0)]
    pub timestamp_ms: i64,
    /// Retries of the same event carry the same key and are counted once (per tenant).
    #[schema(
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        min_length = 1,
        max_length = 256
    )]
    pub idempotency_key: String,
}

impl MeterRequest {
    /// The store's event.
    pub fn into_event(self) -> us::MeterEvent {
        us::MeterEvent {
            tenant: self.tenant,
            request_id: self.request_id,
            module: self.module,
            tool: self.tool,
            run_units: self.run_units,
            timestamp_ms: self.timestamp_ms,
            idempotency_key: self.idempotency_key,
        }
    }
}

/// What metering did with the event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MeterOutcome {
    /// The event was new and is now recorded (HTTP 201).
    Recorded {
        /// Row id of the stored event.
        event_id: i64,
        /// Run-units as stored (rounded to the micro-unit).
        run_units: f64,
        /// Run-units beyond a soft quota's limit (0 when within, or no quota).
        overage: f64,
    },
    /// The idempotency key was seen before with the same event; nothing was added (HTTP 200).
    Duplicate {
        /// Row id of the original event.
        event_id: i64,
    },
}

impl From<us::MeterOutcome> for MeterOutcome {
    fn from(o: us::MeterOutcome) -> Self {
        match o {
            us::MeterOutcome::Recorded {
                event_id,
                run_units,
                overage,
            } => Self::Recorded {
                event_id,
                run_units,
                overage,
            },
            us::MeterOutcome::Duplicate { event_id } => Self::Duplicate { event_id },
        }
    }
}

/// A UTC calendar day or month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuotaPeriod {
    /// A UTC calendar day.
    Day,
    /// A UTC calendar month.
    Month,
}

impl From<us::QuotaPeriod> for QuotaPeriod {
    fn from(p: us::QuotaPeriod) -> Self {
        match p {
            us::QuotaPeriod::Day => Self::Day,
            us::QuotaPeriod::Month => Self::Month,
        }
    }
}

impl From<QuotaPeriod> for us::QuotaPeriod {
    fn from(p: QuotaPeriod) -> Self {
        match p {
            QuotaPeriod::Day => Self::Day,
            QuotaPeriod::Month => Self::Month,
        }
    }
}

/// Hard quotas refuse events beyond the limit; soft quotas record them with their overage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuotaKind {
    /// Refuse (HTTP 429, problem type `quota-exhausted`).
    Hard,
    /// Record, with overage.
    Soft,
}

/// A quota: at most `limit` run-units per UTC `period`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Run-units per period, 0 to 1e12.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub limit: f64,
    /// Day or month.
    pub period: QuotaPeriod,
    /// Hard or soft.
    pub kind: QuotaKind,
}

impl From<us::Quota> for Quota {
    fn from(q: us::Quota) -> Self {
        Self {
            limit: q.limit,
            period: q.period.into(),
            kind: match q.kind {
                us::QuotaKind::Hard => QuotaKind::Hard,
                us::QuotaKind::Soft => QuotaKind::Soft,
            },
        }
    }
}

impl From<Quota> for us::Quota {
    fn from(q: Quota) -> Self {
        Self {
            limit: q.limit,
            period: q.period.into(),
            kind: match q.kind {
                QuotaKind::Hard => us::QuotaKind::Hard,
                QuotaKind::Soft => us::QuotaKind::Soft,
            },
        }
    }
}

/// How much of its quota the current period has used (the quota itself sits next to it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuotaState {
    /// Run-units metered in the current period.
    pub used: f64,
    /// `max(0, limit - used)`.
    pub remaining: f64,
    /// `max(0, used - limit)`. A soft quota gets one by metering past its limit; a hard quota
    /// only when its limit was lowered below what the period had already used.
    pub overage: f64,
    /// `used >= limit`.
    pub exhausted: bool,
}

impl From<us::QuotaState> for QuotaState {
    fn from(s: us::QuotaState) -> Self {
        Self {
            used: s.used,
            remaining: s.remaining,
            overage: s.overage,
            exhausted: s.exhausted,
        }
    }
}

/// A concrete period `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PeriodWindow {
    /// Day or month.
    pub period: QuotaPeriod,
    /// First millisecond.
    pub start_ms: i64,
    /// First millisecond after.
    pub end_ms: i64,
}

/// Totals of one module.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModuleTotal {
    /// Run-units.
    pub run_units: f64,
    /// Metered events.
    pub events: u64,
}

fn module_total((module, t): (String, us::ModuleTotal)) -> (String, ModuleTotal) {
    (
        module,
        ModuleTotal {
            run_units: t.run_units,
            events: t.events,
        },
    )
}

/// A tenant's usage in its current quota period (the calendar month without a quota).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    /// The tenant.
    pub tenant: String,
    /// The current period.
    pub window: PeriodWindow,
    /// Run-units metered in the period.
    pub run_units: f64,
    /// Events metered in the period.
    pub events: u64,
    /// Per module.
    pub by_module: BTreeMap<String, ModuleTotal>,
    /// The quota, or null.
    pub quota: Option<Quota>,
    /// Its state in the period, or null (present exactly when `quota` is).
    pub state: Option<QuotaState>,
}

impl From<us::Usage> for Usage {
    fn from(u: us::Usage) -> Self {
        Self {
            tenant: u.tenant,
            window: PeriodWindow {
                period: u.window.period.into(),
                start_ms: u.window.start_ms,
                end_ms: u.window.end_ms,
            },
            run_units: u.run_units,
            events: u.events,
            by_module: u.by_module.into_iter().map(module_total).collect(),
            quota: u.quota.map(Into::into),
            state: u.state.map(Into::into),
        }
    }
}

/// History bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BucketSize {
    /// One clock hour (UTC).
    Hour,
    /// One UTC calendar day.
    Day,
}

impl From<BucketSize> for us::BucketSize {
    fn from(b: BucketSize) -> Self {
        match b {
            BucketSize::Hour => Self::Hour,
            BucketSize::Day => Self::Day,
        }
    }
}

impl From<us::BucketSize> for BucketSize {
    fn from(b: us::BucketSize) -> Self {
        match b {
            us::BucketSize::Hour => Self::Hour,
            us::BucketSize::Day => Self::Day,
        }
    }
}

/// One history bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryBucket {
    /// First millisecond.
    pub start_ms: i64,
    /// First millisecond after.
    pub end_ms: i64,
    /// Run-units metered in the bucket.
    pub run_units: f64,
    /// Events metered in the bucket.
    pub events: u64,
    /// The same, per module.
    pub by_module: BTreeMap<String, ModuleTotal>,
}

/// One page of history; empty buckets are omitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryPage {
    /// The tenant.
    pub tenant: String,
    /// Hour or day.
    pub bucket: BucketSize,
    /// Effective start (aligned down to a bucket).
    pub from_ms: i64,
    /// Effective end (aligned up to a bucket).
    pub to_ms: i64,
    /// Non-empty buckets, oldest first.
    pub buckets: Vec<HistoryBucket>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<i64>,
}

impl From<us::HistoryPage> for HistoryPage {
    fn from(p: us::HistoryPage) -> Self {
        Self {
            tenant: p.tenant,
            bucket: p.bucket.into(),
            from_ms: p.from_ms,
            to_ms: p.to_ms,
            buckets: p
                .buckets
                .into_iter()
                .map(|b| HistoryBucket {
                    start_ms: b.start_ms,
                    end_ms: b.end_ms,
                    run_units: b.run_units,
                    events: b.events,
                    by_module: b.by_module.into_iter().map(module_total).collect(),
                })
                .collect(),
            next_cursor: p.next_cursor,
        }
    }
}

/// A tenant's quota (null when it has none) and its current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuotaView {
    /// The tenant.
    pub tenant: String,
    /// The quota, or null.
    pub quota: Option<Quota>,
    /// Its state in the current period, or null.
    pub state: Option<QuotaState>,
}
