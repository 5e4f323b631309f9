//! How the usage store's costs move as the metering log grows (`cargo xtask scale`; one pass
//! that grows one log, so not a criterion bench).
//!
//! Events (10 tenants, 8 modules, the clock advancing 26 s an event so that even the smallest
//! log spans 30 days) are metered in batches of 10,000 up to 100k, 1M and 10M (`--max N` stops
//! sooner), with idempotency keys and request ids that are random (the default: every insert
//! lands at a random place of their indexes) or, with `--ordered-ids`, led by the event's
//! number (as time-ordered ids such as UUID v7 are: inserts land at the indexes' end). At each size it
//! reports the batch metering rate over the last [`WINDOW`] events, the median of a single
//! meter, the medians of a 30-day daily and a 7-day hourly history and of a month's usage
//! (all ending at the newest event), and the bytes per event on disk.
//!
//! Goals (issue 15): metering rate at the largest size at least 70 % of the rate at 100k,
//! history flat within 1.5x, bytes per event flat.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};
use usage_store::period::{DAY_MS, utc_midnight_ms};
use usage_store::{BucketSize, HistoryQuery, MeterEvent, UsageBackend};
use usage_store_sqlite::SqliteUsageStore;

const BATCH: u64 = 10_000;
/// The metering rate at a size is measured over the events just before it.
const WINDOW: u64 = 50_000;
const SIZES: [u64; 3] = [100_000, 1_000_000, 10_000_000];
const STEP_MS: i64 = 26_000;

/// `--ordered-ids`: time-ordered ids instead of random ones.
fn ordered_ids() -> bool {
    std::env::args().any(|a| a == "--ordered-ids")
}

/// `--max N` (or `SCALE_MAX`), default the largest size; cargo's own `--bench` is ignored.
fn max_size() -> u64 {
    let mut args = std::env::args().skip_while(|a| a != "--max").skip(1);
    args.next()
        .or_else(|| std::env::var("SCALE_MAX").ok())
        .map_or(SIZES[2], |n| n.parse().expect("--max takes a count"))
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// 10M events at 26 s each span eight years: the log starts early enough to end in the past
/// (metering refuses events from the future).
fn start_ms() -> i64 {
    utc_midnight_ms(2017, 1, 1)
}

fn event(i: u64, ordered: bool) -> MeterEvent {
    let (request, key) = if ordered {
        (
            format!("req-{:016x}", i / 4),
            format!("{i:016x}{:016x}", mix(i)),
        )
    } else {
        (
            format!("req-{:016x}", mix(i / 4)),
            format!("{:016x}{i:016x}", mix(i)),
        )
    };
    MeterEvent {
        tenant: format!("tenant-{}", i % 10),
        request_id: request,
        module: format!("module-{}", (i / 10) % 8),
        tool: "tool".into(),
        run_units: 0.25 + (i % 7) as f64 * 0.5,
        timestamp_ms: start_ms() + i as i64 * STEP_MS,
        idempotency_key: key,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn timed(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn bytes_per_event(path: &Path, events: u64) -> f64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    let file: i64 = conn
        .query_row(
            "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
            [],
            |r| r.get(0),
        )
        .unwrap();
    file as f64 / events as f64
}

struct Row {
    size: u64,
    rate: f64,
    single: Duration,
    day: Duration,
    hour: Duration,
    month: Duration,
    bytes: f64,
}

fn main() {
    let (max, ordered) = (max_size(), ordered_ids());
    let mut sizes: Vec<u64> = SIZES.into_iter().filter(|&s| s <= max).collect();
    if sizes.is_empty() {
        sizes.push(max.max(WINDOW).div_ceil(BATCH) * BATCH);
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("usage.db");
    let store = SqliteUsageStore::open(&path).unwrap();
    let began = Instant::now();
    let mut rows = Vec::new();
    let mut next = 0;
    // Single meters use numbers far above the batches', so they never collide.
    let mut single_next = 1 << 40;
    for size in sizes {
        let mut window = Duration::ZERO;
        while next < size {
            let events: Vec<MeterEvent> = (next..next + BATCH).map(|i| event(i, ordered)).collect();
            let start = Instant::now();
            store.meter_batch(&events).unwrap();
            if next + BATCH > size - WINDOW {
                window += start.elapsed();
            }
            next += BATCH;
        }
        let single = timed(2_000, || {
            let mut e = event(single_next, ordered);
            e.timestamp_ms = start_ms() + (next as i64 - 1) * STEP_MS;
            single_next += 1;
            black_box(store.meter(&e).unwrap());
        });
        let newest = start_ms() + (next as i64 - 1) * STEP_MS;
        let to = utc_midnight_ms_of(newest) + DAY_MS;
        let day_query = HistoryQuery {
            tenant: "tenant-0".into(),
            bucket: BucketSize::Day,
            from_ms: to - 30 * DAY_MS,
            to_ms: to,
            cursor: None,
            limit: Some(100),
        };
        let hour_query = HistoryQuery {
            bucket: BucketSize::Hour,
            from_ms: to - 7 * DAY_MS,
            limit: Some(1000),
            ..day_query.clone()
        };
        assert_eq!(store.history(&day_query).unwrap().buckets.len(), 30);
        let day = timed(2_000, || {
            black_box(store.history(&day_query).unwrap());
        });
        let hour = timed(500, || {
            black_box(store.history(&hour_query).unwrap());
        });
        let month = timed(2_000, || {
            black_box(store.usage("tenant-0", newest).unwrap());
        });
        let row = Row {
            size,
            rate: WINDOW as f64 / window.as_secs_f64(),
            single,
            day,
            hour,
            month,
            // The single meters are in the file too.
            bytes: bytes_per_event(&path, next + (single_next - (1 << 40))),
        };
        eprintln!(
            "scale: {:>10} events: metering {:.0}/s in batches, single meter {:?}; history \
             30 days daily {:?}, 7 days hourly {:?}, month usage {:?}; {:.0} B/event in the \
             file ({:.0} s so far)",
            row.size,
            row.rate,
            row.single,
            row.day,
            row.hour,
            row.month,
            row.bytes,
            began.elapsed().as_secs_f64()
        );
        rows.push(row);
    }
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    let times = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let ids = if ordered { "time-ordered" } else { "random" };
    eprintln!(
        "scale ({ids} ids): {} -> {} events: metering rate {:.0} % (goal >= 70 %), single meter {:.2}x, \
         history daily {:.2}x and hourly {:.2}x, month usage {:.2}x (goal within 1.5x), bytes \
         per event {:.2}x (goal flat)",
        first.size,
        last.size,
        100.0 * last.rate / first.rate,
        times(last.single, first.single),
        times(last.day, first.day),
        times(last.hour, first.hour),
        times(last.month, first.month),
        last.bytes / first.bytes,
    );
}

/// Midnight UTC of the day holding `ms`.
fn utc_midnight_ms_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY_MS)
}
