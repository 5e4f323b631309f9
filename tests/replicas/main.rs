//! Replicas suite: two real `admin-api` processes on one PostgreSQL database (each with its own
//! data directory, the same token and credential key), as a load balancer would run them.
//! Needs a server (feature `postgres-tests`; the gate runs it when one answers at
//! `OTC_TEST_DATABASE_URL`). Each test uses schemas of its own and drops them at the end.

use serde_json::{Value, json};
use std::sync::{Arc, Barrier};
use suites::admin::{Client, TestServer, temp_dir};
use suites::now_ms;

/// The three schemas of one deployment (`<prefix>admin`, `usage`, `policy`), dropped with
/// everything in them when this guard is dropped.
struct Schemas {
    url: String,
    prefix: String,
}

impl Schemas {
    fn new() -> Self {
        Self {
            url: postgres_kit::testing::database_url(),
            prefix: format!("{}_", postgres_kit::testing::unique_schema_name()),
        }
    }
}

impl Drop for Schemas {
    fn drop(&mut self) {
        let dropped = postgres::Client::connect(&self.url, postgres::NoTls).and_then(|mut c| {
            c.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{p}admin\", \"{p}usage\", \"{p}policy\" CASCADE",
                p = self.prefix
            ))
        });
        if let Err(e) = dropped
            && !std::thread::panicking()
        {
            panic!("could not drop the schemas {}*: {e}", self.prefix);
        }
    }
}

/// Two replicas on the same database; the first one to start seeds it.
struct Replicas {
    a: TestServer,
    b: TestServer,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    schemas: Schemas,
}

fn replicas() -> Replicas {
    let schemas = Schemas::new();
    let args = [
        "--database-url",
        schemas.url.as_str(),
        "--database-schema-prefix",
        schemas.prefix.as_str(),
    ];
    let (dir_a, dir_b) = (temp_dir(), temp_dir());
    let a = TestServer::binary(dir_a.path(), &args);
    let b = TestServer::binary(dir_b.path(), &args);
    Replicas {
        a,
        b,
        _dirs: (dir_a, dir_b),
        schemas,
    }
}

/// One timestamp for the whole test process, so a retried write is the same write.
fn ts() -> i64 {
    static TS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *TS.get_or_init(|| now_ms() - 1000)
}

fn meter_event(key: &str, units: f64) -> Value {
    json!({"tenant": "acme", "request_id": format!("req-{key}"), "module": "web-search",
        "tool": "search", "run_units": units, "timestamp_ms": ts(),
        "idempotency_key": key})
}

fn trajectory(id: &str, calls: usize, correct: bool) -> Value {
    json!({"request_id": id, "intent": "lookup", "modules": ["web-search", "code-exec"],
        "calls": vec!["web-search"; calls], "run_units": 1.0, "correct": correct,
        "latency_ms": 10.0, "timestamp_ms": ts()})
}

#[test]
fn the_servers_report_postgres_and_share_one_catalogue() {
    let r = replicas();
    for server in [&r.a, &r.b] {
        let ready = server.client().get("/admin/ready").json();
        assert_eq!(ready, json!({"status": "ready", "database": "postgres"}));
    }
    let (a, b) = (r.a.client(), r.b.client());
    let draft = a.post("/admin/dev/drafts", &json!({"id": "maps"})).json();
    let id = draft["id"].as_i64().expect("draft id");
    assert_eq!(b.get(&format!("/admin/dev/drafts/{id}")).json(), draft);
    // A credential set on one replica decrypts on the other (same key, one database).
    let put = a.put(
        "/admin/modules/web-search/credentials/api_key",
        &json!({"value": "k-123456789012"}),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    let check = b.get("/admin/modules/web-search/credentials").json();
    assert_eq!(check["complete"], true, "{check}");
}

/// A hard quota is never exceeded, by even one micro-unit, when both replicas meter at once.
#[test]
fn a_hard_quota_holds_exactly_across_replicas() {
    let r = replicas();
    let quota = json!({"limit": 10.0, "period": "month", "kind": "hard"});
    assert_eq!(
        r.a.client()
            .put("/admin/billing/quota?tenant=acme", &quota)
            .status,
        200
    );
    let clients: Vec<Client> = (0..8)
        .map(|i| {
            if i % 2 == 0 {
                r.a.client()
            } else {
                r.b.client()
            }
        })
        .collect();
    let barrier = Arc::new(Barrier::new(clients.len()));
    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut accepted = 0;
                for n in 0..20 {
                    let reply = client.post(
                        "/admin/billing/meter",
                        &meter_event(&format!("{i}-{n}"), 0.3),
                    );
                    match reply.status {
                        201 => accepted += 1,
                        429 => {}
                        other => panic!("meter answered {other}: {}", reply.body),
                    }
                }
                accepted
            })
        })
        .collect();
    let accepted: u32 = handles.into_iter().map(|h| h.join().expect("writer")).sum();
    assert_eq!(accepted, 33, "floor(10 / 0.3) events fit, no more");
    for server in [&r.a, &r.b] {
        let usage = server
            .client()
            .get("/admin/billing/usage?tenant=acme")
            .json();
        assert_eq!(usage["events"], 33, "{usage}");
        let units = usage["run_units"].as_f64().expect("run_units");
        assert!((units - 9.9).abs() < 1e-9 && units <= 10.0, "{usage}");
    }
}

