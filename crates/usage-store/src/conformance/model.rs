//! Model-based property check: random event sequences (retries, conflicting key reuse, free
//! events, a month edge, hard or soft quotas) give exactly the outcomes, usage and history of a
//! plain in-memory model written from the documented rules.

use super::{Opener, micros};
use crate::UsageError;
use crate::model::{HistoryQuery, MeterEvent, MeterOutcome, Quota, QuotaKind};
use crate::period::{BucketSize, DAY_MS, HOUR_MS, QuotaPeriod, utc_midnight_ms};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

const SIZES: [f64; 5] = [0.0, 0.1, 0.3, 1.0, 2.5];

/// Cases run (each a fresh tenant on the one storage the check is given).
const CASES: u32 = 24;

/// Two days either side of 2026-03-01T00:00Z, so month and day periods both have an edge.
pub(super) fn edge() -> i64 {
    utc_midnight_ms(2026, 3, 1)
}

pub(super) fn event(tenant: &str, (key, size, hour, module): (u8, usize, i64, u8)) -> MeterEvent {
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

/// An outcome with what the rules say of it: the overage of a recorded event, the tenant and
/// key of a conflict, the whole refusal of a hard quota (in micro-units).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Seen {
    Recorded {
        units_micros: i64,
        overage_micros: i64,
    },
    Duplicate,
    Conflict {
        tenant: String,
        key: String,
    },
    Exhausted {
        tenant: String,
        limit_micros: i64,
        used_micros: i64,
        requested_micros: i64,
        period_end_ms: i64,
    },
}

impl Seen {
    /// A refusal (which fails a whole batch).
    pub fn refuses(&self) -> bool {
        matches!(self, Self::Conflict { .. } | Self::Exhausted { .. })
    }
}

/// The documented rules for one tenant with one quota, kept in memory: what each event
/// should give, and what has been recorded.
#[derive(Debug, Clone)]
pub(super) struct Model {
    pub period: QuotaPeriod,
    pub limit: f64,
    pub hard: bool,
    keys: HashMap<String, MeterEvent>,
    pub recorded: Vec<MeterEvent>,
}

impl Model {
    /// Sets `tenant`'s quota on `store` (a limit in tenths of a run-unit, month or day, hard
    /// or soft) and returns the model of a tenant with that quota and nothing recorded.
    pub fn with_quota(
        store: &dyn crate::UsageBackend,
        tenant: &str,
        (limit_tenths, month, hard): (i64, bool, bool),
    ) -> Self {
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
        let quota = Quota {
            limit,
            period,
            kind,
        };
        store.set_quota(tenant, &quota).unwrap();
        Self {
            period,
            limit,
            hard,
            keys: HashMap::new(),
            recorded: Vec::new(),
        }
    }

    /// What metering `e` gives, recording it if it is recorded.
    pub fn meter(&mut self, e: &MeterEvent) -> Seen {
        if let Some(first) = self.keys.get(&e.idempotency_key) {
            return if first == e {
                Seen::Duplicate
            } else {
                Seen::Conflict {
                    tenant: e.tenant.clone(),
                    key: e.idempotency_key.clone(),
                }
            };
        }
        let window = self.period.window(e.timestamp_ms);
        let used = self.used(window.start_ms..window.end_ms);
        let after = used + micros(e.run_units);
        let over = after - micros(self.limit);
        if over > 0 && self.hard {
            return Seen::Exhausted {
                tenant: e.tenant.clone(),
                limit_micros: micros(self.limit),
                used_micros: used,
                requested_micros: micros(e.run_units),
                period_end_ms: window.end_ms,
            };
        }
        let overage_micros = over.clamp(0, micros(e.run_units));
        self.keys.insert(e.idempotency_key.clone(), e.clone());
        self.recorded.push(e.clone());
        Seen::Recorded {
            units_micros: micros(e.run_units),
            overage_micros,
        }
    }

    /// Micro-units recorded with a timestamp in `range`.
    pub fn used(&self, range: std::ops::Range<i64>) -> i64 {
        self.recorded
            .iter()
            .filter(|r| range.contains(&r.timestamp_ms))
            .map(|r| micros(r.run_units))
            .sum()
    }
}

