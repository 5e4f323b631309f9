//! The usage store's interface: a small trait that each storage backend implements (SQLite in
//! `usage-store-sqlite`), so callers and the conformance suite depend on no backend.

use crate::UsageError;
use crate::model::{
    HistoryPage, HistoryQuery, MeterEvent, MeterOutcome, Quota, RequestUsage, Usage,
};
use std::future::Future;
use std::pin::Pin;

/// The answer of [`UsageBackend::meter_queued`]: resolves, without a thread of the caller's,
/// to the outcome once the event committed. Runtime-agnostic (std's `Future`): the backend
/// wakes it from a thread of its own.
pub type QueuedMeter = Pin<Box<dyn Future<Output = Result<MeterOutcome, UsageError>> + Send>>;

/// Most events one [`UsageBackend::meter_batch`] call accepts.
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// Default tolerance for event timestamps ahead of the backend's clock: 5 minutes.
pub const DEFAULT_MAX_FUTURE_SKEW_MS: i64 = 5 * 60 * 1000;

/// Run-unit metering, usage, history and quotas. Implementations are `Send + Sync` and take
/// `&self`, so one instance in an `Arc` serves every thread.
///
/// Every backend applies the same input rules (the `validate`-style methods of
/// [`crate::model`]) and must pass `crate::conformance` (feature `conformance`).
pub trait UsageBackend: Send + Sync + std::fmt::Debug {
    /// Records one event, at most once per `(tenant, idempotency_key)`.
    ///
    /// Validation, the idempotency check, the quota check and the append happen atomically: a
    /// hard quota is never exceeded, even by concurrent writers. A retry of a recorded event is
    /// `Duplicate` even once the quota is exhausted. Errors write nothing.
    fn meter(&self, event: &MeterEvent) -> Result<MeterOutcome, UsageError>;

    /// [`UsageBackend::meter`] without blocking the calling thread, for an async caller (a
    /// request handler) that would otherwise move the call to a blocking thread: the event is
    /// queued for the backend's writer and the future resolves, once it committed, to what
    /// `meter` would have returned, with every guarantee of `meter`. Dropping the future does
    /// not withdraw the event. `None` when the backend has no such writer (then call `meter`
    /// where blocking is allowed). The default has none.
    fn meter_queued(&self, event: &MeterEvent) -> Option<QueuedMeter> {
        let _ = event;
        None
    }

    /// Records several events in one transaction, all or nothing: if any event is invalid,
    /// conflicts, or would break a hard quota, none is recorded and that event's error is
    /// returned. Repeated keys inside the batch are `Duplicate` after their first occurrence.
    /// At most [`MAX_BATCH_EVENTS`] events.
    fn meter_batch(&self, events: &[MeterEvent]) -> Result<Vec<MeterOutcome>, UsageError>;

    /// The tenant's totals by module for the quota period containing `at_ms` (the calendar
    /// month if the tenant has no quota), with the quota's state.
    fn usage(&self, tenant: &str, at_ms: i64) -> Result<Usage, UsageError>;

    /// One page of the tenant's usage in hour or day buckets.
    fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, UsageError>;

    /// Everything metered for one request, or `None` if nothing was. Request ids are the
    /// orchestrator's and globally unique, so this is not scoped to a tenant.
    fn request_usage(&self, request_id: &str) -> Result<Option<RequestUsage>, UsageError>;

    /// The run-units metered for one request, or `None` if nothing was.
    fn request_total(&self, request_id: &str) -> Result<Option<f64>, UsageError> {
        Ok(self.request_usage(request_id)?.map(|u| u.run_units))
    }

    /// Sets (or replaces) the tenant's quota. Applies to events metered from now on.
    fn set_quota(&self, tenant: &str, quota: &Quota) -> Result<(), UsageError>;

    /// The tenant's quota, if any.
    fn quota(&self, tenant: &str) -> Result<Option<Quota>, UsageError>;

    /// Removes the tenant's quota; `true` if there was one.
    fn delete_quota(&self, tenant: &str) -> Result<bool, UsageError>;

    /// A cheap read that proves the storage answers (a server's readiness probe). It reads no
    /// tenant's data and writes nothing.
    fn check_ready(&self) -> Result<(), UsageError>;
}
