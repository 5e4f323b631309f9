//! The load generator shared by the HTTP benches (`load`, `backends`): one `ureq` agent and
//! one thread per keep-alive connection, each sending one request after another for a fixed
//! window; every answer's status is checked. Included with `#[path]` (a file directly in
//! `benches/` would be a bench target of its own).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "bench-token-0123456789abcdef";

/// A unique suffix for every write of the run (ids and idempotency keys).
static NEXT: AtomicU64 = AtomicU64::new(0);

pub fn unique() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A new trajectory of the `lookup` intent with request id `id`, as JSON.
pub fn trajectory(id: &str) -> String {
    format!(
        r#"{{"request_id":"{id}","intent":"lookup","modules":["web-search","code-exec"],"calls":["web-search"],"run_units":1.0,"correct":true,"latency_ms":50.0,"timestamp_ms":{}}}"#,
        now_ms() - 1000
    )
}

/// `POST /admin/billing/meter` of a new event (a key of its own).
pub fn meter_new(c: &Connection) -> u16 {
    let n = unique();
    let body = format!(
        r#"{{"tenant":"load","request_id":"load-{n}","module":"web-search","tool":"search","run_units":1.0,"timestamp_ms":{},"idempotency_key":"load-{n}"}}"#,
        now_ms()
    );
    c.post("/admin/billing/meter", &body)
}

/// A single `POST /admin/otc/trajectories` of a new trajectory.
pub fn ingest_new(c: &Connection) -> u16 {
    c.post("/admin/otc/trajectories", &trajectory(&unique()))
}

/// One connection's client.
pub struct Connection {
    pub base: String,
    pub agent: ureq::Agent,
}

impl Connection {
    pub fn get(&self, path: &str) -> u16 {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .call()
            .expect("request");
        let _ = response.body_mut().read_to_vec();
        response.status().as_u16()
    }

    pub fn post(&self, path: &str, body: &str) -> u16 {
        let mut response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .header("Content-Type", "application/json")
            .send(body)
            .expect("request");
        let _ = response.body_mut().read_to_vec();
        response.status().as_u16()
    }
}

impl Connection {
    /// A keep-alive client of the server at `base` (`http://addr`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_idle_connections_per_host(1)
                .build()
                .new_agent(),
        }
    }
}

/// An endpoint under load: its name, one request, the status it must answer, and its goal as a
/// fraction of the baseline's throughput (none for the baseline).
pub type Endpoint = (&'static str, fn(&Connection) -> u16, u16, Option<f64>);

/// Requests per second of `request` over `window`, sent on every connection at once.
pub fn throughput(connections: &[Connection], endpoint: &Endpoint, window: Duration) -> f64 {
    let (name, request, expected, _) = *endpoint;
    let began = Instant::now();
    let deadline = began + window;
    let done: u64 = std::thread::scope(|scope| {
        let threads: Vec<_> = connections
            .iter()
            .map(|connection| {
                scope.spawn(move || {
                    let mut sent = 0u64;
                    while Instant::now() < deadline {
                        let status = request(connection);
                        assert_eq!(status, expected, "{name}");
                        sent += 1;
                    }
                    sent
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum()
    });
    done as f64 / began.elapsed().as_secs_f64()
}

/// An environment variable as a number, or `default`.
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
