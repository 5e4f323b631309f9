//! The store's write path: validation, idempotency, batches, quotas, per-request totals and
//! the cost signal, on a real database file.

use usage_store::period::{DAY_MS, days_from_civil};
use usage_store::{
    CostNormalizer, MeterEvent, MeterOutcome, Quota, QuotaKind, QuotaPeriod, UsageBackend,
    UsageError, UsageStore,
};

/// 2026-01-15T00:00:00Z: safely in the past, mid-month.
fn t0() -> i64 {
    days_from_civil(2026, 1, 15) * DAY_MS
}

fn ev(tenant: &str, key: &str, module: &str, units: f64, ts_ms: i64) -> MeterEvent {
    MeterEvent {
        tenant: tenant.into(),
        request_id: format!("req-{key}"),
        module: module.into(),
        tool: "tool".into(),
        run_units: units,
        timestamp_ms: ts_ms,
        idempotency_key: key.into(),
    }
}

fn store() -> (tempfile::TempDir, UsageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = UsageStore::open(dir.path().join("usage.db")).unwrap();
    (dir, store)
}

fn total(store: &UsageStore, tenant: &str) -> (f64, u64) {
    let u = store.usage(tenant, t0()).unwrap();
    (u.run_units, u.events)
}

#[test]
fn an_event_metered_twice_is_counted_once() {
    let (_dir, s) = store();
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
    assert_eq!(total(&s, "acme"), (2.5, 1));
    // The key is scoped to the tenant: another tenant may use it.
    assert!(matches!(
        s.meter(&ev("other", "k1", "search", 1.0, t0())).unwrap(),
        MeterOutcome::Recorded { .. }
    ));
}

#[test]
fn a_reused_key_with_different_content_is_a_conflict() {
    let (_dir, s) = store();
    s.meter(&ev("acme", "k1", "search", 2.5, t0())).unwrap();
    let err = s.meter(&ev("acme", "k1", "search", 3.0, t0())).unwrap_err();
    assert!(
        matches!(err, UsageError::IdempotencyConflict { .. }),
        "{err}"
    );
    assert_eq!(total(&s, "acme"), (2.5, 1));
}

#[test]
fn bad_input_is_rejected_and_writes_nothing() {
    let (_dir, s) = store();
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
    assert_eq!(total(&s, "acme"), (0.0, 0));
    assert_eq!(s.request_total("req-a").unwrap(), None);
}

#[test]
fn a_batch_is_all_or_nothing() {
    let (_dir, s) = store();
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
    assert_eq!(total(&s, "acme"), (0.0, 0));

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
    assert_eq!(total(&s, "acme"), (0.0, 0));

    // Repeated keys inside one batch are duplicates of their first occurrence.
    s.delete_quota("acme").unwrap();
    let out = s.meter_batch(&[good.clone(), good, second]).unwrap();
    assert!(matches!(out[0], MeterOutcome::Recorded { .. }));
    assert!(matches!(out[1], MeterOutcome::Duplicate { .. }));
    assert!(matches!(out[2], MeterOutcome::Recorded { .. }));
    assert_eq!(total(&s, "acme"), (2.0, 2));
    let too_many = vec![ev("acme", "x", "m", 1.0, t0()); usage_store::MAX_BATCH_EVENTS + 1];
    assert!(matches!(
        s.meter_batch(&too_many),
        Err(UsageError::BatchTooLarge { .. })
    ));
}

#[test]
fn a_hard_quota_refuses_exactly_at_the_limit() {
    let (_dir, s) = store();
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

#[test]
fn a_soft_quota_records_the_overage() {
    let (dir, s) = store();
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
    // The audit trail: one row per event past the limit, with only its own part beyond it.
    let conn = rusqlite::Connection::open(dir.path().join("usage.db")).unwrap();
    let rows: Vec<(String, i64, i64)> = conn
        .prepare("SELECT tenant, limit_micro, over_micro FROM quota_overages ORDER BY event_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let acme = |over| ("acme".to_string(), 5_000_000, over);
    assert_eq!(rows, vec![acme(2_000_000), acme(1_500_000)]);
}

#[test]
fn malformed_quotas_are_rejected() {
    let (_dir, s) = store();
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

#[test]
fn usage_is_per_module_and_request_totals_feed_the_cost_signal() {
    let (_dir, s) = store();
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
    assert_eq!(u.window.start_ms, days_from_civil(2026, 1, 1) * DAY_MS);
    assert_eq!((u.quota, u.state), (None, None));

    assert_eq!(s.request_total("r1").unwrap(), Some(4.0));
    let r1 = s.request_usage("r1").unwrap().unwrap();
    assert_eq!((r1.events, r1.by_module.len()), (2, 2));
    let norm = CostNormalizer::new(4.0).unwrap();
    assert_eq!(s.request_r_cost("r1", "any", &norm).unwrap(), Some(0.5));
    assert_eq!(s.request_r_cost("unknown", "any", &norm).unwrap(), None);
}

#[test]
fn the_event_log_is_append_only() {
    let (dir, s) = store();
    s.meter(&ev("acme", "a", "m", 1.0, t0())).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("usage.db")).unwrap();
    assert!(
        conn.execute("UPDATE meter_events SET micro_units = 0", [])
            .is_err()
    );
    assert!(conn.execute("DELETE FROM meter_events", []).is_err());
    assert_eq!(total(&s, "acme"), (1.0, 1));
}
