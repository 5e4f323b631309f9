//! The usage store on a real file across close and reopen: events, quotas, idempotency keys
//! and roll-ups all survive, and reopening an up-to-date file is a no-op migration.

use usage_store::period::{DAY_MS, days_from_civil};
use usage_store::schema::MIGRATIONS;
use usage_store::{
    BucketSize, HistoryQuery, MeterEvent, MeterOutcome, Quota, QuotaKind, QuotaPeriod,
    UsageBackend, UsageStore,
};

fn ts() -> i64 {
    days_from_civil(2026, 4, 2) * DAY_MS + 3_600_000
}

fn event(key: &str, units: f64) -> MeterEvent {
    MeterEvent {
        tenant: "acme".into(),
        request_id: "req-1".into(),
        module: "search".into(),
        tool: "web".into(),
        run_units: units,
        timestamp_ms: ts(),
        idempotency_key: key.into(),
    }
}

#[test]
fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    let quota = Quota {
        limit: 10.0,
        period: QuotaPeriod::Day,
        kind: QuotaKind::Soft,
    };
    {
        let store = UsageStore::open(&path).unwrap();
        store.set_quota("acme", &quota).unwrap();
        store
            .meter_batch(&[event("a", 4.0), event("b", 7.5)])
            .unwrap();
    }
    let store = UsageStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(store.quota("acme").unwrap(), Some(quota));
    assert!(matches!(
        store.meter(&event("a", 4.0)).unwrap(),
        MeterOutcome::Duplicate { .. }
    ));
    assert_eq!(store.request_total("req-1").unwrap(), Some(11.5));
    let usage = store.usage("acme", ts()).unwrap();
    let state = usage.state.unwrap();
    assert_eq!((usage.run_units, state.overage), (11.5, 1.5));
    let page = store
        .history(&HistoryQuery {
            tenant: "acme".into(),
            bucket: BucketSize::Hour,
            from_ms: ts() - DAY_MS,
            to_ms: ts() + DAY_MS,
            cursor: None,
            limit: None,
        })
        .unwrap();
    assert_eq!(page.buckets.len(), 1);
    assert_eq!(
        (page.buckets[0].start_ms, page.buckets[0].run_units),
        (ts(), 11.5)
    );
    drop(store);

    // A third open after more writes still sees one consistent log.
    let store = UsageStore::open(&path).unwrap();
    store.meter(&event("c", 0.5)).unwrap();
    drop(store);
    let store = UsageStore::open(&path).unwrap();
    assert_eq!(store.request_total("req-1").unwrap(), Some(12.0));
}
