//! What only the SQLite backend has: the append-only triggers, the soft-quota audit table, the
//! roll-up tables equal to the raw log, and the schema version after a reopen. The behaviour
//! any backend must show is in `conformance.rs`.

use std::sync::Arc;
use usage_store::conformance::{self, Opener};
use usage_store::period::utc_midnight_ms;
use usage_store::{MeterEvent, UsageBackend};
use usage_store_sqlite::SqliteUsageStore;
use usage_store_sqlite::schema::MIGRATIONS;

/// A fresh file in a temporary directory, its path, and an opener for the conformance checks.
fn fresh() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    (dir, path)
}

fn opener(path: &std::path::Path) -> impl Fn() -> Arc<dyn UsageBackend> + use<> {
    let path = path.to_path_buf();
    move || Arc::new(SqliteUsageStore::open(&path).unwrap())
}

fn run(path: &std::path::Path, check: fn(&Opener)) {
    check(&opener(path));
}

#[test]
fn the_event_log_is_append_only() {
    let (_dir, path) = fresh();
    let s = SqliteUsageStore::open(&path).unwrap();
    let ts = utc_midnight_ms(2026, 1, 15);
    s.meter(&MeterEvent {
        tenant: "acme".into(),
        request_id: "req-a".into(),
        module: "m".into(),
        tool: "tool".into(),
        run_units: 1.0,
        timestamp_ms: ts,
        idempotency_key: "a".into(),
    })
    .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert!(
        conn.execute("UPDATE meter_events SET micro_units = 0", [])
            .is_err()
    );
    assert!(conn.execute("DELETE FROM meter_events", []).is_err());
    let u = s.usage("acme", ts).unwrap();
    assert_eq!((u.run_units, u.events), (1.0, 1));
}

/// The audit trail of a soft quota: one row per event past the limit, with only its own part
/// beyond it.
#[test]
fn soft_quota_overages_are_audited_row_by_row() {
    let (_dir, path) = fresh();
    run(&path, conformance::a_soft_quota_records_the_overage);
    let conn = rusqlite::Connection::open(&path).unwrap();
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

/// After concurrent writers on two stores on one file, the roll-up tables are exactly the raw
/// log's sums.
#[test]
fn roll_ups_equal_the_log_after_concurrent_writers() {
    let (_dir, path) = fresh();
    run(
        &path,
        conformance::a_hard_quota_is_never_exceeded_by_concurrent_writers,
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let sum = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let raw = sum("SELECT SUM(micro_units) FROM meter_events");
    assert!(raw > 0);
    assert_eq!(sum("SELECT SUM(micro_units) FROM usage_hourly"), raw);
    assert_eq!(sum("SELECT SUM(micro_units) FROM usage_daily"), raw);
    assert_eq!(
        sum("SELECT SUM(events) FROM usage_daily"),
        sum("SELECT COUNT(*) FROM meter_events")
    );
}

/// Reopening an up-to-date file is a no-op migration.
#[test]
fn a_reopened_file_keeps_its_schema_version() {
    let (_dir, path) = fresh();
    run(&path, conformance::everything_survives_a_reopen);
    let store = SqliteUsageStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    store.check_ready().unwrap();
}

/// Group commit keeps every guarantee of one transaction per event: sixteen threads meter
/// single events on one handle, each key sent by two threads at once, against a hard quota.
/// Events share commits, each key is recorded once (its twin is a duplicate of the same row),
/// the quota holds to the micro-unit and is filled, and the roll-ups equal the log.
#[test]
fn concurrent_single_events_share_commits_and_keep_every_guarantee() {
    use usage_store::period::QuotaPeriod;
    use usage_store::{MeterOutcome, Quota, QuotaKind, UsageError};
    let (_dir, path) = fresh();
    let store = Arc::new(SqliteUsageStore::open(&path).unwrap());
    let limit_micros: i64 = 150_000_000;
    store
        .set_quota(
            "acme",
            &Quota {
                limit: limit_micros as f64 / 1e6,
                period: QuotaPeriod::Month,
                kind: QuotaKind::Hard,
            },
        )
        .unwrap();
    let ts = utc_midnight_ms(2026, 3, 10);
    let event = move |key: usize| MeterEvent {
        tenant: "acme".into(),
        request_id: format!("req-{key}"),
        module: format!("module-{}", key % 3),
        tool: "tool".into(),
        // Not exact in binary, and not dividing the limit.
        run_units: 0.1 + (key % 5) as f64 * 0.3,
        timestamp_ms: ts + key as i64,
        idempotency_key: format!("key-{key}"),
    };
    // Thread t sends keys t*40.. and its twin (t^1) sends the same keys: each key races.
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let (store, event) = (Arc::clone(&store), event);
            std::thread::spawn(move || {
                (0..80)
                    .map(|i| {
                        let key = (t / 2) * 80 + i;
                        (key, store.meter(&event(key)))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let outcomes: Vec<Vec<(usize, Result<MeterOutcome, UsageError>)>> =
        threads.into_iter().map(|h| h.join().unwrap()).collect();
    let grouped = store.group_stats();
    assert!(
        grouped.jobs > grouped.commits,
        "concurrent single events shared commits: {grouped:?}"
    );

    let mut recorded = std::collections::HashMap::new();
    let mut refused = std::collections::HashSet::new();
    let mut duplicates = Vec::new();
    for (key, outcome) in outcomes.into_iter().flatten() {
        match outcome {
            Ok(MeterOutcome::Recorded { event_id, .. }) => {
                assert!(
                    recorded.insert(key, event_id).is_none(),
                    "key {key} recorded twice"
                );
            }
            Ok(MeterOutcome::Duplicate { event_id }) => duplicates.push((key, event_id)),
            Err(UsageError::QuotaExhausted { .. }) => {
                refused.insert(key);
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    for (key, event_id) in duplicates {
        assert_eq!(
            recorded.get(&key),
            Some(&event_id),
            "duplicate of key {key}"
        );
    }
    assert!(!refused.is_empty(), "the quota was reached");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let sum = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let raw = sum("SELECT SUM(micro_units) FROM meter_events");
    assert!(raw <= limit_micros, "{raw} micro-units over {limit_micros}");
    assert!(limit_micros - raw < 1_300_000, "filled to within one event");
    assert_eq!(
        sum("SELECT COUNT(*) FROM meter_events"),
        recorded.len() as i64
    );
    assert_eq!(sum("SELECT SUM(micro_units) FROM usage_hourly"), raw);
    assert_eq!(
        sum("SELECT SUM(events) FROM usage_daily"),
        recorded.len() as i64
    );
}
