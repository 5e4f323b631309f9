//! Retention of the partitioned event log on a real server (feature `postgres-tests`): what
//! goes, what stays exact, what a retry of a dropped event becomes (the rule is in
//! `src/retention.rs`), and a row for a month without a partition refused rather than lost.
//! Months are set with the store's test clock, so every event goes through the real write
//! path. Each test works in its own schema.

mod common;

use common::{billing_tables, count, dump, event, event_id, raw};
use postgres_kit::partitions;
use postgres_kit::testing::TestSchema;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use usage_store::period::{BucketSize, HOUR_MS, QuotaPeriod, utc_midnight_ms};
use usage_store::{
    HistoryQuery, MeterEvent, MeterOutcome, Quota, QuotaKind, UsageBackend, UsageError,
};
use usage_store_postgres::{APPLICATION_NAME, PostgresUsageStore};

/// A store whose clock the test sets.
fn clocked(schema: &TestSchema) -> (PostgresUsageStore, Arc<AtomicI64>) {
    let now = Arc::new(AtomicI64::new(utc_midnight_ms(2025, 11, 1)));
    let read = Arc::clone(&now);
    let store = PostgresUsageStore::open_with(&schema.options(APPLICATION_NAME))
        .expect("open")
        .with_clock(move || read.load(Ordering::SeqCst));
    (store, now)
}

const MONTHS: [(i16, i8); 4] = [(2025, 11), (2025, 12), (2026, 1), (2026, 2)];
const JAN_1: i64 = 1_767_225_600_000;

/// Four months of recording (Nov 2025 to Feb 2026), each: five events of `acme` (one request
/// per month, a hard monthly quota of 6 that December fills exactly) and three of `soft` (a
/// soft monthly quota of 2, so one overage a month); plus one event at the last millisecond of
/// December and one at the first of January. Ends with the clock at 20 February.
fn four_months(store: &PostgresUsageStore, now: &AtomicI64) {
    now.store(utc_midnight_ms(2025, 11, 1), Ordering::SeqCst);
    let quota = |limit, kind| Quota {
        limit,
        period: QuotaPeriod::Month,
        kind,
    };
    store
        .set_quota("acme", &quota(6.0, QuotaKind::Hard))
        .unwrap();
    store
        .set_quota("soft", &quota(2.0, QuotaKind::Soft))
        .unwrap();
    for (y, m) in MONTHS {
        let at = utc_midnight_ms(y, m, 10) + 12 * HOUR_MS;
        now.store(at, Ordering::SeqCst);
        for i in 0..5 {
            let key = format!("{y}{m:02}-{i}");
            let ts = at - i * HOUR_MS;
            let e = event("acme", &key, &format!("req-{y}{m:02}"), 1.0, ts);
            assert!(matches!(store.meter(&e), Ok(MeterOutcome::Recorded { .. })));
        }
        for i in 0..3 {
            let e = event("soft", &format!("s{y}{m:02}-{i}"), "req-soft", 1.0, at);
            store.meter(&e).unwrap();
        }
    }
    for (at, key) in [(JAN_1 - 1, "edge-dec"), (JAN_1, "edge-jan")] {
        now.store(at, Ordering::SeqCst);
        let e = event("acme", key, &format!("req-{key}"), 1.0, at);
        assert!(matches!(store.meter(&e), Ok(MeterOutcome::Recorded { .. })));
    }
    now.store(utc_midnight_ms(2026, 2, 20), Ordering::SeqCst);
}

/// What a reader of the store sees of both tenants: usage of each month, day and hour history,
/// and the quota check of a late December event (refused: December is full).
fn api_view(store: &PostgresUsageStore) -> Vec<String> {
    let mut view = Vec::new();
    for tenant in ["acme", "soft"] {
        for (y, m) in MONTHS {
            view.push(format!(
                "{:?}",
                store.usage(tenant, utc_midnight_ms(y, m, 2))
            ));
        }
        for bucket in [BucketSize::Day, BucketSize::Hour] {
            let page = store.history(&HistoryQuery {
                tenant: tenant.into(),
                bucket,
                from_ms: utc_midnight_ms(2025, 11, 1),
                to_ms: utc_midnight_ms(2026, 3, 1),
                cursor: None,
                limit: Some(1000),
            });
            view.push(format!("{page:?}"));
        }
    }
    let late = event(
        "acme",
        "late-dec",
        "req-late",
        0.5,
        utc_midnight_ms(2025, 12, 20),
    );
    view.push(format!("{:?}", store.meter(&late)));
    view
}

