//! Admin API response shapes: one snapshot per response kind, taken over a real socket from a
//! fresh server. Timestamps (`*_ms`) are zeroed, so only the shape and the deterministic
//! values are pinned. A changed snapshot is a changed public contract: review it.

use serde_json::{Value, json};
use suites::admin::{Client, TestServer, temp_dir};
use suites::now_ms;

/// Zeroes every number under a key ending in `_ms` and rounds other floats to six decimals
/// (so last-bit float noise is not part of the contract), recursively.
fn normalise(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key.ends_with("_ms") && v.is_number() {
                    *v = json!(0);
                } else {
                    normalise(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or_default();
            *value = json!((x * 1e6).round() / 1e6);
        }
        _ => {}
    }
}

fn check(name: &str, reply: suites::admin::Reply) {
    let mut doc = json!({"status": reply.status, "body": reply.json()});
    normalise(&mut doc);
    insta::assert_json_snapshot!(name, doc);
}

fn routing_write(
    client: &Client,
    method: &str,
    path: &str,
    etag: &str,
    body: Option<&Value>,
) -> suites::admin::Reply {
    let text = body.map(Value::to_string);
    client.request(method, path, &[("If-Match", etag)], text.as_deref())
}

#[test]
fn admin_api_response_shapes() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let c = server.client();
    check("health", server.anonymous().get("/admin/health"));
    check("ready", server.anonymous().get("/admin/ready"));
    check("module", c.get("/admin/modules/web-search"));
    check(
        "module_disable_conflict",
        c.post_empty("/admin/modules/web-search/disable"),
    );
    check(
        "credential_set",
        c.put(
            "/admin/modules/calendar/credentials/oauth_client_secret",
            &json!({"value": "a-long-enough-secret-42"}),
        ),
    );
    check(
        "credential_check",
        c.get("/admin/modules/calendar/credentials"),
    );
    check("routing", c.get("/admin/routing"));
    check(
        "routing_put",
        routing_write(
            &c,
            "PUT",
            "/admin/routing",
            "\"routing-v1\"",
            Some(&json!({"categories": {"c": {"modules": ["email"]}}})),
        ),
    );
    check(
        "routing_stale",
        routing_write(
            &c,
            "PUT",
            "/admin/routing",
            "\"routing-v1\"",
            Some(&json!({"categories": {}})),
        ),
    );
    check(
        "routing_precondition_required",
        c.put("/admin/routing", &json!({"categories": {}})),
    );
    check(
        "routing_unknown_module",
        routing_write(
            &c,
            "PUT",
            "/admin/routing",
            "*",
            Some(&json!({"categories": {"c": {"modules": ["nope"]}}})),
        ),
    );
    check("routing_versions", c.get("/admin/routing/versions"));
    check(
        "routing_rollback",
        routing_write(
            &c,
            "POST",
            "/admin/routing/rollback",
            "*",
            Some(&json!({"to_version": 1})),
        ),
    );
    let quota = json!({"limit": 3.0, "period": "day", "kind": "hard"});
    check(
        "quota_put",
        c.request("PUT", "/admin/billing/quota", &[], Some(&quota.to_string())),
    );
    let ts = now_ms() - 1000;
    let event = |key: &str, units: f64| {
        json!({"request_id": "req-1", "module": "web-search", "tool": "search",
            "run_units": units, "timestamp_ms": ts, "idempotency_key": key})
    };
    check(
        "meter_recorded",
        c.post("/admin/billing/meter", &event("k1", 2.0)),
    );
    check(
        "meter_duplicate",
        c.post("/admin/billing/meter", &event("k1", 2.0)),
    );
    check(
        "meter_quota_exhausted",
        c.post("/admin/billing/meter", &event("k2", 2.0)),
    );
    check("usage", c.get("/admin/billing/usage"));
    check("quota", c.get("/admin/billing/quota"));
    check(
        "history",
        c.get(&format!(
            "/admin/billing/history?bucket=hour&from_ms={}",
            ts - 3_600_000
        )),
    );
    let trajectory = |id: &str| {
        json!({"request_id": id, "intent": "lookup", "modules": ["web-search"],
            "calls": ["web-search"], "correct": true, "latency_ms": 10.0, "timestamp_ms": ts})
    };
    check(
        "trajectory_accepted",
        c.post("/admin/otc/trajectories", &trajectory("req-1")),
    );
    check(
        "trajectory_duplicate",
        c.post("/admin/otc/trajectories", &trajectory("req-1")),
    );
    check(
        "trajectory_batch",
        c.post(
            "/admin/otc/trajectories",
            &json!([trajectory("req-2"), trajectory("req-3")]),
        ),
    );
    let mut bad = trajectory("req-4");
    bad["calls"] = json!(["email"]);
    check(
        "trajectory_batch_invalid",
        c.post(
            "/admin/otc/trajectories",
            &json!([trajectory("req-5"), bad]),
        ),
    );
    let decision = c.post(
        "/admin/otc/decisions",
        &json!({"intent": "lookup", "modules": ["web-search"]}),
    );
    let decision_id = decision.json()["decision_id"].clone();
    check("decision", decision);
    let mut decided = trajectory("req-6");
    decided["decision_id"] = decision_id;
    decided["answered_by"] = json!("web-search");
    check(
        "trajectory_with_decision",
        c.post("/admin/otc/trajectories", &decided),
    );
    check(
        "policy",
        c.get("/admin/otc/policy?intent=lookup&modules=web-search"),
    );
    check(
        "policy_unseen",
        c.get("/admin/otc/policy?intent=other&modules=a,b"),
    );
    check("checkpoints", c.get("/admin/otc/checkpoints"));
    check("rebuild", c.post_empty("/admin/otc/rebuild"));
    // One decision was answered (req-6): one round; the others named none.
    check(
        "evaluate",
        c.post("/admin/otc/evaluate", &json!({"candidate": {}})),
    );
    check(
        "evaluate_refused",
        c.post(
            "/admin/otc/evaluate",
            &json!({"candidate": {}, "scope": {"intent": "other"}}),
        ),
    );
    check(
        "evaluate_invalid",
        c.post(
            "/admin/otc/evaluate",
            &json!({"candidate": {"budget": {"tolerance": 0.9}}}),
        ),
    );
    check("unauthorized", server.anonymous().get("/admin/modules"));
    check("not_found", c.get("/admin/nope"));
    check("method_not_allowed", c.delete("/admin/modules"));
    check(
        "malformed_json",
        c.request("PUT", "/admin/routing", &[("If-Match", "*")], Some("{")),
    );
}
