//! Criterion bench of group commit for single ingests: 16 threads each posting single
//! trajectories against one thread doing the same, on one store (goal: 16 writers reach at
//! least 5x the trajectories/s of one). Every trajectory is its own `ingest` call, as when
//! request handlers post each finished request; concurrent calls share commits
//! (`sqlite_kit::GroupWriter`).
//!
//! Prints the ratio of the medians and the mean number of trajectories per commit, and the
//! ceiling no grouping can pass on this machine: one thread ingesting in transactions of
//! [`CEILING_BATCH`] trajectories (`ingest_batch`: one commit per batch, and no hand-off between
//! threads), as a ratio of one writer.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use otc_policy::synthetic::World;
use otc_policy::{PolicyConfig, Trajectory};
use policy_store::PolicyBackend;
use policy_store_sqlite::SqlitePolicyStore;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const WRITERS: [u64; 2] = [1, 16];

/// Trajectories per transaction of the ceiling: every writer's trajectory in one commit.
const CEILING_BATCH: u64 = 16;

/// The `i`th trajectory to ingest: a shape with a request id of its own.
fn nth(shapes: &[Trajectory], i: u64) -> Trajectory {
    let mut t = shapes[i as usize % shapes.len()].clone();
    t.request_id = format!("{i:08x}-0000-4000-8000-000000000000");
    t
}

/// Seconds per trajectory of each sample (a sample ingests `iters` across `writers` threads).
fn run(
    store: &SqlitePolicyStore,
    shapes: &[Trajectory],
    next: &AtomicU64,
    writers: u64,
    iters: u64,
) -> Duration {
    let began = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..writers {
            scope.spawn(|| {
                for _ in 0..iters.div_ceil(writers) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    store.ingest(&nth(shapes, i)).expect("ingest");
                }
            });
        }
    });
    began.elapsed() / (iters.div_ceil(writers) * writers) as u32 * iters as u32
}

/// Seconds per trajectory when one thread ingests `iters` in batches of `CEILING_BATCH`.
fn run_batched(
    store: &SqlitePolicyStore,
    shapes: &[Trajectory],
    next: &AtomicU64,
    iters: u64,
) -> Duration {
    let batches = iters.div_ceil(CEILING_BATCH);
    let began = Instant::now();
    for _ in 0..batches {
        let batch: Vec<Trajectory> = (0..CEILING_BATCH)
            .map(|_| nth(shapes, next.fetch_add(1, Ordering::Relaxed)))
            .collect();
        store.ingest_batch(&batch).expect("ingest batch");
    }
    began.elapsed() / (batches * CEILING_BATCH) as u32 * iters as u32
}

/// Samples criterion keeps per bench; `iter_custom` is also called while warming up, and
/// those earlier calls are left out.
const SAMPLES: usize = 20;

/// The median of a bench's last [`SAMPLES`] per-trajectory samples; none when a filter skipped it.
fn median(samples: Mutex<Vec<f64>>) -> Option<f64> {
    let samples = samples.into_inner().unwrap();
    let mut kept = samples[samples.len().saturating_sub(SAMPLES)..].to_vec();
    kept.sort_by(f64::total_cmp);
    kept.get(kept.len() / 2).copied()
}

fn concurrent_ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqlitePolicyStore::open(&dir.path().join("policy.db"), PolicyConfig::default())
        .expect("open");
    let now = jiff::Timestamp::now().as_millisecond();
    let shapes = World::standard(20).trajectories(256, 3, "x", now - 3_600_000);
    let next = AtomicU64::new(0);
    let mut group = c.benchmark_group("ingest_concurrent");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    let mut per_item = Vec::new();
    for writers in WRITERS {
        let samples = Mutex::new(Vec::new());
        let before = store.group_stats();
        group.bench_function(format!("writers_{writers}"), |b| {
            b.iter_custom(|iters| {
                let took = run(&store, &shapes, &next, writers, iters);
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
            "ingest_concurrent: {writers:>2} writers: {:.0} trajectories/s, {:.1} per commit",
            1.0 / median,
            (after.jobs - before.jobs) as f64 / (after.commits - before.commits).max(1) as f64
        );
        per_item.push((writers, median));
    }
    let samples = Mutex::new(Vec::new());
    group.bench_function(format!("one_thread_batches_of_{CEILING_BATCH}"), |b| {
        b.iter_custom(|iters| {
            let took = run_batched(&store, &shapes, &next, iters);
            samples
                .lock()
                .unwrap()
                .push(took.as_secs_f64() / iters as f64);
            took
        })
    });
    let ceiling = median(samples);
    group.finish();
    let of = |n: u64| per_item.iter().find(|(w, _)| *w == n).map(|&(_, m)| m);
    if let (Some(one), Some(sixteen)) = (of(1), of(16)) {
        eprintln!(
            "ingest_concurrent: 16 writers / 1 writer = {:.2}x (goal: >= 5x)",
            one / sixteen
        );
    }
    if let (Some(one), Some(ceiling)) = (of(1), ceiling) {
        eprintln!(
            "ingest_concurrent: ceiling, one thread in transactions of {CEILING_BATCH}: {:.0} trajectories/s \
             = {:.2}x one writer",
            1.0 / ceiling,
            one / ceiling
        );
    }
}

criterion_group!(benches, concurrent_ingest);
criterion_main!(benches);