/// Retention in two steps: a cut one millisecond before January drops November only (the
/// December partition ends after the cut, so December stays whole, its last millisecond too);
/// a cut in mid-January drops December and keeps January from its first millisecond. The
/// roll-ups, quotas and audit are untouched, so usage, history and the quota check answer the
/// same; request totals of dropped months are gone; the keys of dropped events are forgotten.
#[test]
fn retention_drops_whole_months_and_leaves_billing_exact() {
    let schema = TestSchema::new();
    let (store, now) = clocked(&schema);
    four_months(&store, &now);
    let mut client = raw(&schema);
    let billing = billing_tables(&mut client);
    let view = api_view(&store);
    assert!(view.last().unwrap().contains("QuotaExhausted"), "{view:?}");
    let kept_sql = "SELECT * FROM meter_events WHERE recorded_ms >= 1767225600000 ORDER BY id";
    let kept_rows = dump(&mut client, kept_sql);
    let recorded_before = |client: &mut postgres::Client, at: i64| {
        count(
            client,
            &format!("SELECT COUNT(*) FROM meter_events WHERE recorded_ms < {at}"),
        ) as u64
    };
    let in_nov = recorded_before(&mut client, utc_midnight_ms(2025, 12, 1));
    let in_dec = recorded_before(&mut client, JAN_1) - in_nov;
    assert_eq!((in_nov, in_dec), (8, 9));

    let first = store.drop_events_before(JAN_1 - 1).unwrap();
    let names = |r: &usage_store_postgres::EventRetention| -> Vec<String> {
        r.partitions.iter().map(|p| p.name.clone()).collect()
    };
    assert_eq!(names(&first), ["meter_events_p202511"]);
    assert_eq!(first.events_dropped, in_nov);
    assert_eq!(first.keys_forgotten, in_nov);
    assert_eq!(first.kept_from_ms, utc_midnight_ms(2025, 12, 1));
    let edge = store.request_usage("req-edge-dec").unwrap();
    assert!(edge.is_some(), "December is kept whole by a cut inside it");

    let cut = utc_midnight_ms(2026, 1, 15) + 12 * HOUR_MS;
    let second = store.drop_events_before(cut).unwrap();
    assert_eq!(names(&second), ["meter_events_p202512"]);
    assert_eq!(second.partitions[0].from_ms, utc_midnight_ms(2025, 12, 1));
    assert_eq!(second.partitions[0].to_ms, JAN_1);
    assert_eq!(second.partitions[0].events, in_dec);
    assert_eq!(
        (second.events_dropped, second.keys_forgotten),
        (in_dec, in_dec)
    );
    assert_eq!(
        second.kept_from_ms, JAN_1,
        "a cut inside January keeps January"
    );

    // Only whole months before the cut are gone; everything recorded from January is kept.
    let left = partitions::list(&mut client, "meter_events").unwrap();
    assert!(left.iter().all(|p| p.to_ms > cut), "{left:?}");
    for name in ["meter_events_p202601", "meter_events_p202602"] {
        assert!(left.iter().any(|p| p.name == name), "{name} kept");
    }
    assert_eq!(dump(&mut client, kept_sql), kept_rows);
    assert_eq!(recorded_before(&mut client, JAN_1), 0);
    let keys_sql = |op| format!("SELECT COUNT(*) FROM meter_keys WHERE recorded_ms {op} {JAN_1}");
    assert_eq!(count(&mut client, &keys_sql("<")), 0);
    assert_eq!(
        count(&mut client, &keys_sql(">=")),
        count(&mut client, "SELECT COUNT(*) FROM meter_events")
    );

    // Billing is exact: the same tables, the same answers, the same refusal.
    assert_eq!(billing_tables(&mut client), billing);
    assert_eq!(api_view(&store), view);
    // The quota reads the roll-ups: November's events are gone but its 5 units still count.
    let late_nov = event(
        "acme",
        "late-nov",
        "req-late",
        1.5,
        utc_midnight_ms(2025, 11, 20),
    );
    match store.meter(&late_nov) {
        Err(UsageError::QuotaExhausted { used, .. }) => assert_eq!(used, 5.0),
        other => panic!("expected the quota to refuse, got {other:?}"),
    }

    // Lost, as documented: request totals of dropped events; kept months answer as before.
    for request in ["req-202511", "req-202512", "req-edge-dec"] {
        assert_eq!(store.request_usage(request).unwrap(), None, "{request}");
    }
    for (request, events) in [("req-202601", 5), ("req-202602", 5), ("req-edge-jan", 1)] {
        let usage = store.request_usage(request).unwrap().unwrap();
        assert_eq!((usage.events, usage.run_units), (events, events as f64));
    }
}

