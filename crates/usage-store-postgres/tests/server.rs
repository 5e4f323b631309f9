//! What is PostgreSQL's own in the usage store, beside the conformance suite (feature
//! `postgres-tests`): hard quotas and idempotency exact across two replicas (two handles with
//! a pool each on one schema), the roll-ups equal to the raw log, the append-only trigger, the
//! soft-quota audit, a schema from a newer build. Each test works in its own schema, dropped
//! at the end.

use postgres_kit::testing::TestSchema;
use std::sync::{Arc, Barrier};
use usage_store::conformance::{self, Opener};
use usage_store::period::{QuotaPeriod, utc_midnight_ms};
use usage_store::{MeterEvent, MeterOutcome, Quota, QuotaKind, UsageBackend, UsageError};
use usage_store_postgres::{APPLICATION_NAME, PostgresUsageStore};

fn open(schema: &TestSchema) -> Arc<PostgresUsageStore> {
    Arc::new(PostgresUsageStore::open_with(&schema.options(APPLICATION_NAME)).expect("open"))
}

fn sum(client: &mut postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

fn ts() -> i64 {
    utc_midnight_ms(2026, 2, 10)
}

fn event(tenant: &str, key: &str, units: f64) -> MeterEvent {
    MeterEvent {
        tenant: tenant.into(),
        request_id: format!("req-{key}"),
        module: "search".into(),
        tool: "web_search".into(),
        run_units: units,
        timestamp_ms: ts(),
        idempotency_key: key.into(),
    }
}

/// Two replicas (two handles, a pool each) meter one tenant's hard quota from eight threads
/// at once: exactly floor(limit / amount) events are accepted, in integer micro-units, and
/// nothing past the limit is stored, not even one micro-unit. Two tenants run together: one
/// whose limit the amount divides (filled exactly to the micro-unit), one it does not.
#[test]
fn a_hard_quota_is_exact_across_two_replicas() {
    let schema = TestSchema::new();
    let replicas = [open(&schema), open(&schema)];
    // (tenant, limit, amount, floor(limit / amount) in micro-units)
    let cases = [("exact", 7.0, 0.07, 100), ("ragged", 10.0, 0.3, 33)];
    for (tenant, limit, _, _) in cases {
        let quota = Quota {
            limit,
            period: QuotaPeriod::Month,
            kind: QuotaKind::Hard,
        };
        replicas[0].set_quota(tenant, &quota).unwrap();
    }
    const THREADS: usize = 8;
    const ATTEMPTS: usize = 30; // 240 attempts per tenant, far above either limit
    let barrier = Barrier::new(THREADS);
    let accepted: Vec<Vec<usize>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = Arc::clone(&replicas[t % 2]);
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let mut accepted = vec![0; cases.len()];
                    for i in 0..ATTEMPTS {
                        for (c, (tenant, _, amount, _)) in cases.iter().enumerate() {
                            match store.meter(&event(tenant, &format!("{t}/{i}"), *amount)) {
                                Ok(MeterOutcome::Recorded { .. }) => accepted[c] += 1,
                                Err(UsageError::QuotaExhausted { .. }) => {}
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                    }
                    accepted
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut client = schema.client();
    for (c, (tenant, limit, amount, expected)) in cases.iter().enumerate() {
        let count: usize = accepted.iter().map(|a| a[c]).sum();
        assert_eq!(count, *expected, "{tenant}: accepted events");
        let (limit_micros, amount_micros) = ((limit * 1e6) as i64, (amount * 1e6).round() as i64);
        assert_eq!(*expected as i64, limit_micros / amount_micros);
        let stored = sum(
            &mut client,
            &format!("SELECT SUM(micro_units)::BIGINT FROM meter_events WHERE tenant = '{tenant}'"),
        );
        assert_eq!(stored, *expected as i64 * amount_micros, "{tenant}");
        assert!(
            stored <= limit_micros,
            "{tenant}: {stored} > {limit_micros}"
        );
        let state = replicas[1].usage(tenant, ts()).unwrap().state.unwrap();
        assert_eq!((state.used * 1e6).round() as i64, stored, "{tenant}");
    }
    roll_ups_equal_the_log(&mut client);
}

/// The roll-up tables are exactly the raw log's sums, per tenant, bucket and module.
fn roll_ups_equal_the_log(client: &mut postgres::Client) {
    let raw = sum(
        client,
        "SELECT COALESCE(SUM(micro_units), 0)::BIGINT FROM meter_events",
    );
    assert!(raw > 0);
    for table in ["usage_hourly", "usage_daily"] {
        assert_eq!(
            sum(
                client,
                &format!("SELECT SUM(micro_units)::BIGINT FROM {table}")
            ),
            raw
        );
        assert_eq!(
            sum(client, &format!("SELECT SUM(events)::BIGINT FROM {table}")),
            sum(client, "SELECT COUNT(*) FROM meter_events")
        );
    }
    let hourly_mismatches = sum(
        client,
        "SELECT COUNT(*) FROM (
             SELECT tenant, (ts_ms / 3600000) * 3600000 AS bucket_ms, module,
                    SUM(micro_units)::BIGINT AS micro_units, COUNT(*) AS events
             FROM meter_events GROUP BY 1, 2, 3
         ) log FULL JOIN usage_hourly h USING (tenant, bucket_ms, module)
         WHERE log.micro_units IS DISTINCT FROM h.micro_units
            OR log.events IS DISTINCT FROM h.events",
    );
    assert_eq!(hourly_mismatches, 0);
}

/// Retries of one event racing on two replicas end as one row: one `Recorded`, every other
/// attempt a `Duplicate` of it.
#[test]
fn a_retry_racing_on_another_replica_is_a_duplicate() {
    let schema = TestSchema::new();
    let replicas = [open(&schema), open(&schema)];
    const THREADS: usize = 6;
    const KEYS: usize = 25;
    let barrier = Barrier::new(THREADS);
    let outcomes: Vec<Vec<MeterOutcome>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = Arc::clone(&replicas[t % 2]);
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    (0..KEYS)
                        .map(|k| store.meter(&event("acme", &format!("k{k}"), 1.5)).unwrap())
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for k in 0..KEYS {
        let of_key: Vec<_> = outcomes.iter().map(|o| &o[k]).collect();
        let recorded: Vec<i64> = of_key
            .iter()
            .filter_map(|o| match o {
                MeterOutcome::Recorded { event_id, .. } => Some(*event_id),
                MeterOutcome::Duplicate { .. } => None,
            })
            .collect();
        assert_eq!(recorded.len(), 1, "key k{k}: {of_key:?}");
        for outcome in of_key {
            if let MeterOutcome::Duplicate { event_id } = outcome {
                assert_eq!(*event_id, recorded[0]);
            }
        }
    }
    let mut client = schema.client();
    assert_eq!(
        sum(&mut client, "SELECT COUNT(*) FROM meter_events"),
        KEYS as i64
    );
    assert_eq!(
        replicas[0].usage("acme", ts()).unwrap().run_units,
        1.5 * KEYS as f64
    );
    roll_ups_equal_the_log(&mut client);
}

#[test]
fn the_event_log_is_append_only() {
    let schema = TestSchema::new();
    let store = open(&schema);
    store.meter(&event("acme", "a", 1.0)).unwrap();
    let mut client = schema.client();
    for abuse in [
        "UPDATE meter_events SET micro_units = 0",
        "DELETE FROM meter_events",
        "TRUNCATE meter_events CASCADE",
    ] {
        let err = client.batch_execute(abuse).unwrap_err();
        assert!(
            err.as_db_error()
                .is_some_and(|e| e.message().contains("append-only")),
            "{abuse}: {err:?}"
        );
    }
    let usage = store.usage("acme", ts()).unwrap();
    assert_eq!((usage.run_units, usage.events), (1.0, 1));
}

/// The audit trail of a soft quota: one row per event past the limit, with only its own part
/// beyond it (the same rows as the SQLite backend's test).
#[test]
fn soft_quota_overages_are_audited_row_by_row() {
    let schema = TestSchema::new();
    let options = schema.options(APPLICATION_NAME);
    let open_dyn = move || -> Arc<dyn UsageBackend> {
        Arc::new(PostgresUsageStore::open_with(&options).expect("open"))
    };
    let opener: &Opener = &open_dyn;
    conformance::a_soft_quota_records_the_overage(opener);
    let rows: Vec<(String, i64, i64)> = schema
        .client()
        .query(
            "SELECT tenant, limit_micro, over_micro FROM quota_overages ORDER BY event_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let acme = |over| ("acme".to_string(), 5_000_000, over);
    assert_eq!(rows, vec![acme(2_000_000), acme(1_500_000)]);
}

/// A batch writes the same audit rows as the events one by one, each under the id the batch
/// gave its event (the batch path writes overages in one statement of its own).
#[test]
fn a_batch_audits_its_soft_overages_under_its_event_ids() {
    let schema = TestSchema::new();
    let store = open(&schema);
    let soft = Quota {
        limit: 5.0,
        period: QuotaPeriod::Month,
        kind: QuotaKind::Soft,
    };
    store.set_quota("acme", &soft).unwrap();
    let out = store
        .meter_batch(&[
            event("acme", "a", 4.0),
            event("other", "x", 9.0),
            event("acme", "b", 3.0),
            event("acme", "a", 4.0),
            event("acme", "c", 1.5),
        ])
        .unwrap();
    let id = |i: usize| match out[i] {
        MeterOutcome::Recorded { event_id, .. } => event_id,
        ref other => panic!("expected Recorded, got {other:?}"),
    };
    assert_eq!(out[3], MeterOutcome::Duplicate { event_id: id(0) });
    let rows: Vec<(i64, String, i64, i64)> = schema
        .client()
        .query(
            "SELECT event_id, tenant, limit_micro, over_micro FROM quota_overages
             ORDER BY event_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let acme = |i, over| (id(i), "acme".to_string(), 5_000_000, over);
    assert_eq!(rows, vec![acme(2, 2_000_000), acme(4, 1_500_000)]);
}

#[test]
fn a_schema_from_a_newer_build_is_refused_with_a_clear_error() {
    let schema = TestSchema::new();
    open(&schema).check_ready().unwrap();
    schema
        .client()
        .batch_execute("INSERT INTO schema_migrations (version) VALUES (99)")
        .unwrap();
    let err = PostgresUsageStore::open_with(&schema.options(APPLICATION_NAME)).unwrap_err();
    let UsageError::Storage(source) = &err else {
        panic!("expected a storage error, got {err:?}");
    };
    let message = source.to_string();
    assert!(
        message.contains("version 99") && message.contains("upgrade the binary"),
        "{message}"
    );
}
