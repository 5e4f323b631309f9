//! Criterion bench of group commit for metering: 16 threads each metering single events
//! against one thread doing the same, on one store (goal: 16 writers reach at least 5x the
//! events/s of one). Every event is its own `meter` call, as when request handlers meter
//! tool calls one by one; concurrent calls share commits (`sqlite_kit::GroupWriter`).
//!
//! Prints the ratio of the medians and the mean number of events per commit, and the ceiling
//! no grouping can pass on this machine: one thread metering in transactions of
//! [`CEILING_BATCH`] events (`meter_batch`: the same statements, one commit per batch, and no
//! hand-off between threads), as a ratio of one writer.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use usage_store::{MeterEvent, UsageBackend};
use usage_store_sqlite::SqliteUsageStore;

const WRITERS: [u64; 2] = [1, 16];

/// Events per transaction of the ceiling: every writer's event in one commit.
const CEILING_BATCH: u64 = 16;

fn event(i: u64, now_ms: i64) -> MeterEvent {
    MeterEvent {
        tenant: format!("tenant-{}", i % 10),
        request_id: format!("req-{}", i / 4),
        module: format!("module-{}", i % 8),
        tool: "tool".into(),
        run_units: 0.25 + (i % 7) as f64 * 0.5,
        timestamp_ms: now_ms - 60_000,
        idempotency_key: format!("key-{i}"),
    }
}

/// Seconds per event of each sample (a sample meters `iters` events across `writers` threads).
fn run(store: &SqliteUsageStore, next: &AtomicU64, writers: u64, iters: u64) -> Duration {
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let began = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..writers {
            scope.spawn(|| {
                for _ in 0..iters.div_ceil(writers) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    store.meter(&event(i, now_ms)).expect("meter");
                }
            });
        }
    });
    began.elapsed() / (iters.div_ceil(writers) * writers) as u32 * iters as u32
}

/// Seconds per event when one thread meters `iters` events in batches of `CEILING_BATCH`.
fn run_batched(store: &SqliteUsageStore, next: &AtomicU64, iters: u64) -> Duration {
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let batches = iters.div_ceil(CEILING_BATCH);
    let began = Instant::now();
    for _ in 0..batches {
        let events: Vec<MeterEvent> = (0..CEILING_BATCH)
            .map(|_| event(next.fetch_add(1, Ordering::Relaxed), now_ms))
            .collect();
        store.meter_batch(&events).expect("meter batch");
    }
    began.elapsed() / (batches * CEILING_BATCH) as u32 * iters as u32
}

/// Samples criterion keeps per bench; `iter_custom` is also called while warming up, and
/// those earlier calls are left out.
const SAMPLES: usize = 20;

/// The median of a bench's last [`SAMPLES`] per-event samples; none when a filter skipped it.
fn median(samples: Mutex<Vec<f64>>) -> Option<f64> {
    let samples = samples.into_inner().unwrap();
    let mut kept = samples[samples.len().saturating_sub(SAMPLES)..].to_vec();
    kept.sort_by(f64::total_cmp);
    kept.get(kept.len() / 2).copied()
}

fn concurrent_meter(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteUsageStore::open(dir.path().join("usage.db")).expect("open");
    let next = AtomicU64::new(0);
    let mut group = c.benchmark_group("meter_concurrent");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    let mut per_event = Vec::new();
    for writers in WRITERS {
        let samples = Mutex::new(Vec::new());
        let before = store.group_stats();
        group.bench_function(format!("writers_{writers}"), |b| {
            b.iter_custom(|iters| {
                let took = run(&store, &next, writers, iters);
                samples
                    .lock()
                    .unwrap()
                    .push(took.as_secs_f64() / iters as f64);
                took
            })
        });
        let after = store.group_stats();
        let Some(median) = median(samples) else {
            continue;
        };
        eprintln!(
            "meter_concurrent: {writers:>2} writers: {:.0} events/s, {:.1} events per commit",
            1.0 / median,
            (after.jobs - before.jobs) as f64 / (after.commits - before.commits).max(1) as f64
        );
        per_event.push((writers, median));
    }
    let samples = Mutex::new(Vec::new());
    group.bench_function(format!("one_thread_batches_of_{CEILING_BATCH}"), |b| {
        b.iter_custom(|iters| {
            let took = run_batched(&store, &next, iters);
            samples
                .lock()
                .unwrap()
                .push(took.as_secs_f64() / iters as f64);
            took
        })
    });
    let ceiling = median(samples);
    group.finish();
    let of = |n: u64| per_event.iter().find(|(w, _)| *w == n).map(|&(_, m)| m);
    if let (Some(one), Some(sixteen)) = (of(1), of(16)) {
        eprintln!(
            "meter_concurrent: 16 writers / 1 writer = {:.2}x (goal: >= 5x)",
            one / sixteen
        );
    }
    if let (Some(one), Some(ceiling)) = (of(1), ceiling) {
        eprintln!(
            "meter_concurrent: ceiling, one thread in transactions of {CEILING_BATCH}: {:.0} events/s \
             = {:.2}x one writer",
            1.0 / ceiling,
            one / ceiling
        );
    }
}

criterion_group!(benches, concurrent_meter);
criterion_main!(benches);
