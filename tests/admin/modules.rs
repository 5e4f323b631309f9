//! Modules: list, get, enable, disable; disabling a routed module is refused.

use serde_json::json;
use suites::admin::{TestServer, temp_dir};

#[test]
fn the_catalogue_is_loaded_on_first_start() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let list = server.client().get("/admin/modules");
    assert_eq!(list.status, 200);
    let ids: Vec<_> = list.json()["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        ["calendar", "code-exec", "email", "weather", "web-search"]
    );
    assert!(dir.path().join("modules.json").exists());
}

#[test]
fn get_enable_disable_round_trip() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let weather = client.get("/admin/modules/weather");
    assert_eq!(weather.status, 200);
    assert_eq!(weather.json()["enabled"], false);
    assert_eq!(weather.json()["required_credentials"], json!(["api_key"]));
    let enabled = client.post_empty("/admin/modules/weather/enable");
    assert_eq!(
        (enabled.status, &enabled.json()["enabled"]),
        (200, &json!(true))
    );
    assert_eq!(client.get("/admin/modules/weather").json()["enabled"], true);
    let disabled = client.post_empty("/admin/modules/weather/disable");
    assert_eq!(
        (disabled.status, &disabled.json()["enabled"]),
        (200, &json!(false))
    );
}

#[test]
fn unknown_modules_are_404() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    client
        .get("/admin/modules/nope")
        .assert_problem(404, "not-found");
    client
        .post_empty("/admin/modules/nope/enable")
        .assert_problem(404, "not-found");
    client
        .post_empty("/admin/modules/nope/disable")
        .assert_problem(404, "not-found");
    client
        .get("/admin/modules/web-search/nope")
        .assert_problem(404, "not-found");
}

#[test]
fn a_module_the_routing_uses_cannot_be_disabled() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let doc = server
        .client()
        .post_empty("/admin/modules/web-search/disable")
        .assert_problem(409, "conflict");
    assert!(doc["detail"].as_str().unwrap().contains("routing"), "{doc}");
}

#[test]
fn module_routes_need_the_token() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let anon = server.anonymous();
    anon.get("/admin/modules/weather")
        .assert_problem(401, "unauthorized");
    anon.post_empty("/admin/modules/weather/enable")
        .assert_problem(401, "unauthorized");
    anon.post_empty("/admin/modules/weather/disable")
        .assert_problem(401, "unauthorized");
}