/// Of two admins holding the same ETag, on different replicas, exactly one wins.
#[test]
fn of_two_admins_with_one_etag_on_two_replicas_exactly_one_wins() {
    let r = replicas();
    for round in 0..5 {
        let etag = r.a.client().get("/admin/routing").json()["etag"]
            .as_str()
            .expect("etag")
            .to_owned();
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = [(r.a.client(), "code-exec"), (r.b.client(), "email")]
            .into_iter()
            .map(|(client, module)| {
                let barrier = Arc::clone(&barrier);
                let etag = etag.clone();
                std::thread::spawn(move || {
                    let config = json!({"categories": {"r": {"modules": [module]},
                        "n": {"modules": ["web-search"], "description": format!("round {round}")}}});
                    barrier.wait();
                    client
                        .request(
                            "PUT",
                            "/admin/routing",
                            &[("If-Match", etag.as_str())],
                            Some(&config.to_string()),
                        )
                        .status
                })
            })
            .collect();
        let mut statuses: Vec<u16> = handles
            .into_iter()
            .map(|h| h.join().expect("admin"))
            .collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {round}");
    }
    let versions = r.b.client().get("/admin/routing/versions").json();
    assert_eq!(
        versions["total"], 6,
        "one version per round, on top of the initial one"
    );
}

/// A meter event or a trajectory retried on the other replica is a duplicate, never a second
/// row; and the policy learnt is the same whichever replica answers.
#[test]
fn retries_on_the_other_replica_are_duplicates_and_both_advise_alike() {
    let r = replicas();
    let (a, b) = (r.a.client(), r.b.client());
    let event = meter_event("once", 1.5);
    assert_eq!(a.post("/admin/billing/meter", &event).status, 201);
    let retry = b.post("/admin/billing/meter", &event);
    assert_eq!(
        (retry.status, retry.json()["status"].clone()),
        (200, json!("duplicate"))
    );
    assert_eq!(
        b.get("/admin/billing/usage?tenant=acme").json()["events"],
        1
    );
    for i in 0..40 {
        let t = trajectory(&format!("t{i}"), 1 + i % 3, i % 4 != 0);
        let client = if i % 2 == 0 { &a } else { &b };
        assert_eq!(client.post("/admin/otc/trajectories", &t).status, 201);
    }
    let again = trajectory("t7", 1 + 7 % 3, 7 % 4 != 0);
    let retry = a.post("/admin/otc/trajectories", &again);
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert!(retry.body.contains("duplicate"), "{}", retry.body);
    let policy = "/admin/otc/policy?intent=lookup&modules=web-search,code-exec";
    assert_eq!(a.get(policy).json(), b.get(policy).json());
    assert_eq!(
        a.get("/admin/otc/checkpoints").json(),
        b.get("/admin/otc/checkpoints").json()
    );
    // Each replica holds its answer in memory once asked; a write acknowledged by the other
    // replica is in the very next answer all the same.
    for i in 40..46 {
        let held = a.get(policy).json();
        assert_eq!(a.get(policy).json(), held, "asked twice, nothing written");
        let t = trajectory(&format!("t{i}"), 1 + i % 3, true);
        assert_eq!(b.post("/admin/otc/trajectories", &t).status, 201);
        let next = a.get(policy).json();
        assert_ne!(
            next, held,
            "write {i} on the other replica is not in the answer"
        );
        assert_eq!(next, b.get(policy).json());
    }
}

