//! The behaviour every [`UsageBackend`] must show, written once against the trait (feature
//! `conformance`; atuin's story test of `atuin-server-database` is the model).
//!
//! Each check is a `pub fn` taking an [`Opener`]: a closure that opens a handle on one storage
//! that is empty when the check starts. Every call opens another handle on the *same* storage,
//! as another process would, so the checks can share a store between handles (concurrent
//! writers) and drop every handle and open again (a reopen). A backend's tests call every
//! check in [`CHECKS`] with a fresh storage each, one `#[test]` per check, so a failure is
//! named:
//!
//! ```text
//! #[test]
//! fn a_batch_is_all_or_nothing() {
//!     conformance::a_batch_is_all_or_nothing(&fresh_storage());
//! }
//! ```
//!
//! The checks panic (assert) on the first difference, like any test.

mod batches;
mod concurrency;
mod history;
mod metering;
mod model;
mod queued;

use crate::UsageBackend;
use crate::model::MeterEvent;
use crate::period::utc_midnight_ms;
use std::sync::Arc;

pub use batches::a_batch_meters_as_its_events_one_by_one;
pub use concurrency::{
    a_hard_day_quota_holds_under_a_long_mixed_stress,
    a_hard_quota_is_never_exceeded_by_concurrent_writers,
};
pub use history::{
    a_range_edge_inside_a_bucket_widens_to_the_whole_bucket,
    day_buckets_split_at_the_month_edge_like_the_quota_period,
    hour_buckets_split_exactly_at_the_hour, malformed_queries_are_typed_errors,
    pages_follow_the_cursor_to_the_end,
};
pub use metering::{
    a_batch_is_all_or_nothing, a_hard_quota_refuses_exactly_at_the_limit,
    a_reused_key_with_different_content_is_a_conflict, a_soft_quota_records_the_overage,
    an_event_metered_twice_is_counted_once, bad_input_is_rejected_and_writes_nothing,
    everything_survives_a_reopen, malformed_quotas_are_rejected, the_backend_story,
    usage_is_per_module_and_request_totals_feed_the_cost_signal,
};
pub use model::the_backend_agrees_with_the_model;
pub use queued::queued_events_meter_as_events_one_by_one;

/// Opens a handle on the storage under test (see the module docs).
pub type Opener = dyn Fn() -> Arc<dyn UsageBackend>;

/// One conformance check.
pub type Check = fn(&Opener);

/// Every check, by name. A backend's test file has one `#[test]` per entry, named as the entry.
pub const CHECKS: &[(&str, Check)] = &[
    (
        "an_event_metered_twice_is_counted_once",
        an_event_metered_twice_is_counted_once,
    ),
    (
        "a_reused_key_with_different_content_is_a_conflict",
        a_reused_key_with_different_content_is_a_conflict,
    ),
    (
        "bad_input_is_rejected_and_writes_nothing",
        bad_input_is_rejected_and_writes_nothing,
    ),
    ("a_batch_is_all_or_nothing", a_batch_is_all_or_nothing),
    (
        "a_batch_meters_as_its_events_one_by_one",
        a_batch_meters_as_its_events_one_by_one,
    ),
    (
        "queued_events_meter_as_events_one_by_one",
        queued_events_meter_as_events_one_by_one,
    ),
    (
        "a_hard_quota_refuses_exactly_at_the_limit",
        a_hard_quota_refuses_exactly_at_the_limit,
    ),
    (
        "a_soft_quota_records_the_overage",
        a_soft_quota_records_the_overage,
    ),
    (
        "malformed_quotas_are_rejected",
        malformed_quotas_are_rejected,
    ),
    (
        "usage_is_per_module_and_request_totals_feed_the_cost_signal",
        usage_is_per_module_and_request_totals_feed_the_cost_signal,
    ),
    ("the_backend_story", the_backend_story),
    ("everything_survives_a_reopen", everything_survives_a_reopen),
    (
        "hour_buckets_split_exactly_at_the_hour",
        hour_buckets_split_exactly_at_the_hour,
    ),
    (
        "day_buckets_split_at_the_month_edge_like_the_quota_period",
        day_buckets_split_at_the_month_edge_like_the_quota_period,
    ),
    (
        "a_range_edge_inside_a_bucket_widens_to_the_whole_bucket",
        a_range_edge_inside_a_bucket_widens_to_the_whole_bucket,
    ),
    (
        "pages_follow_the_cursor_to_the_end",
        pages_follow_the_cursor_to_the_end,
    ),
    (
        "malformed_queries_are_typed_errors",
        malformed_queries_are_typed_errors,
    ),
    (
        "the_backend_agrees_with_the_model",
        the_backend_agrees_with_the_model,
    ),
    (
        "a_hard_quota_is_never_exceeded_by_concurrent_writers",
        a_hard_quota_is_never_exceeded_by_concurrent_writers,
    ),
    (
        "a_hard_day_quota_holds_under_a_long_mixed_stress",
        a_hard_day_quota_holds_under_a_long_mixed_stress,
    ),
];

/// 2026-01-15T00:00:00Z: safely in the past, mid-month.
fn t0() -> i64 {
    utc_midnight_ms(2026, 1, 15)
}

/// An event of `tenant` whose request id is `req-<key>`.
fn ev(tenant: &str, key: &str, module: &str, units: f64, ts_ms: i64) -> MeterEvent {
    MeterEvent {
        tenant: tenant.into(),
        request_id: format!("req-{key}"),
        module: module.into(),
        tool: "tool".into(),
        run_units: units,
        timestamp_ms: ts_ms,
        idempotency_key: key.into(),
    }
}

/// Exact micro-units of a run-unit amount the backend returned.
fn micros(units: f64) -> i64 {
    (units * 1e6).round() as i64
}
