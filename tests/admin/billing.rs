//! Billing: metering (idempotent), usage, history pages, quota get/set/delete, and a hard
//! quota's exhaustion as 429 `quota-exhausted`.

use serde_json::{Value, json};
use suites::admin::{Client, TestServer, temp_dir};
use suites::now_ms;

/// One timestamp for the whole test process, so a retried event is the same event.
fn ts() -> i64 {
    static TS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *TS.get_or_init(now_ms)
}

fn event(key: &str, units: f64) -> Value {
    json!({
        "tenant": "acme", "request_id": format!("req-{key}"), "module": "web-search",
        "tool": "search", "run_units": units, "timestamp_ms": ts(), "idempotency_key": key,
    })
}

fn meter(client: &Client, body: &Value) -> suites::admin::Reply {
    client.post("/admin/billing/meter", body)
}

#[test]
fn metering_is_idempotent_and_shows_in_usage() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let first = meter(&client, &event("a", 1.5));
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.json()["status"], "recorded");
    let retry = meter(&client, &event("a", 1.5));
    assert_eq!(
        (retry.status, retry.json()["status"].clone()),
        (200, json!("duplicate"))
    );
    let mut other = event("a", 2.0);
    other["tool"] = json!("other");
    meter(&client, &other).assert_problem(409, "conflict");
    let usage = client.get("/admin/billing/usage?tenant=acme").json();
    assert_eq!(usage["run_units"], 1.5);
    assert_eq!(usage["events"], 1);
    assert_eq!(usage["by_module"]["web-search"]["events"], 1);
    assert_eq!(usage["window"]["period"], "month");
    assert_eq!(usage["quota"], Value::Null);
    // The default tenant is separate.
    assert_eq!(client.get("/admin/billing/usage").json()["run_units"], 0.0);
}

#[test]
fn metering_validation_failures() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    for (field, value) in [
        ("run_units", json!(-1.0)),
        ("run_units", json!(1e9)),
        ("tenant", json!("")),
        ("timestamp_ms", json!(now_ms() + 3_600_000)),
    ] {
        let mut body = event("v", 1.0);
        body[field] = value;
        let doc = meter(&client, &body).assert_problem(422, "validation-failed");
        assert!(doc["detail"].as_str().unwrap().contains(field), "{doc}");
    }
    // A module outside the catalogue is refused and nothing is written: the same key then
    // records a new event for a catalogued module (not a duplicate, not a conflict).
    let mut unknown = event("u", 1.0);
    unknown["module"] = json!("web-serach");
    let doc = meter(&client, &unknown).assert_problem(422, "validation-failed");
    let detail = doc["detail"].as_str().unwrap();
    assert!(
        detail.contains("module") && detail.contains("catalogue"),
        "{doc}"
    );
    let usage = client.get("/admin/billing/usage?tenant=acme").json();
    assert_eq!(usage["events"], 0, "{usage}");
    assert_eq!(meter(&client, &event("u", 1.0)).status, 201);
    let mut body = event("v", 1.0);
    body.as_object_mut().unwrap().remove("module");
    meter(&client, &body).assert_problem(422, "validation-failed");
    body["module"] = json!("m");
    body["surprise"] = json!(1);
    meter(&client, &body).assert_problem(422, "validation-failed");
    client
        .get("/admin/billing/usage?tenant=acme&color=red")
        .assert_problem(400, "bad-request");
    client
        .get("/admin/billing/usage?at_ms=soon")
        .assert_problem(400, "bad-request");
    // Regression: `at_ms=-1` was reported as "invalid now_ms", a name the client never sent.
    let doc = client
        .get("/admin/billing/usage?at_ms=-1")
        .assert_problem(422, "validation-failed");
    let detail = doc["detail"].as_str().unwrap();
    assert!(
        detail.contains("at_ms") && !detail.contains("now_ms"),
        "{doc}"
    );
    server
        .anonymous()
        .post("/admin/billing/meter", &event("x", 1.0))
        .assert_problem(401, "unauthorized");
}

