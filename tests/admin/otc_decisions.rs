//! `POST /admin/otc/decisions` over a real socket, and trajectories that name a decision: the
//! decision's shape and what it logs, the closed loop through HTTP (the budget learnt from the
//! decisions served), the read-only policy view, and every error path.

use serde_json::{Value, json};
use suites::admin::{Client, TestServer, temp_dir};
use suites::now_ms;

const MODULES: [&str; 2] = ["web-search", "code-exec"];

fn decide(client: &Client) -> Value {
    let reply = client.post(
        "/admin/otc/decisions",
        &json!({"intent": "lookup", "modules": MODULES}),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()
}

fn trajectory(id: &str, decision: &Value, calls: usize, correct: bool) -> Value {
    let order = decision["order"].as_array().cloned().unwrap_or_default();
    let calls: Vec<Value> = (0..calls)
        .map(|i| {
            order
                .get(i.min(order.len().saturating_sub(1)))
                .cloned()
                .unwrap_or(json!("web-search"))
        })
        .collect();
    json!({
        "request_id": id, "intent": "lookup", "modules": MODULES, "calls": calls,
        "run_units": calls.len() as f64, "correct": correct, "latency_ms": 50.0,
        "timestamp_ms": now_ms() - 1000, "decision_id": decision["decision_id"],
    })
}

#[test]
fn a_decision_says_what_to_serve_and_why() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let first = decide(&client);
    for field in [
        "decision_id",
        "intent",
        "modules",
        "budget",
        "policy_budget",
        "order",
        "explore",
        "explored",
        "propensity",
        "source",
        "reason",
        "confidence",
        "evidence",
        "decided_ms",
    ] {
        assert!(first.get(field).is_some(), "{field} missing: {first}");
    }
    assert_eq!(first["decision_id"], 1);
    assert_eq!(first["source"], "unseen");
    assert_eq!(first["modules"], json!(["code-exec", "web-search"]));
    let p = first["propensity"].as_f64().unwrap();
    assert!(p > 0.0 && p <= 1.0, "{first}");
    assert_eq!(
        decide(&client)["decision_id"],
        2,
        "every decision is logged"
    );
    // The read-only view logs nothing: the next decision is number 3.
    let view = client.get("/admin/otc/policy?intent=lookup&modules=web-search,code-exec");
    assert_eq!(view.status, 200);
    assert!(view.json().get("decision_id").is_none());
    assert_eq!(decide(&client)["decision_id"], 3);
}

/// The closed loop over HTTP: an orchestrator that needs two calls of `web-search` follows
/// every decision; the budget climbs from the cold start to 2 and stays, and the read-only
/// view and the checkpoint say so.
#[test]
fn following_the_decisions_teaches_the_budget() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let mut budgets = Vec::new();
    for i in 0..80 {
        let decision = decide(&client);
        let budget = decision["budget"].as_u64().unwrap() as usize;
        let order = decision["order"].as_array().cloned().unwrap_or_default();
        // The request needs two calls of web-search, tried in the order served.
        let position = order.iter().position(|m| m == "web-search").unwrap_or(9);
        let need = position + 2;
        let correct = budget >= need;
        let mut t = trajectory(&format!("loop-{i}"), &decision, budget.min(need), correct);
        let calls: Vec<Value> = (0..budget.min(need))
            .map(|c| {
                if c < position {
                    order[c].clone()
                } else {
                    json!("web-search")
                }
            })
            .collect();
        t["calls"] = json!(calls);
        let reply = client.post("/admin/otc/trajectories", &t);
        assert_eq!(reply.status, 201, "{}", reply.body);
        budgets.push(decision["policy_budget"].as_u64().unwrap());
    }
    assert!(budgets[60..].iter().all(|&b| b == 2), "{budgets:?}");
    let view = client
        .get("/admin/otc/policy?intent=lookup&modules=web-search,code-exec")
        .json();
    assert_eq!(
        (view["budget"].clone(), view["source"].clone()),
        (json!(2), json!("exact")),
        "{view}"
    );
    assert_eq!(view["ranked"][0]["module"], "web-search", "{view}");
    assert!(view["confidence"].as_f64().unwrap() > 0.8, "{view}");
    let checkpoints = client.get("/admin/otc/checkpoints").json();
    assert_eq!(checkpoints["checkpoints"][0]["budget"], 2);
}

