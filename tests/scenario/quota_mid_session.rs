//! A tenant's hard quota runs out in the middle of a request; the orchestrator's retry is
//! refused until an admin raises the quota, then goes through exactly once; the request's metered
//! cost then becomes the cost term of its OTC reward.

use serde_json::{Value, json};
use suites::admin::{Client, TestServer, temp_dir};
use suites::now_ms;

fn tool_call(request: &str, n: u32, units: f64, ts: i64) -> Value {
    json!({
        "tenant": "acme", "request_id": request, "module": "web-search", "tool": "search",
        "run_units": units, "timestamp_ms": ts, "idempotency_key": format!("{request}-call-{n}"),
    })
}

fn set_quota(client: &Client, limit: f64) {
    let quota = json!({"limit": limit, "period": "day", "kind": "hard"});
    let put = client.put("/admin/billing/quota?tenant=acme", &quota);
    assert_eq!(put.status, 200, "{}", put.body);
}

#[test]
fn quota_runs_out_mid_session_admin_raises_it_and_the_retry_goes_through_once() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let ts = now_ms();
    set_quota(&client, 10.0);

    // The first two tool calls of request r-1 fit; the third would cross the limit.
    for n in 1..=2 {
        let reply = client.post("/admin/billing/meter", &tool_call("r-1", n, 4.0, ts));
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let refused = client.post("/admin/billing/meter", &tool_call("r-1", 3, 4.0, ts));
    let problem = refused.assert_problem(429, "quota-exhausted");
    assert!(
        problem["detail"].as_str().unwrap().contains("acme"),
        "{problem}"
    );
    // The refusal wrote nothing: usage is still the two calls.
    let usage = client.get("/admin/billing/usage?tenant=acme").json();
    assert_eq!(
        (usage["run_units"].clone(), usage["events"].clone()),
        (json!(8.0), json!(2))
    );
    assert_eq!(usage["state"]["remaining"], 2.0);

    // An admin raises the quota; the orchestrator retries the same call (same key).
    set_quota(&client, 20.0);
    let retried = client.post("/admin/billing/meter", &tool_call("r-1", 3, 4.0, ts));
    assert_eq!(retried.status, 201, "{}", retried.body);
    // A second retry of that call is a duplicate, not a second charge.
    let again = client.post("/admin/billing/meter", &tool_call("r-1", 3, 4.0, ts));
    assert_eq!(
        (again.status, again.json()["status"].clone()),
        (200, json!("duplicate"))
    );
    let usage = client.get("/admin/billing/usage?tenant=acme").json();
    assert_eq!(usage["run_units"], 12.0);
    assert_eq!(usage["state"]["remaining"], 8.0);
    assert_eq!(usage["state"]["exhausted"], false);

    // The request completes; its trajectory omits run_units, so the policy scores it with
    // what was metered: r_cost = 12 / (12 + 10) under the default normaliser.
    let trajectory = json!({
        "request_id": "r-1", "intent": "research", "modules": ["web-search"],
        "calls": ["web-search", "web-search", "web-search"], "correct": true,
        "latency_ms": 850.0, "timestamp_ms": ts,
    });
    let ingested = client.post("/admin/otc/trajectories", &trajectory);
    assert_eq!(ingested.status, 201, "{}", ingested.body);
    let score = &ingested.json()["score"];
    let r_cost = score["r_cost"].as_f64().unwrap();
    assert!((r_cost - 12.0 / 22.0).abs() < 1e-9, "{score}");
    // n = m = 3 for the first correct trajectory, so r_tool is 1 and the composite 1 - 0.1·r_cost.
    assert_eq!(score["r_tool"], 1.0);
    assert!((score["composite"].as_f64().unwrap() - (1.0 - 0.1 * r_cost)).abs() < 1e-9);
}
