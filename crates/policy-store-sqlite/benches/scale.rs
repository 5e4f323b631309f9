//! How the policy store's costs move as the log grows (`cargo xtask scale`; one pass that grows
//! one log, so not a criterion bench).
//!
//! Trajectories are ingested in batches of 10,000 up to 100k, 1M and 10M (`--max N` stops
//! sooner), with UUID-shaped request ids that are random (v4, the default: every insert lands
//! at a random place of the `request_id` index) or, with `--ordered-ids`, time-ordered (v7:
//! inserts land at the index's end). At each size it reports, measured in the same run:
//! * the batch ingest rate over the last [`WINDOW`] trajectories before that size, and the
//!   rate of raw prepared INSERTs of the same rows into a twin file grown alongside (log rows
//!   only: no reward events, no checkpoints, which the store writes as well);
//! * recommend: the median from memory, and the median of the first recommend after a commit
//!   (read from the file). A control: it reads checkpoints, which do not grow with the log;
//! * a reward event looked up by request id (`GET /admin/otc/rewards/{id}`), the read that does
//!   go through the log's indexes: the median over random ingested ids;
//! * bytes per trajectory: the log and its reward events with their indexes (`dbstat`), and
//!   the whole file.
//!
//! Goals (issue 15): ingest rate at the largest size at least 70 % of the rate at 100k, batch
//! ingest at least 50 % of raw INSERTs, recommend flat within 1.5x, bytes per row flat.

#[path = "support/raw_log.rs"]
mod raw_log;

use otc_policy::synthetic::World;
use otc_policy::{PolicyConfig, Trajectory};
use policy_store::PolicyBackend;
use policy_store_sqlite::SqlitePolicyStore;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const T0: i64 = 1_700_000_000_000;
const BATCH: usize = 10_000;
/// The ingest rate at a size is measured over the trajectories just before it.
const WINDOW: usize = 50_000;
const SIZES: [usize; 3] = [100_000, 1_000_000, 10_000_000];

/// `--ordered-ids`: time-ordered (v7-like) request ids instead of random ones.
fn ordered_ids() -> bool {
    std::env::args().any(|a| a == "--ordered-ids")
}

/// `--max N` (or `SCALE_MAX`), default the largest size; cargo's own `--bench` is ignored.
fn max_size() -> usize {
    let mut args = std::env::args().skip_while(|a| a != "--max").skip(1);
    args.next()
        .or_else(|| std::env::var("SCALE_MAX").ok())
        .map_or(SIZES[2], |n| n.parse().expect("--max takes a count"))
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Trajectory `k`'s UUID-shaped request id: random, or led by `k` (as v7 ids are led by their
/// time).
fn request_id(k: u64, ordered: bool) -> String {
    let h = splitmix(k);
    if ordered {
        format!(
            "{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
            k >> 16,
            k & 0xffff,
            h & 0xfff,
            (h >> 12) & 0xfff,
            h >> 16
        )
    } else {
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{k:012x}",
            h >> 32,
            (h >> 16) & 0xffff,
            h & 0xfff,
            (h >> 20) & 0xfff
        )
    }
}

