//! Conformance checks of the write path: idempotency, validation, batches, quotas, per-request
//! totals, the backend story, and a reopen.

use super::{Opener, ev, t0};
use crate::model::{HistoryQuery, MeterEvent, MeterOutcome, Quota, QuotaKind};
use crate::period::{BucketSize, DAY_MS, QuotaPeriod, utc_midnight_ms};
use crate::{MAX_BATCH_EVENTS, UsageBackend, UsageError};

fn total(store: &dyn UsageBackend, tenant: &str) -> (f64, u64) {
    let u = store.usage(tenant, t0()).unwrap();
    (u.run_units, u.events)
}

/// A retry (same key, same event) is `Duplicate` and counted once; keys are per tenant.
pub fn an_event_metered_twice_is_counted_once(open: &Opener) {
    let s = open();
    let e = ev("acme", "k1", "search", 2.5, t0());
    let first = s.meter(&e).unwrap();
    let MeterOutcome::Recorded {
        event_id,
        run_units,
        overage,
    } = first
    else {
        panic!("expected Recorded, got {first:?}");
    };
    assert_eq!((run_units, overage), (2.5, 0.0));
    assert_eq!(s.meter(&e).unwrap(), MeterOutcome::Duplicate { event_id });
    assert_eq!(total(&*s, "acme"), (2.5, 1));
    // The key is scoped to the tenant: another tenant may use it.
    assert!(matches!(
        s.meter(&ev("other", "k1", "search", 1.0, t0())).unwrap(),
        MeterOutcome::Recorded { .. }
    ));
}

/// The same key for a different event is `IdempotencyConflict`, and nothing is written.
pub fn a_reused_key_with_different_content_is_a_conflict(open: &Opener) {
    let s = open();
    s.meter(&ev("acme", "k1", "search", 2.5, t0())).unwrap();
    let err = s.meter(&ev("acme", "k1", "search", 3.0, t0())).unwrap_err();
    assert!(
        matches!(err, UsageError::IdempotencyConflict { .. }),
        "{err}"
    );
    assert_eq!(total(&*s, "acme"), (2.5, 1));
}

/// NaN, negative, absurd run-units, blank names and bad timestamps (future, before 1970) are
/// `InvalidInput` naming the field, and write nothing.
pub fn bad_input_is_rejected_and_writes_nothing(open: &Opener) {
    let s = open();
    let far_future = t0() + 3650 * DAY_MS;
    let cases: Vec<(&str, MeterEvent)> = vec![
        ("run_units", ev("acme", "a", "m", -1.0, t0())),
        ("run_units", ev("acme", "b", "m", f64::NAN, t0())),
        ("run_units", ev("acme", "c", "m", f64::INFINITY, t0())),
        ("run_units", ev("acme", "d", "m", 1e9, t0())),
        ("tenant", ev("", "e", "m", 1.0, t0())),
        ("tenant", ev("   ", "f", "m", 1.0, t0())),
        ("module", ev("acme", "g", "", 1.0, t0())),
        ("idempotency_key", ev("acme", "", "m", 1.0, t0())),
        ("timestamp_ms", ev("acme", "h", "m", 1.0, far_future)),
        ("timestamp_ms", ev("acme", "i", "m", 1.0, -5)),
    ];
    for (field, e) in &cases {
        let err = s.meter(e).unwrap_err();
        assert!(
            matches!(&err, UsageError::InvalidInput { field: f, .. } if f == field),
            "{e:?} gave {err}"
        );
    }
    assert_eq!(total(&*s, "acme"), (0.0, 0));
    assert_eq!(s.request_total("req-a").unwrap(), None);
}

/// A batch with an invalid event or a hard-quota refusal records none of its events; repeated
/// keys inside a batch are duplicates; an oversized batch is `BatchTooLarge`.
pub fn a_batch_is_all_or_nothing(open: &Opener) {
    let s = open();
    let good = ev("acme", "k1", "search", 1.0, t0());
    let bad = ev("acme", "k2", "search", f64::NAN, t0());
    let err = s.meter_batch(&[good.clone(), bad]).unwrap_err();
    assert!(matches!(
        err,
        UsageError::InvalidInput {
            field: "run_units",
            ..
        }
    ));
    assert_eq!(total(&*s, "acme"), (0.0, 0));

    // A hard-quota refusal late in the batch also rolls back the events before it.
    let hard = Quota {
        limit: 1.5,
        period: QuotaPeriod::Month,
        kind: QuotaKind::Hard,
    };
    s.set_quota("acme", &hard).unwrap();
    let second = ev("acme", "k3", "search", 1.0, t0());
    let err = s.meter_batch(&[good.clone(), second.clone()]).unwrap_err();
    assert!(matches!(err, UsageError::QuotaExhausted { .. }), "{err}");
    assert_eq!(total(&*s, "acme"), (0.0, 0));

    // Repeated keys inside one batch are duplicates of their first occurrence.
    s.delete_quota("acme").unwrap();
    let out = s.meter_batch(&[good.clone(), good, second]).unwrap();
    assert!(matches!(out[0], MeterOutcome::Recorded { .. }));
    assert!(matches!(out[1], MeterOutcome::Duplicate { .. }));
    assert!(matches!(out[2], MeterOutcome::Recorded { .. }));
    assert_eq!(total(&*s, "acme"), (2.0, 2));
    let too_many = vec![ev("acme", "x", "m", 1.0, t0()); MAX_BATCH_EVENTS + 1];
    assert!(matches!(
        s.meter_batch(&too_many),
        Err(UsageError::BatchTooLarge { .. })
    ));
}

