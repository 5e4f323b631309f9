//! A restart of the real binary keeps every change: modules, credentials, routing versions.

use serde_json::json;
use suites::admin::{TestServer, temp_dir};

#[test]
fn a_restart_keeps_every_change() {
    let dir = temp_dir();
    let server = TestServer::binary(dir.path(), &[]);
    let client = server.client();
    assert_eq!(
        client.post_empty("/admin/modules/weather/enable").status,
        200
    );
    let set = client.put(
        "/admin/modules/weather/credentials/api_key",
        &json!({"value": "weather-secret-123456"}),
    );
    assert_eq!(set.status, 200);
    let put = client.request(
        "PUT",
        "/admin/routing",
        &[("If-Match", "\"routing-v1\"")],
        Some(&json!({"categories": {"sky": {"modules": ["weather"]}}}).to_string()),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    let now = suites::now_ms();
    let quota = json!({"limit": 100.0, "period": "month", "kind": "hard"});
    let set_quota = client.request("PUT", "/admin/billing/quota", &[], Some(&quota.to_string()));
    assert_eq!(set_quota.status, 200);
    let event = json!({"request_id": "r1", "module": "weather", "tool": "forecast",
        "run_units": 2.5, "timestamp_ms": now - 1000, "idempotency_key": "r1/0"});
    assert_eq!(client.post("/admin/billing/meter", &event).status, 201);
    let trajectory = json!({"request_id": "r1", "intent": "sky", "modules": ["weather"],
        "calls": ["weather"], "correct": true, "latency_ms": 10.0, "timestamp_ms": now - 500});
    assert_eq!(
        client.post("/admin/otc/trajectories", &trajectory).status,
        201
    );
    let billing_before = (
        client.get("/admin/billing/usage").json(),
        client.get("/admin/billing/quota").json(),
        client.get("/admin/otc/checkpoints").json(),
    );
    let before = (
        client.get("/admin/modules").json(),
        client.get("/admin/modules/weather/credentials").json(),
        client.get("/admin/routing").json(),
        client.get("/admin/routing/versions").json(),
    );
    server.stop();

    let server = TestServer::binary(dir.path(), &[]);
    let client = server.client();
    let after = (
        client.get("/admin/modules").json(),
        client.get("/admin/modules/weather/credentials").json(),
        client.get("/admin/routing").json(),
        client.get("/admin/routing/versions").json(),
    );
    assert_eq!(before, after);
    let billing_after = (
        client.get("/admin/billing/usage").json(),
        client.get("/admin/billing/quota").json(),
        client.get("/admin/otc/checkpoints").json(),
    );
    assert_eq!(billing_before, billing_after);
    assert_eq!(billing_after.0["run_units"], 2.5);
    assert_eq!(billing_after.2["total"], 1);
    // The trajectory was already stored before the restart.
    assert_eq!(
        client.post("/admin/otc/trajectories", &trajectory).status,
        200
    );
    assert_eq!(after.1["complete"], true);
    assert_eq!(after.2["version"], 2);
}
