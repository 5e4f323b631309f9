//! The usage store's public contract: its SQLite schema, the JSON shapes of its serde types
//! (the admin API sends them as they are), and one behaviour story run against every
//! `UsageBackend` implementation.

use serde_json::json;
use std::collections::BTreeMap;
use usage_store::period::{DAY_MS, days_from_civil};
use usage_store::{
    BucketSize, HistoryBucket, HistoryPage, HistoryQuery, MeterEvent, MeterOutcome, ModuleTotal,
    Quota, QuotaKind, QuotaPeriod, QuotaState, RequestUsage, Usage, UsageBackend, UsageError,
    UsageStore,
};

/// Every table, index and trigger of a fresh store, with its SQL.
#[test]
fn usage_schema_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    drop(UsageStore::open(&path).unwrap());
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
    let window = QuotaPeriod::Month.window(days_from_civil(2026, 5, 20) * DAY_MS);
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

/// The behaviour every backend must show, written once against the trait.
fn backend_story(store: &dyn UsageBackend) {
    let ts = days_from_civil(2026, 6, 1) * DAY_MS;
    let event = |key: &str, units: f64| MeterEvent {
        tenant: "acme".into(),
        request_id: "req-1".into(),
        module: "search".into(),
        tool: "web".into(),
        run_units: units,
        timestamp_ms: ts,
        idempotency_key: key.into(),
    };
    store
        .set_quota(
            "acme",
            &Quota {
                limit: 3.0,
                period: QuotaPeriod::Day,
                kind: QuotaKind::Hard,
            },
        )
        .unwrap();
    assert!(matches!(
        store.meter(&event("a", 2.0)).unwrap(),
        MeterOutcome::Recorded { .. }
    ));
    assert!(matches!(
        store.meter(&event("a", 2.0)).unwrap(),
        MeterOutcome::Duplicate { .. }
    ));
    assert!(matches!(
        store.meter(&event("b", 1.5)),
        Err(UsageError::QuotaExhausted { .. })
    ));
    assert!(matches!(
        store.meter(&event("c", f64::NAN)),
        Err(UsageError::InvalidInput {
            field: "run_units",
            ..
        })
    ));
    assert_eq!(store.request_total("req-1").unwrap(), Some(2.0));
    let usage = store.usage("acme", ts).unwrap();
    assert_eq!(
        (usage.run_units, usage.state.unwrap().remaining),
        (2.0, 1.0)
    );
    let page = store
        .history(&HistoryQuery {
            tenant: "acme".into(),
            bucket: BucketSize::Day,
            from_ms: ts,
            to_ms: ts + DAY_MS,
            cursor: None,
            limit: None,
        })
        .unwrap();
    assert_eq!(page.buckets.len(), 1);
    assert!(store.delete_quota("acme").unwrap());
    assert!(matches!(
        store.meter(&event("b", 1.5)).unwrap(),
        MeterOutcome::Recorded { .. }
    ));
}

#[test]
fn sqlite_backend_keeps_the_usage_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = UsageStore::open(dir.path().join("usage.db")).unwrap();
    backend_story(&store);
}
