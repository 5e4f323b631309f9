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
    assert_eq!(after.1["complete"], true);
    assert_eq!(after.2["version"], 2);
}
