//! The usage store's hard quota under concurrent writers: several threads on one shared store
//! and on a second store opened on the same file (as another process would) never push the
//! period's usage past the limit, not even by one micro-unit, and the roll-ups stay equal to
//! the event log.

use std::sync::Arc;
use usage_store::period::{DAY_MS, days_from_civil};
use usage_store::{
    MeterEvent, MeterOutcome, Quota, QuotaKind, QuotaPeriod, UsageBackend, UsageError, UsageStore,
};

const LIMIT: f64 = 100.0;

fn ts() -> i64 {
    days_from_civil(2026, 3, 10) * DAY_MS
}

/// What one writer thread saw: recorded micro-units and the number of refusals.
fn writer(store: Arc<UsageStore>, thread: usize, size: f64, attempts: usize) -> (i64, usize) {
    let mut recorded = 0i64;
    let mut refused = 0;
    for i in 0..attempts {
        let event = MeterEvent {
            tenant: "acme".into(),
            request_id: format!("req-{thread}-{i}"),
            module: format!("module-{}", i % 3),
            tool: "tool".into(),
            run_units: size,
            timestamp_ms: ts() + i as i64,
            idempotency_key: format!("{thread}/{i}"),
        };
        match store.meter(&event) {
            Ok(MeterOutcome::Recorded { run_units, .. }) => {
                recorded += (run_units * 1e6).round() as i64;
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(UsageError::QuotaExhausted {
                limit,
                used,
                requested,
                ..
            }) => {
                assert_eq!(limit, LIMIT);
                assert!(
                    used + requested > LIMIT,
                    "refused though {used} + {requested} fits"
                );
                refused += 1;
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    (recorded, refused)
}

#[test]
fn a_hard_quota_is_never_exceeded_by_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    let first = Arc::new(UsageStore::open(&path).unwrap());
    let second = Arc::new(UsageStore::open(&path).unwrap());
    first
        .set_quota(
            "acme",
            &Quota {
                limit: LIMIT,
                period: QuotaPeriod::Month,
                kind: QuotaKind::Hard,
            },
        )
        .unwrap();
    // Sizes that are not exact in binary and do not divide the limit evenly.
    let sizes = [0.3, 0.7, 1.1, 0.1, 2.9, 0.3, 0.7, 1.3];
    let handles: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(t, &size)| {
            let store = Arc::clone(if t.is_multiple_of(2) { &first } else { &second });
            std::thread::spawn(move || writer(store, t, size, 60))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let recorded: i64 = results.iter().map(|r| r.0).sum();
    let refused: usize = results.iter().map(|r| r.1).sum();

    let limit_micros = (LIMIT * 1e6) as i64;
    assert!(
        recorded <= limit_micros,
        "recorded {recorded} micro-units over {limit_micros}"
    );
    assert!(refused > 0, "the test must actually hit the quota");
    // Full to within the largest event: the quota refused nothing it could have taken.
    assert!(limit_micros - recorded < 2_900_000);

    let state = first.usage("acme", ts()).unwrap().state.unwrap();
    assert_eq!((state.used * 1e6).round() as i64, recorded);
    assert!(state.used <= LIMIT);

    // The roll-ups are exactly the log's sums.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let sum = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let raw = sum("SELECT SUM(micro_units) FROM meter_events");
    assert_eq!(raw, recorded);
    assert_eq!(sum("SELECT SUM(micro_units) FROM usage_hourly"), raw);
    assert_eq!(sum("SELECT SUM(micro_units) FROM usage_daily"), raw);
    assert_eq!(
        sum("SELECT SUM(events) FROM usage_daily"),
        sum("SELECT COUNT(*) FROM meter_events")
    );
}

/// The same invariant under a longer, mixed load: single events and batches, on a day quota,
/// with events on both sides of midnight (two periods filling at once).
#[test]
fn a_hard_day_quota_holds_under_a_long_mixed_stress() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    let stores = [
        Arc::new(UsageStore::open(&path).unwrap()),
        Arc::new(UsageStore::open(&path).unwrap()),
    ];
    let limit = 500.0;
    stores[0]
        .set_quota(
            "acme",
            &Quota {
                limit,
                period: QuotaPeriod::Day,
                kind: QuotaKind::Hard,
            },
        )
        .unwrap();
    let midnight = ts() + DAY_MS;
    let handles: Vec<_> = (0..12)
        .map(|t| {
            let store = Arc::clone(&stores[t % 2]);
            std::thread::spawn(move || {
                for i in 0..150 {
                    let one = |k: usize| MeterEvent {
                        tenant: "acme".into(),
                        request_id: format!("req-{t}-{i}"),
                        module: "m".into(),
                        tool: "tool".into(),
                        run_units: 0.1 + ((t + k) % 7) as f64 * 0.35,
                        // Alternate between the last and the first minute of two days.
                        timestamp_ms: if (i + k).is_multiple_of(2) {
                            midnight - 1 - k as i64
                        } else {
                            midnight + k as i64
                        },
                        idempotency_key: format!("{t}/{i}/{k}"),
                    };
                    let result = if i.is_multiple_of(3) {
                        store.meter_batch(&[one(0), one(1), one(2)]).map(|_| ())
                    } else {
                        store.meter(&one(0)).map(|_| ())
                    };
                    match result {
                        Ok(()) | Err(UsageError::QuotaExhausted { .. }) => {}
                        Err(other) => panic!("unexpected error {other}"),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for probe in [midnight - 1, midnight] {
        let state = stores[1].usage("acme", probe).unwrap().state.unwrap();
        assert!(
            state.used <= limit,
            "day of {probe}: used {} > {limit}",
            state.used
        );
        assert!(
            state.used > limit - 2.5,
            "day of {probe} not filled: {}",
            state.used
        );
    }
}
