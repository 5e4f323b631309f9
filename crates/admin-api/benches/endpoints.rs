//! Endpoint latency over loopback: `GET /admin/health` (the bare liveness baseline),
//! `GET /admin/modules`, `GET /admin/otc/policy` and `POST /admin/otc/trajectories`, one HTTP
//! request per iteration against an in-process server with a fresh data directory.
//!
//! Criterion names (what `cargo xtask verify` reads): group `endpoints`, function ids
//! `GET /admin/health`, `GET /admin/modules`, `GET /admin/otc/policy`,
//! `POST /admin/otc/trajectories` (criterion stores them under
//! `target/criterion/endpoints/GET _admin_health/` etc.). Sampling is flat, and each
//! iteration times exactly one request, so with one iteration per sample every criterion
//! sample is one request's latency.
//!
//! After the criterion runs, a summary phase sends the four requests round-robin (so drift
//! hits all alike), then prints p50/p95/p99 per endpoint and each p50 as a ratio to the
//! liveness p50 measured in the same run. Goal: policy lookup p50 within 2x of liveness,
//! p99 under 1 ms.

use admin_api::{AppState, ServerConfig};
use criterion::{Criterion, SamplingMode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token-0123456789abcdef";
const POLICY: &str = "/admin/otc/policy?intent=lookup&modules=web-search,code-exec";

struct Fixture {
    base: String,
    agent: ureq::Agent,
    next_id: AtomicU64,
    _server: admin_api::server::Background,
    _dir: tempfile::TempDir,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn trajectory(id: &str, calls: usize) -> String {
    let calls = vec!["\"web-search\""; calls].join(",");
    format!(
        r#"{{"request_id":"{id}","intent":"lookup","modules":["web-search","code-exec"],"calls":[{calls}],"run_units":1.0,"correct":true,"latency_ms":50.0,"timestamp_ms":{}}}"#,
        now_ms() - 1000
    )
}

impl Fixture {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::for_data_dir(dir.path());
        config.token = Some(TOKEN.into());
        config.secret_key = Some("42".repeat(32));
        let state = AppState::open(&config).expect("state opens");
        let server = admin_api::server::Background::spawn(state, "127.0.0.1:0".parse().unwrap(), 2)
            .expect("server starts");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let fixture = Self {
            base: format!("http://{}", server.addr()),
            agent,
            next_id: AtomicU64::new(0),
            _server: server,
            _dir: dir,
        };
        // A learnt checkpoint, so the policy lookup is an exact hit.
        let batch: Vec<String> = (0..50)
            .map(|i| trajectory(&format!("seed-{i}"), 2))
            .collect();
        let status = fixture.post("/admin/otc/trajectories", &format!("[{}]", batch.join(",")));
        assert_eq!(status, 200, "seeding the policy store");
        fixture
    }

    fn get(&self, path: &str) -> u16 {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .call()
            .expect("request");
        let _ = response.body_mut().read_to_vec();
        response.status().as_u16()
    }

    fn post(&self, path: &str, body: &str) -> u16 {
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

    fn new_trajectory(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        trajectory(
            &format!("bench-{}-{n}", std::process::id()),
            1 + (n % 3) as usize,
        )
    }
}

/// One request of an endpoint: (criterion function id, the request, its expected status).
type Endpoint = (&'static str, fn(&Fixture) -> u16, u16);

const ENDPOINTS: [Endpoint; 4] = [
    ("GET /admin/health", |f| f.get("/admin/health"), 200),
    ("GET /admin/modules", |f| f.get("/admin/modules"), 200),
    ("GET /admin/otc/policy", |f| f.get(POLICY), 200),
    (
        "POST /admin/otc/trajectories",
        |f| f.post("/admin/otc/trajectories", &f.new_trajectory()),
        201,
    ),
];

fn bench_endpoints(c: &mut Criterion, fixture: &Fixture) {
    let mut group = c.benchmark_group("endpoints");
    group.sampling_mode(SamplingMode::Flat);
    for (name, request, expected) in ENDPOINTS {
        assert_eq!(request(fixture), expected, "{name} answers {expected}");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let status = request(fixture);
                    total += start.elapsed();
                    debug_assert_eq!(status, expected);
                }
                total
            });
        });
    }
    group.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Round-robin requests, then per-request percentiles and each p50 against liveness.
fn summary(fixture: &Fixture, rounds: usize) {
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); ENDPOINTS.len()];
    for _ in 0..rounds {
        for (i, (_, request, _)) in ENDPOINTS.iter().enumerate() {
            let start = Instant::now();
            request(fixture);
            samples[i].push(start.elapsed());
        }
    }
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let mut base_p50 = None;
    eprintln!("\nendpoint latency, {rounds} requests each, round-robin over loopback:");
    eprintln!(
        "  {:<30} {:>9} {:>9} {:>9} {:>12}",
        "endpoint", "p50 µs", "p95 µs", "p99 µs", "p50/health"
    );
    for ((name, _, _), mut s) in ENDPOINTS.iter().zip(samples) {
        s.sort_unstable();
        let (p50, p95, p99) = (
            percentile(&s, 50.0),
            percentile(&s, 95.0),
            percentile(&s, 99.0),
        );
        let base = *base_p50.get_or_insert(p50);
        eprintln!(
            "  {:<30} {:>9.1} {:>9.1} {:>9.1} {:>11.2}x",
            name,
            micros(p50),
            micros(p95),
            micros(p99),
            p50.as_secs_f64() / base.as_secs_f64()
        );
        if *name == "GET /admin/otc/policy" {
            let ratio = p50.as_secs_f64() / base.as_secs_f64();
            eprintln!(
                "  goal: policy p50 within 2x of liveness: {} ({ratio:.2}x); p99 under 1 ms: {} ({:.1} µs)",
                if ratio <= 2.0 { "met" } else { "NOT met" },
                if p99 < Duration::from_millis(1) {
                    "met"
                } else {
                    "NOT met"
                },
                micros(p99)
            );
        }
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(100)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not (criterion then runs
    // each benchmark once as a smoke test, and the summary is skipped).
    let benchmarking = std::env::args().any(|a| a == "--bench")
        && !std::env::args().any(|a| a == "--list" || a == "--test");
    let fixture = Fixture::start();
    bench_endpoints(&mut criterion, &fixture);
    if benchmarking {
        summary(&fixture, 2000);
    }
    criterion.final_summary();
}
