//! Model-based property test: random event sequences (retries, conflicting key reuse, free
//! events, a month edge, hard or soft quotas) give exactly the outcomes and totals of a plain
//! in-memory model written from the documented rules.

use proptest::prelude::*;
use std::collections::HashMap;
use usage_store::period::{DAY_MS, HOUR_MS, days_from_civil};
use usage_store::{
    BucketSize, HistoryQuery, MeterEvent, MeterOutcome, Quota, QuotaKind, QuotaPeriod,
    UsageBackend, UsageError, UsageStore,
};

const SIZES: [f64; 5] = [0.0, 0.1, 0.3, 1.0, 2.5];

/// Two days either side of 2026-03-01T00:00Z, so month and day periods both have an edge.
fn edge() -> i64 {
    days_from_civil(2026, 3, 1) * DAY_MS
}

fn event((key, size, hour, module): (u8, usize, i64, u8)) -> MeterEvent {
    MeterEvent {
        tenant: "acme".into(),
        request_id: format!("req-{}", key % 4),
        module: format!("m{module}"),
        tool: "t".into(),
        run_units: SIZES[size],
        timestamp_ms: edge() + hour * HOUR_MS - 1,
        idempotency_key: format!("k{key}"),
    }
}

#[derive(Debug, PartialEq)]
enum Seen {
    Recorded { overage_micros: i64 },
    Duplicate,
    Conflict,
    Exhausted,
}

fn micros(units: f64) -> i64 {
    (units * 1e6).round() as i64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn the_store_agrees_with_the_model(
        ops in prop::collection::vec((0u8..12, 0usize..5, -48i64..48, 0u8..3), 1..40),
        limit_tenths in 0i64..60,
        month in any::<bool>(),
        hard in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = UsageStore::open(dir.path().join("usage.db")).unwrap();
        let period = if month { QuotaPeriod::Month } else { QuotaPeriod::Day };
        let kind = if hard { QuotaKind::Hard } else { QuotaKind::Soft };
        let limit = limit_tenths as f64 / 10.0;
        store.set_quota("acme", &Quota { limit, period, kind }).unwrap();

        let mut keys: HashMap<String, MeterEvent> = HashMap::new();
        let mut recorded: Vec<MeterEvent> = Vec::new();
        for op in ops {
            let e = event(op);
            let expected = if let Some(first) = keys.get(&e.idempotency_key) {
                if *first == e { Seen::Duplicate } else { Seen::Conflict }
            } else {
                let window = period.window(e.timestamp_ms);
                let used: i64 = recorded
                    .iter()
                    .filter(|r| (window.start_ms..window.end_ms).contains(&r.timestamp_ms))
                    .map(|r| micros(r.run_units))
                    .sum();
                let after = used + micros(e.run_units);
                let over = after - micros(limit);
                if over > 0 && hard {
                    Seen::Exhausted
                } else {
                    keys.insert(e.idempotency_key.clone(), e.clone());
                    recorded.push(e.clone());
                    Seen::Recorded { overage_micros: over.clamp(0, micros(e.run_units)) }
                }
            };
            let seen = match store.meter(&e) {
                Ok(MeterOutcome::Recorded { overage, .. }) => Seen::Recorded { overage_micros: micros(overage) },
                Ok(MeterOutcome::Duplicate { .. }) => Seen::Duplicate,
                Err(UsageError::IdempotencyConflict { .. }) => Seen::Conflict,
                Err(UsageError::QuotaExhausted { .. }) => Seen::Exhausted,
                Err(other) => panic!("unexpected error {other}"),
            };
            prop_assert_eq!(seen, expected, "event {:?}", e);
        }

        // Usage per period and the whole history agree with the model's sums.
        for probe in [edge() - DAY_MS, edge() - 1, edge(), edge() + DAY_MS] {
            let window = period.window(probe);
            let want: i64 = recorded
                .iter()
                .filter(|r| (window.start_ms..window.end_ms).contains(&r.timestamp_ms))
                .map(|r| micros(r.run_units))
                .sum();
            let usage = store.usage("acme", probe).unwrap();
            prop_assert_eq!(micros(usage.run_units), want);
            if hard {
                prop_assert!(want <= micros(limit));
            }
        }
        for bucket in [BucketSize::Hour, BucketSize::Day] {
            let page = store.history(&HistoryQuery {
                tenant: "acme".into(), bucket, from_ms: edge() - 3 * DAY_MS,
                to_ms: edge() + 3 * DAY_MS, cursor: None, limit: Some(1000),
            }).unwrap();
            let total: i64 = page.buckets.iter().map(|b| micros(b.run_units)).sum();
            let events: u64 = page.buckets.iter().map(|b| b.events).sum();
            prop_assert_eq!(total, recorded.iter().map(|r| micros(r.run_units)).sum::<i64>());
            prop_assert_eq!(events, recorded.len() as u64);
        }
    }
}
