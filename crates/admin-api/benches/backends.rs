//! SQLite and PostgreSQL side by side, in one run, on one machine: the same calls through the
//! same store traits (opened by `admin_api::database::open_stores`, as the server opens them),
//! then the same requests over HTTP.
//!
//! Stores, each backend in turn: the policy log grown to `BACKENDS_LOG` trajectories by batch
//! ingest (batches of 1,000; the rate over the whole fill and over its last tenth), then at that
//! size single ingest, recommend; the usage log grown to `BACKENDS_LOG` meter events
//! (batches of 1,000), then single meter and a 30-day daily history. Single calls are timed one
//! by one; medians (p50) and means are printed.
//!
//! HTTP, 16 keep-alive connections (the `load` bench's generator): `GET /admin/otc/policy` on
//! a SQLite server against a PostgreSQL server holding the same logs; then `POST
//! /admin/billing/meter` and single `POST /admin/otc/trajectories` on one PostgreSQL replica
//! against two replicas (two servers on one database, 8 connections each).
//!
//! Goals (issue "PostgreSQL backends"): batch ingest on PostgreSQL at least 50k trajectories/s;
//! recommend over HTTP on PostgreSQL within 2x of SQLite (throughput at least half).
//!
//! `cargo bench -p admin-api --bench backends`. Needs a PostgreSQL server at
//! `OTC_TEST_DATABASE_URL` (default the local `test` database); without one it prints one line
//! and stops. `BACKENDS_LOG` (default 1,000,000), `LOAD_SECONDS` (default 2) and `LOAD_ROUNDS`
//! (default 3) size it. Its schemas are dropped at the end.

#[path = "support/load_gen.rs"]
mod load_gen;

use admin_api::database::open_stores;
use admin_api::{AppState, ServerConfig};
use load_gen::{
    Connection, Endpoint, TOKEN, ingest_new, median, meter_new, now_ms, setting, throughput, unique,
};
use otc_policy::synthetic::World;
use otc_policy::{PolicyConfig, Trajectory};
use std::time::{Duration, Instant};
use usage_store::{BucketSize, HistoryQuery, MeterEvent};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const DAY_MS: i64 = 86_400_000;
const BATCH: usize = 1000;
const SINGLES: usize = 1000;
const CONNECTIONS: usize = 16;

/// The log's trajectories `from..from + count`, the same for both backends.
fn log_chunk(world: &World, from: usize, count: usize, t0: i64) -> Vec<Trajectory> {
    world.trajectories(
        count,
        from as u64 + 1,
        &format!("log{from}"),
        t0 + from as i64,
    )
}

/// Meter event `i` of the log: 10 tenants, 8 modules, spread over 60 days.
fn meter_event(i: u64, t0: i64, log: u64) -> MeterEvent {
    let step = (60 * DAY_MS / log as i64).max(1);
    MeterEvent {
        tenant: format!("tenant-{}", i % 10),
        request_id: format!("req-{}", i / 4),
        module: format!("module-{}", (i / 10) % 8),
        tool: "tool".into(),
        run_units: 0.25 + (i % 7) as f64 * 0.5,
        timestamp_ms: t0 + (i as i64 * step) % (60 * DAY_MS),
        idempotency_key: format!("key-{i}"),
    }
}