#[test]
fn decision_errors() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let post = |body: &Value| client.post("/admin/otc/decisions", body);
    post(&json!({"intent": "lookup"})).assert_problem(422, "validation-failed");
    post(&json!({"intent": "lookup", "modules": []})).assert_problem(422, "validation-failed");
    post(&json!({"intent": "bad name", "modules": ["a"]})).assert_problem(422, "validation-failed");
    post(&json!({"intent": "x", "modules": ["a", "a"]})).assert_problem(422, "validation-failed");
    post(&json!({"intent": "x", "modules": "a"})).assert_problem(422, "validation-failed");
    post(&json!({"intent": "x", "modules": ["a"], "extra": 1}))
        .assert_problem(422, "validation-failed");
    // The fields as an array, in order (serde alone would read it as the object).
    let problem = post(&json!(["x", ["a"]]));
    problem.assert_problem(422, "validation-failed");
    assert!(problem.body.contains("not an array"), "{}", problem.body);
    // Malformed JSON that starts with `[` is still read as before (a 400 where the parse
    // runs out of text), not refused as an array.
    for broken in ["[", "[\"x\", [\"a\"]"] {
        client
            .request("POST", "/admin/otc/decisions", &[], Some(broken))
            .assert_problem(400, "bad-request");
    }
    client
        .request("POST", "/admin/otc/decisions", &[], Some("{"))
        .assert_problem(400, "bad-request");
    client
        .request(
            "POST",
            "/admin/otc/decisions",
            &[("Content-Type", "text/plain")],
            Some("{}"),
        )
        .assert_problem(415, "unsupported-media-type");
    server
        .anonymous()
        .post(
            "/admin/otc/decisions",
            &json!({"intent": "x", "modules": ["a"]}),
        )
        .assert_problem(401, "unauthorized");
    // Nothing was logged by any of them.
    assert_eq!(decide(&client)["decision_id"], 1);
}

#[test]
fn a_trajectory_must_name_its_own_decision() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let decision = decide(&client);
    let t1 = trajectory("t1", &decision, 0, false);
    let ok = client.post("/admin/otc/trajectories", &t1);
    assert_eq!(ok.status, 201, "{}", ok.body);
    let retry = client.post("/admin/otc/trajectories", &t1);
    assert_eq!(retry.json()["status"], "duplicate", "{}", retry.body);
    // Another request reporting on the same decision.
    let problem = client
        .post(
            "/admin/otc/trajectories",
            &trajectory("t2", &decision, 0, false),
        )
        .assert_problem(422, "validation-failed");
    assert!(
        problem["detail"].as_str().unwrap().contains("decision_id"),
        "{problem}"
    );
    // A decision never made.
    let mut unknown = trajectory("t3", &decision, 0, false);
    unknown["decision_id"] = json!(424_242);
    client
        .post("/admin/otc/trajectories", &unknown)
        .assert_problem(422, "validation-failed");
    // A decision for another module set.
    let mut other = trajectory("t4", &decide(&client), 0, false);
    other["modules"] = json!(["web-search"]);
    client
        .post("/admin/otc/trajectories", &other)
        .assert_problem(422, "validation-failed");
    // Not a number, and an answered_by that was not called.
    let mut typed = trajectory("t5", &decision, 0, false);
    typed["decision_id"] = json!("one");
    client
        .post("/admin/otc/trajectories", &typed)
        .assert_problem(422, "validation-failed");
    let mut answered = trajectory("t6", &decide(&client), 0, true);
    answered["answered_by"] = json!("code-exec");
    client
        .post("/admin/otc/trajectories", &answered)
        .assert_problem(422, "validation-failed");
    // In a batch every such item is listed at its pointer and nothing is stored.
    let fresh = decide(&client);
    let batch = json!([
        trajectory("b1", &fresh, 0, false),
        trajectory("b2", &fresh, 0, false),
        unknown,
    ]);
    let problem = client
        .post("/admin/otc/trajectories", &batch)
        .assert_problem(422, "validation-failed");
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/1/decision_id", "/2/decision_id"], "{problem}");
    let checkpoint = client.get("/admin/otc/checkpoints").json();
    assert_eq!(
        checkpoint["checkpoints"][0]["samples"], 1,
        "only t1 was stored"
    );
}