/// What the store gave for one event, as a [`Seen`] (panics on any other error).
pub(super) fn seen(result: Result<MeterOutcome, UsageError>) -> Seen {
    match result {
        Ok(MeterOutcome::Recorded {
            run_units, overage, ..
        }) => Seen::Recorded {
            units_micros: micros(run_units),
            overage_micros: micros(overage),
        },
        Ok(MeterOutcome::Duplicate { .. }) => Seen::Duplicate,
        Err(UsageError::IdempotencyConflict {
            tenant,
            idempotency_key,
        }) => Seen::Conflict {
            tenant,
            key: idempotency_key,
        },
        Err(UsageError::QuotaExhausted {
            tenant,
            limit,
            used,
            requested,
            period_end_ms,
        }) => Seen::Exhausted {
            tenant,
            limit_micros: micros(limit),
            used_micros: micros(used),
            requested_micros: micros(requested),
            period_end_ms,
        },
        Err(other) => panic!("unexpected error {other}"),
    }
}

/// Checks the store's usage in the periods around [`edge`] and its hour and day history of
/// `tenant` against the model's sums.
pub(super) fn agrees_on_sums(
    store: &dyn crate::UsageBackend,
    tenant: &str,
    model: &Model,
) -> Result<(), TestCaseError> {
    for probe in [edge() - DAY_MS, edge() - 1, edge(), edge() + DAY_MS] {
        let window = model.period.window(probe);
        let want = model.used(window.start_ms..window.end_ms);
        let usage = store.usage(tenant, probe).unwrap();
        prop_assert_eq!(micros(usage.run_units), want);
        if model.hard {
            prop_assert!(want <= micros(model.limit));
        }
    }
    for bucket in [BucketSize::Hour, BucketSize::Day] {
        let page = store
            .history(&HistoryQuery {
                tenant: tenant.to_owned(),
                bucket,
                from_ms: edge() - 3 * DAY_MS,
                to_ms: edge() + 3 * DAY_MS,
                cursor: None,
                limit: Some(1000),
            })
            .unwrap();
        // Bucket by bucket: micro-units and events of every bucket that has any.
        let mut want: BTreeMap<i64, (i64, u64)> = BTreeMap::new();
        for r in &model.recorded {
            let sums = want.entry(bucket.floor(r.timestamp_ms)).or_default();
            sums.0 += micros(r.run_units);
            sums.1 += 1;
        }
        let got: BTreeMap<i64, (i64, u64)> = page
            .buckets
            .iter()
            .map(|b| (b.start_ms, (micros(b.run_units), b.events)))
            .collect();
        prop_assert_eq!(got, want, "{:?} buckets", bucket);
    }
    Ok(())
}

/// A property runner of `cases` cases that writes no regression file (the checks run in
/// other crates' test binaries, on storage of their own).
pub(super) fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Random sequences agree with the model: outcomes event by event, usage in each period, and
/// history sums in hour and day buckets. A hard quota's period never exceeds its limit.
pub fn the_backend_agrees_with_the_model(open: &Opener) {
    let store = open();
    // Every case (and every shrinking step) is a tenant of its own, so one storage serves all.
    let case = Cell::new(0u32);
    let mut runner = runner(CASES);
    let strategy = (
        prop::collection::vec((0u8..12, 0usize..5, -48i64..48, 0u8..3), 1..40),
        0i64..60,
        any::<bool>(),
        any::<bool>(),
    );
    let result = runner.run(&strategy, |(ops, limit_tenths, month, hard)| {
        case.set(case.get() + 1);
        let tenant = format!("acme-{}", case.get());
        let mut model = Model::with_quota(&*store, &tenant, (limit_tenths, month, hard));
        for op in ops {
            let e = event(&tenant, op);
            let expected = model.meter(&e);
            prop_assert_eq!(seen(store.meter(&e)), expected, "event {:?}", e);
        }
        agrees_on_sums(&*store, &tenant, &model)?;
        Ok(())
    });
    if let Err(e) = result {
        panic!("the backend disagrees with the model: {e}");
    }
}
