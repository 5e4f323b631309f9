//! The usage store's public contract: its SQLite schema and the JSON shapes of its serde types
//! (the admin API sends them as they are). The behaviour every `UsageBackend` must show is
//! `usage_store::conformance`, run by each backend's crate.

use serde_json::json;
use std::collections::BTreeMap;
use usage_store::period::{DAY_MS, utc_midnight_ms};
use usage_store::{
    BucketSize, HistoryBucket, HistoryPage, HistoryQuery, MeterEvent, MeterOutcome, ModuleTotal,
    Quota, QuotaKind, QuotaPeriod, QuotaState, RequestUsage, Usage,
};
use usage_store_sqlite::SqliteUsageStore;

/// Every table, index and trigger of a fresh store, with its SQL.
#[test]
fn usage_schema_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    drop(SqliteUsageStore::open(&path).unwrap());
    insta::assert_json_snapshot!(suites::schema::schema_of(&path));
}

/// One example of every type the HTTP layer sends or receives.
#[test]
fn usage_json_shapes() {
    let quota = Quota {
        limit: 100.0,
        period: QuotaPeriod::Month,
        kind: QuotaKind::Hard,
    };
    let window = QuotaPeriod::Month.window(utc_midnight_ms(2026, 5, 20));
    let modules = BTreeMap::from([(
        "search".to_owned(),
        ModuleTotal {
            run_units: 2.5,
            events: 2,
        },
    )]);
    let shapes = json!({
        "meter_event": MeterEvent {
            tenant: "acme".into(), request_id: "req-1".into(), module: "search".into(),
            tool: "web".into(), run_units: 1.25, timestamp_ms: window.start_ms, idempotency_key: "req-1/0".into(),
        },
        "outcome_recorded": MeterOutcome::Recorded { event_id: 7, run_units: 1.25, overage: 0.0 },
        "outcome_duplicate": MeterOutcome::Duplicate { event_id: 7 },
        "quota": quota,
        "usage": Usage {
            tenant: "acme".into(), window, run_units: 2.5, events: 2, by_module: modules.clone(),
            quota: Some(quota),
            state: Some(QuotaState { used: 2.5, remaining: 97.5, overage: 0.0, exhausted: false }),
        },
        "history_query": HistoryQuery {
            tenant: "acme".into(), bucket: BucketSize::Day, from_ms: window.start_ms,
            to_ms: window.end_ms, cursor: None, limit: Some(31),
        },
        "history_page": HistoryPage {
            tenant: "acme".into(), bucket: BucketSize::Day, from_ms: window.start_ms, to_ms: window.end_ms,
            buckets: vec![HistoryBucket {
                start_ms: window.start_ms, end_ms: window.start_ms + DAY_MS, run_units: 2.5, events: 2,
                by_module: modules.clone(),
            }],
            next_cursor: Some(window.start_ms + DAY_MS),
        },
        "request_usage": RequestUsage {
            request_id: "req-1".into(), run_units: 2.5, events: 2, by_module: modules,
        },
    });
    insta::assert_json_snapshot!(shapes);
    // Every input and output reads back from its own JSON, and inputs refuse unknown fields.
    let event: MeterEvent = serde_json::from_value(shapes["meter_event"].clone()).unwrap();
    assert_eq!(event.run_units, 1.25);
    let _: Usage = serde_json::from_value(shapes["usage"].clone()).unwrap();
    let _: HistoryPage = serde_json::from_value(shapes["history_page"].clone()).unwrap();
    let _: MeterOutcome = serde_json::from_value(shapes["outcome_duplicate"].clone()).unwrap();
    let mut extra = shapes["meter_event"].clone();
    extra["surprise"] = json!(1);
    assert!(serde_json::from_value::<MeterEvent>(extra).is_err());
    let mut extra = shapes["quota"].clone();
    extra["surprise"] = json!(1);
    assert!(serde_json::from_value::<Quota>(extra).is_err());
}