/// Batch `b` of the log: the world's trajectories with their request ids.
fn batch(world: &World, b: usize, ordered: bool) -> Vec<Trajectory> {
    let mut rows = world.trajectories(BATCH, b as u64 + 1, "s", T0 + b as i64 * 1000);
    for (i, t) in rows.iter_mut().enumerate() {
        t.request_id = request_id((b * BATCH + i) as u64, ordered);
    }
    rows
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Recommend medians at the current size: from memory, and first after a commit.
fn recommend_latency(
    store: &SqlitePolicyStore,
    path: &Path,
    world: &World,
) -> (Duration, Duration) {
    let spec = &world.intents[7];
    let modules = spec.module_names();
    let hot = median(
        (0..20_000)
            .map(|_| {
                let start = Instant::now();
                black_box(store.recommend(&spec.name, &modules).unwrap());
                start.elapsed()
            })
            .collect(),
    );
    let other = rusqlite::Connection::open(path).unwrap();
    other
        .execute("CREATE TABLE IF NOT EXISTS scale_scratch (x INTEGER)", [])
        .unwrap();
    let after_commit = median(
        (0..2_000)
            .map(|_| {
                other
                    .execute("INSERT INTO scale_scratch (x) VALUES (1)", [])
                    .unwrap();
                let start = Instant::now();
                black_box(store.recommend(&spec.name, &modules).unwrap());
                start.elapsed()
            })
            .collect(),
    );
    (hot, after_commit)
}

/// The median lookup of the reward event of a random ingested trajectory.
fn reward_lookup_latency(store: &SqlitePolicyStore, ingested: usize) -> Duration {
    let ids: Vec<String> = (0..2_000u64)
        .map(|i| {
            request_id(
                splitmix(i ^ ingested as u64) % ingested as u64,
                ordered_ids(),
            )
        })
        .collect();
    median(
        ids.iter()
            .map(|id| {
                let start = Instant::now();
                assert!(black_box(store.reward_event(id).unwrap()).is_some());
                start.elapsed()
            })
            .collect(),
    )
}

/// Bytes on pages (tables with their indexes) per trajectory: the log with its reward events,
/// and the whole file.
fn bytes_per_trajectory(path: &Path, rows: usize) -> (f64, f64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let log: i64 = conn
        .query_row(
            "SELECT SUM(pgsize) FROM dbstat WHERE name IN ('trajectory_log', 'reward_events')
                OR name IN (SELECT name FROM sqlite_master WHERE type = 'index'
                            AND tbl_name IN ('trajectory_log', 'reward_events'))",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let file: i64 = conn
        .query_row(
            "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (log as f64 / rows as f64, file as f64 / rows as f64)
}

struct Row {
    size: usize,
    rate: f64,
    raw_rate: f64,
    hot: Duration,
    after_commit: Duration,
    reward: Duration,
    log_bytes: f64,
    file_bytes: f64,
}

fn main() {
    let (max, ordered) = (max_size(), ordered_ids());
    let mut sizes: Vec<usize> = SIZES.into_iter().filter(|&s| s <= max).collect();
    if sizes.is_empty() {
        sizes.push(max.max(WINDOW).div_ceil(BATCH) * BATCH);
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("policy.db");
    let store = SqlitePolicyStore::open(&path, PolicyConfig::default()).unwrap();
    let mut raw = raw_log::open(&dir.path().join("raw.db"));
    let world = World::standard(20);
    let began = Instant::now();
    let mut rows = Vec::new();
    let (mut ours, mut theirs) = (Duration::ZERO, Duration::ZERO);
    let mut ingested = 0;
    for size in sizes {
        while ingested < size {
            let chunk = batch(&world, ingested / BATCH, ordered);
            let start = Instant::now();
            store.ingest_batch(&chunk).unwrap();
            let took = start.elapsed();
            let start = Instant::now();
            raw_log::insert(&mut raw, &chunk);
            let raw_took = start.elapsed();
            ingested += chunk.len();
            if ingested > size - WINDOW {
                ours += took;
                theirs += raw_took;
            }
        }
        let (hot, after_commit) = recommend_latency(&store, &path, &world);
        let reward = reward_lookup_latency(&store, size);
        let (log_bytes, file_bytes) = bytes_per_trajectory(&path, size);
        let row = Row {
            size,
            rate: WINDOW as f64 / ours.as_secs_f64(),
            raw_rate: WINDOW as f64 / theirs.as_secs_f64(),
            hot,
            after_commit,
            reward,
            log_bytes,
            file_bytes,
        };
        eprintln!(
            "scale: {:>10} trajectories: ingest {:.0}/s ({:.0} % of raw INSERT {:.0}/s), \
             recommend {:?} from memory, {:?} after a commit, reward event by request id \
             {:?}; {:.0} B/trajectory in the log, {:.0} B in the file ({:.0} s so far)",
            row.size,
            row.rate,
            100.0 * row.rate / row.raw_rate,
            row.raw_rate,
            row.hot,
            row.after_commit,
            row.reward,
            row.log_bytes,
            row.file_bytes,
            began.elapsed().as_secs_f64()
        );
        rows.push(row);
        (ours, theirs) = (Duration::ZERO, Duration::ZERO);
    }
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    let ratio = |a: f64, b: f64| a / b;
    let ids = if ordered { "time-ordered" } else { "random" };
    eprintln!(
        "scale ({ids} request ids): {} -> {}: ingest rate {:.0} % (goal >= 70 %), batch vs raw {:.0} % at the \
         largest (goal >= 50 %), recommend from memory {:.2}x and after a commit {:.2}x \
         (goal within 1.5x; a control), reward event by request id {:.2}x, log bytes per \
         trajectory {:.2}x (goal flat)",
        first.size,
        last.size,
        100.0 * ratio(last.rate, first.rate),
        100.0 * ratio(last.rate, last.raw_rate),
        ratio(last.hot.as_secs_f64(), first.hot.as_secs_f64()),
        ratio(
            last.after_commit.as_secs_f64(),
            first.after_commit.as_secs_f64()
        ),
        ratio(last.reward.as_secs_f64(), first.reward.as_secs_f64()),
        ratio(last.log_bytes, first.log_bytes),
    );
}