/// Retention interrupted between its two steps (the month dropped, its keys not yet
/// forgotten): a retry of a dropped event is a `Duplicate` of its id, with the same content or
/// not (there is nothing to compare it with), and counts nothing. Running retention again
/// forgets the keys; a retry after that is recorded, and counted, as a new event.
#[test]
fn a_retry_of_a_dropped_event_is_a_duplicate_until_its_key_is_forgotten() {
    let schema = TestSchema::new();
    let (store, now) = clocked(&schema);
    four_months(&store, &now);
    let mut client = raw(&schema);
    let nov = utc_midnight_ms(2025, 11, 10) + 12 * HOUR_MS;
    let retry = event("acme", "202511-0", "req-202511", 1.0, nov);
    let original = event_id(store.meter(&retry).unwrap());
    client
        .batch_execute("DROP TABLE meter_events_p202511")
        .unwrap();
    let billing = billing_tables(&mut client);

    let changed = MeterEvent {
        tool: "another-tool".into(),
        ..retry.clone()
    };
    for attempt in [&retry, &changed] {
        assert_eq!(
            store.meter(attempt).unwrap(),
            MeterOutcome::Duplicate { event_id: original }
        );
    }
    assert_eq!(billing_tables(&mut client), billing, "nothing counted");

    let again = store
        .drop_events_before(utc_midnight_ms(2025, 12, 1))
        .unwrap();
    assert_eq!(again.partitions, []);
    assert_eq!((again.events_dropped, again.keys_forgotten), (0, 8));

    let MeterOutcome::Recorded { event_id, .. } = store.meter(&retry).unwrap() else {
        panic!("a forgotten key is a new event");
    };
    assert!(event_id > original);
    let used = store.usage("acme", nov).unwrap().run_units;
    assert_eq!(used, 6.0, "November's 5 units and the retry counted again");
}

/// The chunked delete of keys goes on until none is left below the cut's month: 25,000 keys
/// with no event (more than two chunks) and one real event's key are all forgotten, and the
/// keys of kept months stay.
#[test]
fn forgetting_keys_goes_on_past_one_chunk() {
    let schema = TestSchema::new();
    let (store, now) = clocked(&schema);
    now.store(utc_midnight_ms(2025, 11, 10), Ordering::SeqCst);
    store
        .meter(&event(
            "acme",
            "nov",
            "r",
            1.0,
            utc_midnight_ms(2025, 11, 9),
        ))
        .unwrap();
    now.store(utc_midnight_ms(2025, 12, 10), Ordering::SeqCst);
    store
        .meter(&event(
            "acme",
            "dec",
            "r",
            1.0,
            utc_midnight_ms(2025, 12, 9),
        ))
        .unwrap();
    let mut client = raw(&schema);
    client
        .batch_execute(&format!(
            "INSERT INTO meter_keys SELECT 'old', 'k' || i, -i, {} + i
             FROM generate_series(1, 25000) i",
            utc_midnight_ms(2025, 10, 1)
        ))
        .unwrap();
    let report = store
        .drop_events_before(utc_midnight_ms(2025, 12, 1))
        .unwrap();
    assert_eq!(report.events_dropped, 1);
    assert_eq!(report.keys_forgotten, 25_001);
    assert_eq!(
        dump(&mut client, "SELECT idempotency_key FROM meter_keys"),
        ["dec"]
    );
}

/// Retention of the future is refused and drops nothing.
#[test]
fn a_cut_in_the_future_is_refused() {
    let schema = TestSchema::new();
    let (store, now) = clocked(&schema);
    four_months(&store, &now);
    let mut client = raw(&schema);
    let before = partitions::list(&mut client, "meter_events").unwrap();
    let err = store
        .drop_events_before(now.load(Ordering::SeqCst) + 1)
        .unwrap_err();
    assert!(
        matches!(
            err,
            UsageError::InvalidInput {
                field: "cut_ms",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        partitions::list(&mut client, "meter_events").unwrap(),
        before
    );
}

/// A write whose month has no partition (dropped behind the handle's back, which believes it
/// exists) is refused with a storage error and writes nothing, no key and no roll-up; the
/// handle then forgets its months and the next write makes the partition again. A month the
/// handle never saw gets its partition on its first write.
#[test]
fn a_row_for_a_month_without_partition_is_refused_not_lost() {
    let schema = TestSchema::new();
    let (store, now) = clocked(&schema);
    let march = utc_midnight_ms(2026, 3, 10);
    now.store(march, Ordering::SeqCst);
    store.meter(&event("acme", "a", "r", 1.0, march)).unwrap();
    let mut client = raw(&schema);
    client
        .batch_execute("DROP TABLE meter_events_p202603")
        .unwrap();
    let billing = billing_tables(&mut client);
    let keys = dump(&mut client, "SELECT * FROM meter_keys");

    let b = event("acme", "b", "r", 1.0, march);
    match store.meter(&b) {
        Err(UsageError::Storage(source)) => {
            let cause = format!("{source:?}");
            assert!(cause.contains("no partition"), "{cause}");
        }
        other => panic!("expected a storage error, got {other:?}"),
    }
    assert_eq!(billing_tables(&mut client), billing, "no roll-up");
    assert_eq!(
        dump(&mut client, "SELECT * FROM meter_keys"),
        keys,
        "no key"
    );

    assert!(matches!(store.meter(&b), Ok(MeterOutcome::Recorded { .. })));
    let april = utc_midnight_ms(2026, 4, 2);
    now.store(april, Ordering::SeqCst);
    assert!(matches!(
        store.meter(&event("acme", "c", "r", 1.0, april)),
        Ok(MeterOutcome::Recorded { .. })
    ));
    assert_eq!(
        dump(
            &mut client,
            "SELECT tableoid::regclass::text, idempotency_key FROM meter_events ORDER BY 2"
        ),
        ["meter_events_p202603|b", "meter_events_p202604|c"]
    );
}