/// p50 and mean of `n` timed calls of `call`, in microseconds.
fn timed(n: usize, mut call: impl FnMut(usize)) -> (f64, f64) {
    let mut us: Vec<f64> = (0..n)
        .map(|i| {
            let began = Instant::now();
            call(i);
            began.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let mean = us.iter().sum::<f64>() / n as f64;
    (median(&mut us), mean)
}

/// One backend's figures at the log size.
#[derive(Debug, Default)]
struct StoreFigures {
    batch_rate: f64,
    batch_rate_last_tenth: f64,
    single_ingest: (f64, f64),
    recommend: (f64, f64),
    meter_fill_rate: f64,
    meter: (f64, f64),
    history: (f64, f64),
}

fn store_figures(config: &ServerConfig, log: usize) -> StoreFigures {
    let (_, usage, policy, database) = open_stores(
        &config.data_dir,
        config.database_url.as_deref(),
        &config.database_schema_prefix,
        PolicyConfig::default(),
    )
    .expect("stores open");
    let kind = database.kind();
    let world = World::standard(8);
    let t0 = now_ms() - 90 * DAY_MS;
    let mut figures = StoreFigures::default();

    let began = Instant::now();
    let mut last_tenth = None;
    for from in (0..log).step_by(BATCH) {
        if from >= log - log / 10 && last_tenth.is_none() {
            last_tenth = Some((Instant::now(), from));
        }
        let chunk = log_chunk(&world, from, BATCH.min(log - from), t0);
        policy.ingest_batch(&chunk).expect("batch ingest");
    }
    figures.batch_rate = log as f64 / began.elapsed().as_secs_f64();
    if let Some((at, from)) = last_tenth {
        figures.batch_rate_last_tenth = (log - from) as f64 / at.elapsed().as_secs_f64();
    }
    let singles = world.trajectories(SINGLES, 7, &format!("single-{}", unique()), now_ms() - 1000);
    figures.single_ingest = timed(SINGLES, |i| {
        policy.ingest(&singles[i]).expect("single ingest");
    });
    let probe = &singles[0];
    figures.recommend = timed(5 * SINGLES, |_| {
        policy
            .recommend(&probe.intent, &probe.modules)
            .expect("recommend");
    });

    let events = log as u64;
    let began = Instant::now();
    for from in (0..events).step_by(BATCH) {
        let batch: Vec<MeterEvent> = (from..(from + BATCH as u64).min(events))
            .map(|i| meter_event(i, t0, events))
            .collect();
        usage.meter_batch(&batch).expect("meter batch");
    }
    figures.meter_fill_rate = events as f64 / began.elapsed().as_secs_f64();
    figures.meter = timed(SINGLES, |i| {
        let mut event = meter_event(i as u64, t0, events);
        event.timestamp_ms = now_ms() - 1000;
        event.idempotency_key = format!("single-{}", unique());
        usage.meter(&event).expect("meter");
    });
    let query = HistoryQuery {
        tenant: "tenant-0".into(),
        bucket: BucketSize::Day,
        from_ms: t0 - t0.rem_euclid(DAY_MS),
        to_ms: t0 - t0.rem_euclid(DAY_MS) + 30 * DAY_MS,
        cursor: None,
        limit: Some(100),
    };
    assert_eq!(usage.history(&query).expect("history").buckets.len(), 30);
    figures.history = timed(SINGLES, |_| {
        usage.history(&query).expect("history");
    });
    println!("backends: {kind} stores filled and measured");
    figures
}

fn server(config: &ServerConfig) -> (admin_api::server::Background, String) {
    let state = AppState::open(config).expect("state opens");
    let server = admin_api::server::Background::spawn(state, "127.0.0.1:0".parse().unwrap(), 2)
        .expect("server starts");
    let base = format!("http://{}", server.addr());
    (server, base)
}

/// The policy lookup of the log's first combination.
fn policy_path() -> String {
    let probe = &World::standard(8).trajectories(1, 1, "probe", 0)[0];
    format!(
        "/admin/otc/policy?intent={}&modules={}",
        probe.intent,
        probe.modules.join(",")
    )
}

static POLICY_PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

const POLICY: Endpoint = (
    "GET /admin/otc/policy",
    |c| c.get(POLICY_PATH.get().expect("set in main")),
    200,
    None,
);
const METER: Endpoint = ("POST /admin/billing/meter", meter_new, 201, None);
const INGEST: Endpoint = (
    "POST /admin/otc/trajectories (single)",
    ingest_new,
    201,
    None,
);

/// Median requests/s of `endpoint` over `rounds` windows, on every connection at once.
fn rate(connections: &[Connection], endpoint: &Endpoint, window: Duration, rounds: usize) -> f64 {
    throughput(connections, endpoint, Duration::from_millis(200));
    let mut rates: Vec<f64> = (0..rounds)
        .map(|_| throughput(connections, endpoint, window))
        .collect();
    median(&mut rates)
}

fn drop_schemas(url: &str, prefix: &str) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("cleanup connects");
    for store in ["admin", "usage", "policy"] {
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{prefix}{store}\" CASCADE"
            ))
            .expect("drop a bench schema");
    }
}

