//! HTTP under concurrency: a load generator with 16 keep-alive connections (one `ureq` agent and
//! one thread each) against an in-process server on loopback, as an orchestrator's request
//! handlers would load it. For each endpoint it counts the requests completed in a fixed window,
//! rounds taken round-robin so drift hits all alike, and prints the median throughput of each
//! as a ratio of `GET /admin/health` throughput at the same concurrency, measured in the same
//! run. Goals: reads (`GET /admin/otc/policy`) at least 70 %, single writes (`POST
//! /admin/billing/meter`, single `POST /admin/otc/trajectories`) at least 40 %.
//!
//! Writes are real: every metered call and trajectory is new, so they exercise the stores'
//! group commit (concurrent single writes share transactions). Every answer's status is
//! checked; a request that fails stops the bench.
//!
//! `cargo bench -p admin-api --bench load`; `LOAD_SECONDS` sets the window per round (default
//! 2), `LOAD_ROUNDS` the rounds (default 3), and `LOAD_ONLY` keeps only the endpoints whose
//! name contains it (the baseline always runs), e.g. to profile one of them.

#[path = "support/load_gen.rs"]
mod load_gen;

use admin_api::{AppState, ServerConfig};
use load_gen::{
    Connection, Endpoint, TOKEN, ingest_new, median, meter_new, setting, throughput, trajectory,
    unique,
};
use std::time::Duration;
const CONNECTIONS: usize = 16;
const POLICY: &str = "/admin/otc/policy?intent=lookup&modules=web-search,code-exec";

const ENDPOINTS: [Endpoint; 4] = [
    ("GET /admin/health", |c| c.get("/admin/health"), 200, None),
    ("GET /admin/otc/policy", |c| c.get(POLICY), 200, Some(0.70)),
    ("POST /admin/billing/meter", meter_new, 201, Some(0.40)),
    (
        "POST /admin/otc/trajectories (single)",
        ingest_new,
        201,
        Some(0.40),
    ),
];

fn main() {
    let window = Duration::from_secs(setting("LOAD_SECONDS", 2));
    let rounds = setting("LOAD_ROUNDS", 3) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = ServerConfig::for_data_dir(dir.path());
    config.token = Some(TOKEN.into());
    config.secret_key = Some("42".repeat(32));
    let state = AppState::open(&config).expect("state opens");
    let server = admin_api::server::Background::spawn(state, "127.0.0.1:0".parse().unwrap(), 2)
        .expect("server starts");
    let base = format!("http://{}", server.addr());
    let connections: Vec<Connection> = (0..CONNECTIONS).map(|_| Connection::new(&base)).collect();
    // A learnt checkpoint, so the policy lookup is an exact hit; and warm connections.
    let seed: Vec<String> = (0..50).map(|_| trajectory(&unique())).collect();
    let status = connections[0].post("/admin/otc/trajectories", &format!("[{}]", seed.join(",")));
    assert_eq!(status, 200, "seeding the policy store");
    for endpoint in &ENDPOINTS {
        throughput(&connections, endpoint, Duration::from_millis(200));
    }

    let only = std::env::var("LOAD_ONLY").unwrap_or_default();
    let runs = |i: usize| i == 0 || ENDPOINTS[i].0.contains(only.as_str());
    let mut rates: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); ENDPOINTS.len()];
    for _ in 0..rounds {
        for (i, endpoint) in ENDPOINTS.iter().enumerate().filter(|(i, _)| runs(*i)) {
            rates[i].push(throughput(&connections, endpoint, window));
        }
    }
    let baseline = median(&mut rates[0]);
    println!("load: {CONNECTIONS} keep-alive connections, {rounds} rounds of {window:?}, medians");
    for (i, (name, _, _, goal)) in ENDPOINTS.iter().enumerate().filter(|(i, _)| runs(*i)) {
        let rate = median(&mut rates[i]);
        match goal {
            None => println!("load: {name:<38} {rate:>8.0} req/s (baseline)"),
            Some(goal) => println!(
                "load: {name:<38} {rate:>8.0} req/s = {:>5.1} % of health (goal >= {:.0} %)",
                100.0 * rate / baseline,
                100.0 * goal
            ),
        }
    }
}