#[test]
fn a_hard_quota_refuses_once_exhausted() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let quota = json!({"limit": 2.0, "period": "day", "kind": "hard"});
    let put = client.request(
        "PUT",
        "/admin/billing/quota?tenant=acme",
        &[],
        Some(&quota.to_string()),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["quota"], quota);
    assert_eq!(meter(&client, &event("q1", 1.5)).status, 201);
    let refused = meter(&client, &event("q2", 1.0));
    let doc = refused.assert_problem(429, "quota-exhausted");
    assert!(doc["detail"].as_str().unwrap().contains("quota"), "{doc}");
    // Retry-After: the seconds left until the daily quota resets at the next UTC midnight.
    let day_ms = 86_400_000;
    let left_s = (day_ms - ts().rem_euclid(day_ms)) / 1000;
    let retry: i64 = refused
        .header("retry-after")
        .expect("Retry-After on 429")
        .parse()
        .unwrap();
    assert!(
        (left_s - 5..=left_s + 1).contains(&retry),
        "Retry-After {retry}, expected about {left_s}"
    );
    // What fits still fits; the retry of a recorded event is still a duplicate.
    assert_eq!(meter(&client, &event("q3", 0.5)).status, 201);
    assert_eq!(meter(&client, &event("q1", 1.5)).status, 200);
    meter(&client, &event("q4", 0.1)).assert_problem(429, "quota-exhausted");
    let view = client.get("/admin/billing/quota?tenant=acme").json();
    assert_eq!(view["state"]["used"], 2.0);
    assert_eq!(view["state"]["exhausted"], true);
    let usage = client.get("/admin/billing/usage?tenant=acme").json();
    assert_eq!(usage["state"]["remaining"], 0.0);
    assert_eq!(usage["quota"], quota);
    // The quota appears once: its state does not repeat it.
    assert_eq!(view["state"].get("quota"), None, "{view}");
    assert_eq!(usage["window"]["period"], "day");
}

#[test]
fn quota_get_put_delete_and_validation() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let empty = client.get("/admin/billing/quota?tenant=t");
    assert_eq!(
        empty.json(),
        json!({"tenant": "t", "quota": null, "state": null})
    );
    let soft = json!({"limit": 10.0, "period": "month", "kind": "soft"});
    assert_eq!(
        client
            .request(
                "PUT",
                "/admin/billing/quota?tenant=t",
                &[],
                Some(&soft.to_string())
            )
            .status,
        200
    );
    assert_eq!(
        client.get("/admin/billing/quota?tenant=t").json()["quota"],
        soft
    );
    for bad in [
        json!({"limit": -1.0, "period": "day", "kind": "hard"}),
        json!({"limit": 1.0, "period": "week", "kind": "hard"}),
        json!({"limit": 1.0, "period": "day"}),
    ] {
        client
            .request(
                "PUT",
                "/admin/billing/quota?tenant=t",
                &[],
                Some(&bad.to_string()),
            )
            .assert_problem(422, "validation-failed");
    }
    assert_eq!(client.delete("/admin/billing/quota?tenant=t").status, 204);
    client
        .delete("/admin/billing/quota?tenant=t")
        .assert_problem(404, "not-found");
    server
        .anonymous()
        .get("/admin/billing/quota")
        .assert_problem(401, "unauthorized");
}

#[test]
fn history_is_bucketed_and_paginated() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let hour = 3_600_000;
    let base = (now_ms() / hour - 5) * hour;
    for i in 0..4 {
        let mut body = event(&format!("h{i}"), 1.0);
        body["timestamp_ms"] = json!(base + i * hour + 10);
        assert_eq!(meter(&client, &body).status, 201);
    }
    let url = format!("/admin/billing/history?tenant=acme&bucket=hour&from_ms={base}&limit=3");
    let page = client.get(&url).json();
    assert_eq!(page["buckets"].as_array().unwrap().len(), 3, "{page}");
    assert_eq!(page["buckets"][0]["start_ms"], base);
    assert_eq!(
        page["buckets"][0]["by_module"]["web-search"],
        json!({"run_units": 1.0, "events": 1})
    );
    let cursor = page["next_cursor"].as_i64().expect("a next page");
    let next = client.get(&format!("{url}&cursor={cursor}")).json();
    assert_eq!(next["buckets"].as_array().unwrap().len(), 1, "{next}");
    assert_eq!(next["next_cursor"], Value::Null);
    let day = client
        .get(&format!(
            "/admin/billing/history?tenant=acme&from_ms={base}"
        ))
        .json();
    assert_eq!(day["bucket"], "day");
    let total: f64 = day["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["run_units"].as_f64().unwrap())
        .sum();
    assert_eq!(total, 4.0);
    client
        .get("/admin/billing/history?tenant=acme&bucket=week&from_ms=0")
        .assert_problem(400, "bad-request");
    client
        .get("/admin/billing/history?tenant=acme")
        .assert_problem(400, "bad-request");
    client
        .get(&format!(
            "/admin/billing/history?from_ms={base}&to_ms={}",
            base - 1
        ))
        .assert_problem(422, "validation-failed");
    // A bad limit is the same 400, in the same words, as on the offset/limit lists
    // (regression: it was 422 "invalid limit: must be in 1..=1000").
    for limit in ["0", "1001", "x"] {
        let doc = client
            .get(&format!(
                "/admin/billing/history?from_ms={base}&limit={limit}"
            ))
            .assert_problem(400, "bad-request");
        assert_eq!(doc["detail"], "limit must be a whole number from 1 to 1000");
    }
}
