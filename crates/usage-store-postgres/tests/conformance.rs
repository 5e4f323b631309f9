//! `usage_store::conformance` against PostgreSQL: each check in a fresh schema of the database
//! at `OTC_TEST_DATABASE_URL` (default: the local server's `test` database), dropped afterwards
//! even when the check panics; one `#[test]` per check so a failure is named. Built only with
//! the feature `postgres-tests` (`cargo xtask verify` turns it on when a server answers), so
//! `cargo test` on a machine without PostgreSQL skips it.

use postgres_kit::testing::TestSchema;
use std::sync::Arc;
use usage_store::UsageBackend;
use usage_store::conformance::{self, CHECKS, Opener};
use usage_store_postgres::{APPLICATION_NAME, PostgresUsageStore};

/// Runs `check` in a fresh schema; every `open` of the check is a new handle with its own
/// pool: another replica, in effect (the concurrency checks write through two of them).
fn run(check: fn(&Opener)) {
    let schema = TestSchema::new();
    let options = schema.options(APPLICATION_NAME);
    let open = move || -> Arc<dyn UsageBackend> {
        Arc::new(PostgresUsageStore::open_with(&options).expect("open the usage store"))
    };
    check(&open);
}

/// A check added to the suite without a test here would never run against PostgreSQL.
#[test]
fn every_check_has_a_test() {
    let this_file = include_str!("conformance.rs");
    let missing: Vec<_> = CHECKS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !this_file.contains(&format!("fn {name}() {{")))
        .collect();
    assert!(missing.is_empty(), "checks without a test: {missing:?}");
}

#[test]
fn an_event_metered_twice_is_counted_once() {
    run(conformance::an_event_metered_twice_is_counted_once);
}

#[test]
fn a_reused_key_with_different_content_is_a_conflict() {
    run(conformance::a_reused_key_with_different_content_is_a_conflict);
}

#[test]
fn bad_input_is_rejected_and_writes_nothing() {
    run(conformance::bad_input_is_rejected_and_writes_nothing);
}

#[test]
fn a_batch_is_all_or_nothing() {
    run(conformance::a_batch_is_all_or_nothing);
}

#[test]
fn a_batch_meters_as_its_events_one_by_one() {
    run(conformance::a_batch_meters_as_its_events_one_by_one);
}

#[test]
fn queued_events_meter_as_events_one_by_one() {
    run(conformance::queued_events_meter_as_events_one_by_one);
}

#[test]
fn a_hard_quota_refuses_exactly_at_the_limit() {
    run(conformance::a_hard_quota_refuses_exactly_at_the_limit);
}

#[test]
fn a_soft_quota_records_the_overage() {
    run(conformance::a_soft_quota_records_the_overage);
}

#[test]
fn malformed_quotas_are_rejected() {
    run(conformance::malformed_quotas_are_rejected);
}

#[test]
fn usage_is_per_module_and_request_totals_feed_the_cost_signal() {
    run(conformance::usage_is_per_module_and_request_totals_feed_the_cost_signal);
}

#[test]
fn the_backend_story() {
    run(conformance::the_backend_story);
}

#[test]
fn everything_survives_a_reopen() {
    run(conformance::everything_survives_a_reopen);
}

#[test]
fn hour_buckets_split_exactly_at_the_hour() {
    run(conformance::hour_buckets_split_exactly_at_the_hour);
}

#[test]
fn day_buckets_split_at_the_month_edge_like_the_quota_period() {
    run(conformance::day_buckets_split_at_the_month_edge_like_the_quota_period);
}

#[test]
fn a_range_edge_inside_a_bucket_widens_to_the_whole_bucket() {
    run(conformance::a_range_edge_inside_a_bucket_widens_to_the_whole_bucket);
}

#[test]
fn pages_follow_the_cursor_to_the_end() {
    run(conformance::pages_follow_the_cursor_to_the_end);
}

#[test]
fn malformed_queries_are_typed_errors() {
    run(conformance::malformed_queries_are_typed_errors);
}

#[test]
fn the_backend_agrees_with_the_model() {
    run(conformance::the_backend_agrees_with_the_model);
}

#[test]
fn a_hard_quota_is_never_exceeded_by_concurrent_writers() {
    run(conformance::a_hard_quota_is_never_exceeded_by_concurrent_writers);
}

#[test]
fn a_hard_day_quota_holds_under_a_long_mixed_stress() {
    run(conformance::a_hard_day_quota_holds_under_a_long_mixed_stress);
}