/// A rebuild on one replica while the other ingests leaves the checkpoints equal to a
/// rebuild from the log.
#[test]
fn a_rebuild_on_one_replica_while_the_other_ingests_equals_a_rebuild_from_the_log() {
    let r = replicas();
    let ingest = {
        let b = r.b.client();
        std::thread::spawn(move || {
            for batch in 0..10 {
                let items: Vec<Value> = (0..30)
                    .map(|i| trajectory(&format!("b{batch}-{i}"), 1 + i % 4, i % 5 != 0))
                    .collect();
                let reply = b.post("/admin/otc/trajectories", &json!(items));
                assert_eq!(reply.status, 200, "{}", reply.body);
            }
        })
    };
    let a = r.a.client();
    for _ in 0..5 {
        assert_eq!(a.post_empty("/admin/otc/rebuild").status, 200);
    }
    ingest.join().expect("ingest");
    let incremental = a.get("/admin/otc/checkpoints").json();
    assert_eq!(incremental["total"], 1);
    let rebuilt = r.b.client().post_empty("/admin/otc/rebuild").json();
    assert_eq!(rebuilt["trajectories"], 300, "{rebuilt}");
    assert_eq!(a.get("/admin/otc/checkpoints").json(), incremental);
}

/// `admin-api retention`, the real binary, beside two serving replicas: it reports what it
/// dropped as JSON, changes no answer of the replicas, and refuses a cut in the future or a
/// deployment without a database URL, with a one-line error and exit status 1.
#[test]
fn the_retention_command_runs_beside_serving_replicas_and_refuses_bad_cuts() {
    let r = replicas();
    let (a, b) = (r.a.client(), r.b.client());
    for i in 0..20 {
        let t = trajectory(&format!("keep{i}"), 1 + i % 3, i % 4 != 0);
        assert_eq!(a.post("/admin/otc/trajectories", &t).status, 201);
        let event = meter_event(&format!("keep{i}"), 0.5);
        assert_eq!(b.post("/admin/billing/meter", &event).status, 201);
    }
    let policy = "/admin/otc/policy?intent=lookup&modules=web-search,code-exec";
    let before = (
        a.get(policy).json(),
        b.get("/admin/billing/usage?tenant=acme").json(),
    );
    let schemas = &r.schemas;
    let retention = |cut: &str, with_url: bool| {
        let mut command = std::process::Command::new(suites::admin::admin_api_binary());
        command
            .args(["retention", "--before", cut])
            .args(["--database-schema-prefix", &schemas.prefix])
            .env_remove("ADMIN_API_DATABASE_URL");
        if with_url {
            command.args(["--database-url", &schemas.url]);
        }
        command.output().expect("admin-api runs")
    };
    // Every row is this month's: a past cut drops nothing and says so.
    let out = retention("2000-01-01", true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["cut_ms"], 946_684_800_000_i64);
    assert_eq!(report["policy"]["trajectories_dropped"], 0);
    assert_eq!(report["usage"]["events_dropped"], 0);
    assert_eq!(report["policy"]["partitions_dropped"], json!([]));
    assert_eq!(
        (
            a.get(policy).json(),
            b.get("/admin/billing/usage?tenant=acme").json()
        ),
        before
    );
    // Refusals: a cut in the future, no database, a cut that is not a date.
    let future = retention("2999-01-01", true);
    assert_eq!(future.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&future.stderr);
    assert!(stderr.contains("in the future"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let no_url = retention("2000-01-01", false);
    assert_eq!(no_url.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&no_url.stderr).contains("--database-url"),
        "{}",
        String::from_utf8_lossy(&no_url.stderr)
    );
    let bad = retention("last month", true);
    assert_eq!(bad.status.code(), Some(2), "clap's usage error");
    // The replicas still serve and still agree.
    assert_eq!(a.get(policy).json(), b.get(policy).json());
}
