//! The usage store's interface: a small trait that each storage backend implements (SQLite
//! today, see [`crate::UsageStore`]), so callers and the contract suite do not depend on one.

use crate::UsageError;
use crate::cost::CostNormalizer;
use crate::model::{
    HistoryPage, HistoryQuery, MeterEvent, MeterOutcome, Quota, RequestUsage, Usage,
};

/// Run-unit metering, usage, history and quotas. Implementations are `Send + Sync` and take
/// `&self`, so one instance in an `Arc` serves every thread.
pub trait UsageBackend: Send + Sync + std::fmt::Debug {
    /// Records one event, at most once per `(tenant, idempotency_key)`.
    ///
    /// Validation, the idempotency check, the quota check and the append happen atomically: a
    /// hard quota is never exceeded, even by concurrent writers. A retry of a recorded event is
    /// `Duplicate` even once the quota is exhausted. Errors write nothing.
    fn meter(&self, event: &MeterEvent) -> Result<MeterOutcome, UsageError>;

    /// Records several events in one transaction, all or nothing: if any event is invalid,
    /// conflicts, or would break a hard quota, none is recorded and that event's error is
    /// returned. Repeated keys inside the batch are `Duplicate` after their first occurrence.
    /// At most [`crate::MAX_BATCH_EVENTS`] events.
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

    /// The OTC cost signal of a request: its metered run-units through `normalizer` for
    /// `intent` (see [`crate::cost`]), or `None` if nothing was metered for it.
    fn request_r_cost(
        &self,
        request_id: &str,
        intent: &str,
        normalizer: &CostNormalizer,
    ) -> Result<Option<f64>, UsageError> {
        match self.request_total(request_id)? {
            Some(units) => Ok(Some(normalizer.r_cost(intent, units)?)),
            None => Ok(None),
        }
    }

    /// Sets (or replaces) the tenant's quota. Applies to events metered from now on.
    fn set_quota(&self, tenant: &str, quota: &Quota) -> Result<(), UsageError>;

    /// The tenant's quota, if any.
    fn quota(&self, tenant: &str) -> Result<Option<Quota>, UsageError>;

    /// Removes the tenant's quota; `true` if there was one.
    fn delete_quota(&self, tenant: &str) -> Result<bool, UsageError>;
}