fn main() {
    let url = std::env::var("OTC_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    if let Err(e) = postgres::Client::connect(&url, postgres::NoTls) {
        println!("backends: skipped, no PostgreSQL server at {url} ({e})");
        return;
    }
    let log = setting("BACKENDS_LOG", 1_000_000) as usize;
    let window = Duration::from_secs(setting("LOAD_SECONDS", 2));
    let rounds = setting("LOAD_ROUNDS", 3) as usize;
    POLICY_PATH.set(policy_path()).expect("set once");

    let dir = tempfile::tempdir().expect("temp dir");
    let mut sqlite = ServerConfig::for_data_dir(dir.path());
    sqlite.token = Some(TOKEN.into());
    sqlite.secret_key = Some("42".repeat(32));
    let mut pg = sqlite.clone();
    pg.database_url = Some(url.clone());
    pg.database_schema_prefix = format!("otc_bench_{}_", std::process::id());
    let prefix = pg.database_schema_prefix.clone();
    struct Cleanup<'a>(&'a str, &'a str);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            drop_schemas(self.0, self.1);
        }
    }
    let _cleanup = Cleanup(&url, &prefix);

    let figures = [
        ("sqlite", store_figures(&sqlite, log)),
        ("postgres", store_figures(&pg, log)),
    ];
    println!("backends: stores, log of {log} trajectories and {log} meter events (p50 / mean)");
    let us = |(p50, mean): (f64, f64)| format!("{p50:>9.1} / {mean:>9.1} us");
    for (kind, f) in &figures {
        println!(
            "backends: {kind:<8} batch ingest {:>9.0}/s (last tenth {:>9.0}/s)   meter fill {:>8.0}/s",
            f.batch_rate, f.batch_rate_last_tenth, f.meter_fill_rate
        );
        println!(
            "backends: {kind:<8} single ingest {}   recommend {}",
            us(f.single_ingest),
            us(f.recommend)
        );
        println!(
            "backends: {kind:<8} meter         {}   history 30d {}",
            us(f.meter),
            us(f.history)
        );
    }
    println!(
        "backends: goal batch ingest on postgres >= 50000/s: {:.0}/s",
        figures[1].1.batch_rate
    );

    let (_s, sqlite_base) = server(&sqlite);
    let (_p1, pg_base) = server(&pg);
    let (_p2, pg_base_2) = server(&pg);
    let on = |base: &str| -> Vec<Connection> {
        (0..CONNECTIONS).map(|_| Connection::new(base)).collect()
    };
    let both: Vec<Connection> = (0..CONNECTIONS)
        .map(|i| Connection::new(if i % 2 == 0 { &pg_base } else { &pg_base_2 }))
        .collect();
    let (sqlite_conns, pg_conns) = (on(&sqlite_base), on(&pg_base));
    let policy_sqlite = rate(&sqlite_conns, &POLICY, window, rounds);
    let policy_pg = rate(&pg_conns, &POLICY, window, rounds);
    println!(
        "backends: http {CONNECTIONS} connections: GET /admin/otc/policy sqlite {policy_sqlite:.0} req/s, postgres {policy_pg:.0} req/s = {:.1} % (goal >= 50 %, within 2x)",
        100.0 * policy_pg / policy_sqlite
    );
    for endpoint in [&METER, &INGEST] {
        let on_sqlite = rate(&sqlite_conns, endpoint, window, rounds);
        let one = rate(&pg_conns, endpoint, window, rounds);
        let two = rate(&both, endpoint, window, rounds);
        println!(
            "backends: http {}: sqlite {on_sqlite:.0} req/s; postgres one replica {one:.0} req/s, two replicas {two:.0} req/s ({:.2}x)",
            endpoint.0,
            two / one
        );
    }
}
