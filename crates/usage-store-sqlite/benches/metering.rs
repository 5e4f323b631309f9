//! Criterion benches of the usage store: metering throughput (one event per transaction, and
//! batches), and the history and usage queries on a log of one million events.
//!
//! The million-event database is built once through `meter_batch` and cached under the
//! target directory (keyed by schema version), so repeated runs only pay for the queries.
//! Building it prints the batched ingest rate, a second throughput figure at scale.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use usage_store::period::{DAY_MS, utc_midnight_ms};
use usage_store::{BucketSize, HistoryQuery, MeterEvent, UsageBackend};
use usage_store_sqlite::SqliteUsageStore;
use usage_store_sqlite::schema::MIGRATIONS;

const LOG_EVENTS: u64 = 1_000_000;
const TENANTS: u64 = 10;
const MODULES: u64 = 8;
/// The log spans 60 days from 2026-01-01.
const SPAN_DAYS: i64 = 60;

fn start_ms() -> i64 {
    utc_midnight_ms(2026, 1, 1)
}

fn event(i: u64) -> MeterEvent {
    let step = SPAN_DAYS * DAY_MS / LOG_EVENTS as i64;
    MeterEvent {
        tenant: format!("tenant-{}", i % TENANTS),
        request_id: format!("req-{}", i / 4),
        module: format!("module-{}", (i / TENANTS) % MODULES),
        tool: "tool".into(),
        run_units: 0.25 + (i % 7) as f64 * 0.5,
        timestamp_ms: start_ms() + (i as i64 * step) % (SPAN_DAYS * DAY_MS),
        idempotency_key: format!("key-{i}"),
    }
}

/// The cached million-event database, built on first use.
fn million_event_store() -> SqliteUsageStore {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("usage-bench-1m-v{}.db", MIGRATIONS.len()));
    let store = SqliteUsageStore::open(&path).expect("open bench database");
    let conn = rusqlite::Connection::open(&path).expect("open for count");
    let have: u64 = conn
        .query_row("SELECT COUNT(*) FROM meter_events", [], |r| r.get(0))
        .expect("count");
    if have < LOG_EVENTS {
        let began = Instant::now();
        let mut batch = Vec::with_capacity(10_000);
        for i in have..LOG_EVENTS {
            batch.push(event(i));
            if batch.len() == 10_000 {
                store.meter_batch(&batch).expect("populate");
                batch.clear();
            }
        }
        store.meter_batch(&batch).expect("populate");
        let secs = began.elapsed().as_secs_f64();
        eprintln!(
            "usage-store: built the 1M-event log in {secs:.1} s ({:.0} events/s in batches of 10k)",
            (LOG_EVENTS - have) as f64 / secs
        );
    }
    store
}

fn metering(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteUsageStore::open(dir.path().join("usage.db")).expect("open");
    let next = AtomicU64::new(0);
    let mut group = c.benchmark_group("meter");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    group.bench_function("single", |b| {
        b.iter(|| store.meter(black_box(&event(next.fetch_add(1, Ordering::Relaxed)))))
    });
    group.throughput(Throughput::Elements(1000));
    group.bench_function("batch_1000", |b| {
        b.iter_batched(
            || {
                let first = next.fetch_add(1000, Ordering::Relaxed);
                (first..first + 1000).map(event).collect::<Vec<_>>()
            },
            |events| store.meter_batch(black_box(&events)),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn queries(c: &mut Criterion) {
    let store = million_event_store();
    let from = utc_midnight_ms(2026, 1, 15);
    let day_query = HistoryQuery {
        tenant: "tenant-0".into(),
        bucket: BucketSize::Day,
        from_ms: from,
        to_ms: from + 30 * DAY_MS,
        cursor: None,
        limit: Some(100),
    };
    let page = store.history(&day_query).expect("history");
    assert_eq!(page.buckets.len(), 30, "the bench must read a full 30 days");
    let hour_query = HistoryQuery {
        bucket: BucketSize::Hour,
        to_ms: from + 7 * DAY_MS,
        limit: Some(1000),
        ..day_query.clone()
    };
    let mut group = c.benchmark_group("query_1m_events");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_secs(1));
    group.bench_function("history_day_30d", |b| {
        b.iter(|| store.history(black_box(&day_query)))
    });
    group.bench_function("history_hour_7d", |b| {
        b.iter(|| store.history(black_box(&hour_query)))
    });
    group.bench_function("usage_month", |b| {
        b.iter(|| store.usage(black_box("tenant-0"), black_box(from)))
    });
    group.bench_function("request_total", |b| {
        b.iter(|| store.request_total(black_box("req-123456")))
    });
    group.finish();
    raw_scan_baseline(&store, &day_query);
}

/// The same 30-day daily history computed from the raw log, without the roll-ups: the
/// baseline the roll-up tables exist to beat. Timed by hand (a few runs are enough for a
/// ratio) so it does not stretch the bench.
fn raw_scan_baseline(store: &SqliteUsageStore, q: &HistoryQuery) {
    let conn = rusqlite::Connection::open(store.path()).expect("open");
    let mut stmt = conn
        .prepare(
            "SELECT ts_ms / 86400000, SUM(micro_units), COUNT(*) FROM meter_events
             WHERE tenant = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 GROUP BY 1",
        )
        .expect("prepare");
    let time = |f: &mut dyn FnMut(), runs: u32| {
        let began = Instant::now();
        for _ in 0..runs {
            f();
        }
        began.elapsed().as_secs_f64() / f64::from(runs)
    };
    let raw = time(
        &mut || {
            let n = stmt
                .query_map(rusqlite::params![q.tenant, q.from_ms, q.to_ms], |r| {
                    r.get::<_, i64>(0)
                })
                .expect("query")
                .count();
            assert_eq!(n, 30);
        },
        5,
    );
    let rolled = time(
        &mut || {
            black_box(store.history(q).expect("history"));
        },
        200,
    );
    eprintln!(
        "usage-store: 30-day daily history at 1M events: roll-up {:.3} ms, raw-log scan {:.1} ms ({:.0}x)",
        rolled * 1e3,
        raw * 1e3,
        raw / rolled
    );
}

criterion_group!(benches, metering, queries);
criterion_main!(benches);
