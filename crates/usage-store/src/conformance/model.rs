//! Model-based property check: random event sequences (retries, conflicting key reuse, free
//! events, a month edge, hard or soft quotas) give exactly the outcomes, usage and history of a
//! plain in-memory model written from the documented rules.

use super::{Opener, micros};
use crate::UsageError;
use crate::model::{HistoryQuery, MeterEvent, MeterOutcome, Quota, QuotaKind};
use crate::period::{BucketSize, DAY_MS, HOUR_MS, QuotaPeriod, utc_midnight_ms};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::cell::Cell;
use std::collections::HashMap;

const SIZES: [f64; 5] = [0.0, 0.1, 0.3, 1.0, 2.5];

/// Cases run (each a fresh tenant on the one storage the check is given).
const CASES: u32 = 24;

/// Two days either side of 2026-03-01T00:00Z, so month and day periods both have an edge.
fn edge() -> i64 {
    utc_midnight_ms(2026, 3, 1)
}

fn event(tenant: &str, (key, size, hour, module): (u8, usize, i64, u8)) -> MeterEvent {
    MeterEvent {
        tenant: tenant.into(),
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

/// Random sequences agree with the model: outcomes event by event, usage in each period, and
/// history sums in hour and day buckets. A hard quota's period never exceeds its limit.
pub fn the_backend_agrees_with_the_model(open: &Opener) {
    let store = open();
    // Every case (and every shrinking step) is a tenant of its own, so one storage serves all.
    let case = Cell::new(0u32);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec((0u8..12, 0usize..5, -48i64..48, 0u8..3), 1..40),
        0i64..60,
        any::<bool>(),
        any::<bool>(),
    );
    let result = runner.run(&strategy, |(ops, limit_tenths, month, hard)| {
        case.set(case.get() + 1);
        let tenant = format!("acme-{}", case.get());
        let period = if month {
            QuotaPeriod::Month
        } else {
            QuotaPeriod::Day
        };
        let kind = if hard {
            QuotaKind::Hard
        } else {
            QuotaKind::Soft
        };
        let limit = limit_tenths as f64 / 10.0;
        store
            .set_quota(
                &tenant,
                &Quota {
                    limit,
                    period,
                    kind,
                },
            )
            .unwrap();

        let mut keys: HashMap<String, MeterEvent> = HashMap::new();
        let mut recorded: Vec<MeterEvent> = Vec::new();
        for op in ops {
            let e = event(&tenant, op);
            let expected = if let Some(first) = keys.get(&e.idempotency_key) {
                if *first == e {
                    Seen::Duplicate
                } else {
                    Seen::Conflict
                }
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
                    Seen::Recorded {
                        overage_micros: over.clamp(0, micros(e.run_units)),
                    }
                }
            };
            let seen = match store.meter(&e) {
                Ok(MeterOutcome::Recorded { overage, .. }) => Seen::Recorded {
                    overage_micros: micros(overage),
                },
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
            let usage = store.usage(&tenant, probe).unwrap();
            prop_assert_eq!(micros(usage.run_units), want);
            if hard {
                prop_assert!(want <= micros(limit));
            }
        }
        for bucket in [BucketSize::Hour, BucketSize::Day] {
            let page = store
                .history(&HistoryQuery {
                    tenant: tenant.clone(),
                    bucket,
                    from_ms: edge() - 3 * DAY_MS,
                    to_ms: edge() + 3 * DAY_MS,
                    cursor: None,
                    limit: Some(1000),
                })
                .unwrap();
            let total: i64 = page.buckets.iter().map(|b| micros(b.run_units)).sum();
            let events: u64 = page.buckets.iter().map(|b| b.events).sum();
            prop_assert_eq!(
                total,
                recorded.iter().map(|r| micros(r.run_units)).sum::<i64>()
            );
            prop_assert_eq!(events, recorded.len() as u64);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("the backend disagrees with the model: {e}");
    }
}
