//! Conformance checks of the hard quota under concurrent writers: threads on one shared handle
//! and on a second handle to the same storage (as another process would have) never push the
//! period's usage past the limit, not even by one micro-unit.

use super::{Opener, micros};
use crate::model::{MeterEvent, MeterOutcome, Quota, QuotaKind};
use crate::period::{DAY_MS, QuotaPeriod, utc_midnight_ms};
use crate::{UsageBackend, UsageError};
use std::sync::Arc;

const LIMIT: f64 = 100.0;

fn ts() -> i64 {
    utc_midnight_ms(2026, 3, 10)
}

/// What one writer thread saw: recorded micro-units and the number of refusals.
fn writer(store: Arc<dyn UsageBackend>, thread: usize, size: f64, attempts: usize) -> (i64, usize) {
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
            Ok(MeterOutcome::Recorded { run_units, .. }) => recorded += micros(run_units),
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

/// Eight threads on two handles fill a 100-unit monthly hard quota of tenant `acme` in March
/// 2026 with sizes that are not exact in binary: what they recorded is at most the limit in
/// exact micro-units, within one event of it, and equal to the usage and the history. (A
/// backend's own tests may check its storage's sums after this.)
pub fn a_hard_quota_is_never_exceeded_by_concurrent_writers(open: &Opener) {
    let first = open();
    let second = open();
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

    let limit_micros = micros(LIMIT);
    assert!(
        recorded <= limit_micros,
        "recorded {recorded} micro-units over {limit_micros}"
    );
    assert!(refused > 0, "the check must actually hit the quota");
    // Full to within the largest event: the quota refused nothing it could have taken.
    assert!(limit_micros - recorded < 2_900_000);

    let usage = first.usage("acme", ts()).unwrap();
    let state = usage.state.unwrap();
    assert_eq!(micros(state.used), recorded);
    assert!(state.used <= LIMIT);
    // The roll-ups behind usage and history agree with what the writers saw recorded.
    let events: u64 = results.iter().map(|r| 60 - r.1 as u64).sum();
    assert_eq!(usage.events, events);
    let page = second
        .history(&crate::model::HistoryQuery {
            tenant: "acme".into(),
            bucket: crate::period::BucketSize::Hour,
            from_ms: ts(),
            to_ms: ts() + DAY_MS,
            cursor: None,
            limit: None,
        })
        .unwrap();
    let history: i64 = page.buckets.iter().map(|b| micros(b.run_units)).sum();
    assert_eq!(history, recorded);
}

/// The same invariant under a longer, mixed load: single events and batches, on a day quota,
/// with events on both sides of midnight (two periods filling at once).
pub fn a_hard_day_quota_holds_under_a_long_mixed_stress(open: &Opener) {
    let stores = [open(), open()];
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
