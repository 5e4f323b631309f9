//! Endpoint latency over loopback: one read and one write of every endpoint group (health,
//! modules, credentials, routing, dev-mode, billing, otc), one HTTP request per iteration
//! against an in-process server with a fresh data directory. `GET /admin/health` is the bare
//! liveness baseline every other figure is judged against.
//!
//! Criterion names (what `cargo xtask verify` reads): group `endpoints`, function ids
//! `METHOD /path` as in [`ENDPOINTS`] (criterion stores them under
//! `target/criterion/endpoints/GET _admin_health/` etc.). Sampling is flat, and each
//! iteration times exactly one request, so with one iteration per sample every criterion
//! sample is one request's latency. Writes are real writes: every metered call, trajectory and
//! decision is new, every routing patch makes a version, every credential is re-encrypted.
//!
//! After the criterion runs, a summary phase sends the requests round-robin (so drift hits
//! all alike), then prints p50/p95/p99 per endpoint and each p50 as a ratio to the liveness
//! p50 measured in the same run. Goal: policy lookup p50 within 2x of liveness, p99 under 1 ms.

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
    /// The dev-mode draft the write benchmark revises.
    draft: String,
    _server: admin_api::server::Background,
    _dir: tempfile::TempDir,
}

fn trajectory(id: &str, calls: usize) -> String {
    let calls = vec!["\"web-search\""; calls].join(",");
    format!(
        r#"{{"request_id":"{id}","intent":"lookup","modules":["web-search","code-exec"],"calls":[{calls}],"run_units":1.0,"correct":true,"latency_ms":50.0,"timestamp_ms":{}}}"#,
        jiff::Timestamp::now().as_millisecond() - 1000
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
            draft: String::new(),
            _server: server,
            _dir: dir,
        };
        let mut fixture = fixture;
        let (status, body) = fixture.send("POST", "/admin/dev/drafts", &draft_manifest(0), &[]);
        assert_eq!(status, 201, "creating the bench draft: {body}");
        let id = body
            .split("\"id\":")
            .nth(1)
            .and_then(|rest| rest.split([',', '}']).next())
            .expect("the draft's id");
        fixture.draft = format!("/admin/dev/drafts/{}", id.trim());
        // A learnt checkpoint, so the policy lookup is an exact hit.
        let batch: Vec<String> = (0..50)
            .map(|i| trajectory(&format!("seed-{i}"), 2))
            .collect();
        let status = fixture.post("/admin/otc/trajectories", &format!("[{}]", batch.join(",")));
        assert_eq!(status, 200, "seeding the policy store");
        fixture
    }

    /// A request with a JSON body; returns the status and the body.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "POST" => self.agent.post(url),
            "PUT" => self.agent.put(url),
            "PATCH" => self.agent.patch(url),
            other => panic!("no body for {other}"),
        }
        .header("Authorization", format!("Bearer {TOKEN}"));
        if !headers.iter().any(|(name, _)| *name == "Content-Type") {
            request = request.header("Content-Type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.send(body).expect("request");
        let body = response.body_mut().read_to_string().unwrap_or_default();
        (response.status().as_u16(), body)
    }

    fn next(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
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
        self.send("POST", path, body, &[]).0
    }

    fn new_trajectory(&self) -> String {
        let n = self.next();
        trajectory(
            &format!("bench-{}-{n}", std::process::id()),
            1 + (n % 3) as usize,
        )
    }
}

/// One request of an endpoint: (criterion function id, the request, its expected status).
type Endpoint = (&'static str, fn(&Fixture) -> u16, u16);

/// A dev-mode manifest; `n` makes each revision differ.
fn draft_manifest(n: u64) -> String {
    format!(
        r#"{{"id":"bench-translator","name":"Bench translator {n}","version":"1.0.0","tools":[{{"name":"translate"}}]}}"#
    )
}

/// A metered tool call that is new every time (its own idempotency key).
fn meter_call(f: &Fixture) -> u16 {
    let n = f.next();
    let body = format!(
        r#"{{"tenant":"bench","request_id":"bench-{n}","module":"web-search","tool":"search","run_units":1.0,"timestamp_ms":{},"idempotency_key":"bench-{}-{n}"}}"#,
        jiff::Timestamp::now().as_millisecond(),
        std::process::id()
    );
    f.post("/admin/billing/meter", &body)
}

/// A routing patch that changes the config (so each one makes a version).
fn routing_patch(f: &Fixture) -> u16 {
    let n = f.next();
    let body = format!(
        r#"{{"categories":{{"bench":{{"modules":["web-search"],"description":"Bench {n}."}}}}}}"#
    );
    let headers = [
        ("If-Match", "*"),
        ("Content-Type", "application/merge-patch+json"),
    ];
    f.send("PATCH", "/admin/routing", &body, &headers).0
}

/// One read and one write of every endpoint group; health first (the baseline).
const ENDPOINTS: [Endpoint; 15] = [
    ("GET /admin/health", |f| f.get("/admin/health"), 200),
    ("GET /admin/ready", |f| f.get("/admin/ready"), 200),
    ("GET /admin/modules", |f| f.get("/admin/modules"), 200),
    (
        "POST /admin/modules/{id}/enable",
        |f| f.post("/admin/modules/weather/enable", ""),
        200,
    ),
    (
        "GET /admin/modules/{id}/credentials",
        |f| f.get("/admin/modules/web-search/credentials"),
        200,
    ),
    (
        "PUT /admin/modules/{id}/credentials/{name}",
        |f| {
            let body = r#"{"value":"bench-secret-value"}"#;
            let path = "/admin/modules/web-search/credentials/api_key";
            f.send("PUT", path, body, &[]).0
        },
        200,
    ),
    ("GET /admin/routing", |f| f.get("/admin/routing"), 200),
    ("PATCH /admin/routing", routing_patch, 200),
    ("GET /admin/dev/drafts", |f| f.get("/admin/dev/drafts"), 200),
    (
        "PUT /admin/dev/drafts/{id}",
        |f| {
            let body = draft_manifest(f.next());
            f.send("PUT", &f.draft, &body, &[("If-Match", "*")]).0
        },
        200,
    ),
    (
        "GET /admin/billing/usage",
        |f| f.get("/admin/billing/usage?tenant=bench"),
        200,
    ),
    ("POST /admin/billing/meter", meter_call, 201),
    ("GET /admin/otc/policy", |f| f.get(POLICY), 200),
    (
        "POST /admin/otc/trajectories",
        |f| f.post("/admin/otc/trajectories", &f.new_trajectory()),
        201,
    ),
    (
        "POST /admin/otc/decisions",
        |f| {
            let body = r#"{"intent":"lookup","modules":["web-search","code-exec"]}"#;
            f.post("/admin/otc/decisions", body)
        },
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
                    assert_eq!(status, expected, "{name}");
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
        "  {:<44} {:>9} {:>9} {:>9} {:>12}",
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
            "  {:<44} {:>9.1} {:>9.1} {:>9.1} {:>11.2}x",
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