/// A hard quota takes exactly its limit (in exact micro-units) and refuses one micro-unit more;
/// retries stay duplicates, free events pass, the next period starts afresh.
pub fn a_hard_quota_refuses_exactly_at_the_limit(open: &Opener) {
    let s = open();
    let q = Quota {
        limit: 1.0,
        period: QuotaPeriod::Day,
        kind: QuotaKind::Hard,
    };
    s.set_quota("acme", &q).unwrap();
    assert_eq!(s.quota("acme").unwrap(), Some(q));
    // 0.1 is not exact in binary; ten of them must still fill 1.0 exactly.
    for i in 0..10 {
        s.meter(&ev("acme", &format!("k{i}"), "m", 0.1, t0()))
            .unwrap();
    }
    let err = s
        .meter(&ev("acme", "k10", "m", 0.000001, t0()))
        .unwrap_err();
    let UsageError::QuotaExhausted {
        tenant,
        limit,
        used,
        requested,
        period_end_ms,
    } = err
    else {
        panic!("expected QuotaExhausted, got {err}");
    };
    assert_eq!(
        (tenant.as_str(), limit, used, requested),
        ("acme", 1.0, 1.0, 0.000001)
    );
    // The daily quota resets at the next UTC midnight.
    assert_eq!(period_end_ms, (t0().div_euclid(DAY_MS) + 1) * DAY_MS);
    // A retry of an event recorded before exhaustion is still a duplicate, not an error.
    assert!(matches!(
        s.meter(&ev("acme", "k3", "m", 0.1, t0())).unwrap(),
        MeterOutcome::Duplicate { .. }
    ));
    // Free events pass; the next day is a new period.
    s.meter(&ev("acme", "free", "m", 0.0, t0())).unwrap();
    s.meter(&ev("acme", "tomorrow", "m", 1.0, t0() + DAY_MS))
        .unwrap();
    let state = s.usage("acme", t0()).unwrap().state.unwrap();
    assert_eq!(
        (state.used, state.remaining, state.exhausted),
        (1.0, 0.0, true)
    );
    assert!(s.delete_quota("acme").unwrap());
    assert!(!s.delete_quota("acme").unwrap());
    assert_eq!(s.quota("acme").unwrap(), None);
}

/// A soft quota records events past its limit, each with only its own part beyond the limit as
/// its overage. Meters, for tenant `acme` on a 5.0 monthly soft quota, 4.0, 3.0 and 1.5: the
/// overages are 0, 2.0 and 1.5 (a backend's own tests may check its audit trail after this).
pub fn a_soft_quota_records_the_overage(open: &Opener) {
    let s = open();
    let q = Quota {
        limit: 5.0,
        period: QuotaPeriod::Month,
        kind: QuotaKind::Soft,
    };
    s.set_quota("acme", &q).unwrap();
    let overage = |o: MeterOutcome| match o {
        MeterOutcome::Recorded { overage, .. } => overage,
        other => panic!("expected Recorded, got {other:?}"),
    };
    assert_eq!(
        overage(s.meter(&ev("acme", "a", "m", 4.0, t0())).unwrap()),
        0.0
    );
    assert_eq!(
        overage(s.meter(&ev("acme", "b", "m", 3.0, t0())).unwrap()),
        2.0
    );
    assert_eq!(
        overage(s.meter(&ev("acme", "c", "m", 1.5, t0())).unwrap()),
        1.5
    );
    let state = s.usage("acme", t0()).unwrap().state.unwrap();
    assert_eq!(
        (state.used, state.remaining, state.overage),
        (8.5, 0.0, 3.5)
    );
    assert!(state.exhausted);
}

/// Negative, NaN or absurd limits and a blank tenant are `InvalidInput`; nothing is stored.
pub fn malformed_quotas_are_rejected(open: &Opener) {
    let s = open();
    for limit in [-1.0, f64::NAN, 1e13] {
        let q = Quota {
            limit,
            period: QuotaPeriod::Day,
            kind: QuotaKind::Hard,
        };
        assert!(matches!(
            s.set_quota("acme", &q),
            Err(UsageError::InvalidInput { field: "limit", .. })
        ));
    }
    let q = Quota {
        limit: 1.0,
        period: QuotaPeriod::Day,
        kind: QuotaKind::Hard,
    };
    assert!(matches!(
        s.set_quota("", &q),
        Err(UsageError::InvalidInput {
            field: "tenant",
            ..
        })
    ));
    assert_eq!(s.quota("acme").unwrap(), None);
}

/// Usage is split by module over the calendar month; a request's total is what feeds the cost
/// signal (otc-policy's `CostNormalizer` turns it into `r_cost`), so it must be the exact sum of
/// the request's events, and `None` for a request never metered (not 0, which would score it
/// as free).
pub fn usage_is_per_module_and_request_totals_feed_the_cost_signal(open: &Opener) {
    let s = open();
    let mut a = ev("acme", "a", "search", 1.25, t0());
    let mut b = ev("acme", "b", "code", 2.75, t0() + 1000);
    let c = ev("acme", "c", "search", 1.0, t0() + 2000);
    a.request_id = "r1".into();
    b.request_id = "r1".into();
    s.meter_batch(&[a, b, c]).unwrap();
    let u = s.usage("acme", t0()).unwrap();
    assert_eq!((u.run_units, u.events), (5.0, 3));
    assert_eq!(u.by_module["search"].run_units, 2.25);
    assert_eq!(u.by_module["code"].events, 1);
    assert_eq!(u.window.period, QuotaPeriod::Month);
    assert_eq!(u.window.start_ms, utc_midnight_ms(2026, 1, 1));
    assert_eq!((u.quota, u.state), (None, None));

    assert_eq!(s.request_total("r1").unwrap(), Some(4.0));
    let r1 = s.request_usage("r1").unwrap().unwrap();
    assert_eq!((r1.events, r1.by_module.len()), (2, 2));
    assert_eq!(s.request_total("unknown").unwrap(), None);
}

/// One short story through every trait method (a hard day quota, a retry, a refusal, bad
/// input, usage, history, removing the quota).
pub fn the_backend_story(open: &Opener) {
    let store = open();
    let ts = utc_midnight_ms(2026, 6, 1);
    let event = |key: &str, units: f64| MeterEvent {
        tenant: "acme".into(),
        request_id: "req-1".into(),
        module: "search".into(),
        tool: "web".into(),
        run_units: units,
        timestamp_ms: ts,
        idempotency_key: key.into(),
    };
    store.check_ready().unwrap();
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
    store.check_ready().unwrap();
}

/// Events, quotas, idempotency keys and roll-ups survive dropping every handle and opening
/// the storage again (twice).
pub fn everything_survives_a_reopen(open: &Opener) {
    let ts = utc_midnight_ms(2026, 4, 2) + 3_600_000;
    let event = |key: &str, units: f64| MeterEvent {
        tenant: "acme".into(),
        request_id: "req-1".into(),
        module: "search".into(),
        tool: "web".into(),
        run_units: units,
        timestamp_ms: ts,
        idempotency_key: key.into(),
    };
    let quota = Quota {
        limit: 10.0,
        period: QuotaPeriod::Day,
        kind: QuotaKind::Soft,
    };
    {
        let store = open();
        store.set_quota("acme", &quota).unwrap();
        store
            .meter_batch(&[event("a", 4.0), event("b", 7.5)])
            .unwrap();
    }
    let store = open();
    assert_eq!(store.quota("acme").unwrap(), Some(quota));
    assert!(matches!(
        store.meter(&event("a", 4.0)).unwrap(),
        MeterOutcome::Duplicate { .. }
    ));
    assert_eq!(store.request_total("req-1").unwrap(), Some(11.5));
    let usage = store.usage("acme", ts).unwrap();
    let state = usage.state.unwrap();
    assert_eq!((usage.run_units, state.overage), (11.5, 1.5));
    let page = store
        .history(&HistoryQuery {
            tenant: "acme".into(),
            bucket: BucketSize::Hour,
            from_ms: ts - DAY_MS,
            to_ms: ts + DAY_MS,
            cursor: None,
            limit: None,
        })
        .unwrap();
    assert_eq!(page.buckets.len(), 1);
    assert_eq!(
        (page.buckets[0].start_ms, page.buckets[0].run_units),
        (ts, 11.5)
    );
    drop(store);

    // A third open after more writes still sees one consistent log.
    let store = open();
    store.meter(&event("c", 0.5)).unwrap();
    drop(store);
    let store = open();
    assert_eq!(store.request_total("req-1").unwrap(), Some(12.0));
}
