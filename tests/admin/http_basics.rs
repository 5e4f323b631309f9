//! Cross-cutting HTTP behaviour: liveness, readiness, auth, problem+json for every error
//! (unknown routes, wrong methods, malformed bodies, oversized bodies).

use serde_json::json;
use suites::admin::{TestServer, temp_dir};

#[test]
fn liveness_needs_no_token_and_readiness_is_open_by_default() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let anon = server.anonymous();
    let health = anon.get("/admin/health");
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "ok"}))
    );
    let ready = anon.get("/admin/ready");
    assert_eq!(
        (ready.status, ready.json()),
        (200, json!({"status": "ready", "database": "sqlite"}))
    );
}

#[test]
fn readiness_can_require_the_token() {
    let dir = temp_dir();
    let mut config = suites::admin::test_config(dir.path());
    config.ready_requires_auth = true;
    let server = TestServer::in_process_with(config);
    server
        .anonymous()
        .get("/admin/ready")
        .assert_problem(401, "unauthorized");
    assert_eq!(server.client().get("/admin/ready").status, 200);
}

#[test]
fn missing_and_wrong_tokens_get_the_same_401() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let missing = server.anonymous().get("/admin/modules");
    let wrong = server
        .client()
        .with_token(Some("nope-nope-nope-nope"))
        .get("/admin/modules");
    let prefix = server
        .client()
        .with_token(Some("test-token-0123456789abcde"))
        .get("/admin/modules");
    let basic = server.anonymous().request(
        "GET",
        "/admin/modules",
        &[("Authorization", "Basic dGVzdA==")],
        None,
    );
    for reply in [&missing, &wrong, &prefix, &basic] {
        reply.assert_problem(401, "unauthorized");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }
    assert_eq!(missing.body, wrong.body);
    assert_eq!(wrong.body, prefix.body);
    // Unknown routes are behind auth too: an anonymous client learns nothing of the API.
    server
        .anonymous()
        .get("/admin/no-such-thing")
        .assert_problem(401, "unauthorized");
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let reply = server.anonymous().request(
        "GET",
        "/admin/modules",
        &[(
            "Authorization",
            &format!("bearer {}", suites::admin::TEST_TOKEN),
        )],
        None,
    );
    assert_eq!(reply.status, 200);
}

#[test]
fn unknown_routes_and_wrong_methods_are_problems() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    client.get("/admin/nope").assert_problem(404, "not-found");
    client.get("/elsewhere").assert_problem(404, "not-found");
    let wrong = client.delete("/admin/modules");
    wrong.assert_problem(405, "method-not-allowed");
    assert!(wrong.header("allow").is_some_and(|a| a.contains("GET")));
}

#[test]
fn malformed_bodies_are_problems_that_leak_nothing() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let path = "/admin/modules/web-search/credentials/api_key";
    client
        .request("PUT", path, &[], Some("{\"value\":"))
        .assert_problem(400, "bad-request");
    client
        .request("PUT", path, &[("Content-Type", "text/plain")], Some("x"))
        .assert_problem(415, "unsupported-media-type");
    client
        .request("PUT", path, &[], None)
        .assert_problem(415, "unsupported-media-type");
    client
        .put(path, &json!({"value": 12}))
        .assert_problem(422, "validation-failed");
    client
        .put(path, &json!({}))
        .assert_problem(422, "validation-failed");
    // A secret sent in the wrong place is not echoed back in the error.
    let reply = client.put(
        path,
        &json!({"value": "ok-value", "secret": "hunter2hunter2"}),
    );
    reply.assert_problem(422, "validation-failed");
    let reply = client.put(path, &json!({"value": ["hunter2hunter2"]}));
    reply.assert_problem(422, "validation-failed");
    assert!(!reply.body.contains("hunter2"), "{}", reply.body);
}

#[test]
fn bodies_over_the_limit_get_413() {
    let dir = temp_dir();
    let mut config = suites::admin::test_config(dir.path());
    config.body_limit = 1024;
    let server = TestServer::in_process_with(config);
    let big = json!({"value": "x".repeat(4096)}).to_string();
    server
        .client()
        .request(
            "PUT",
            "/admin/modules/web-search/credentials/api_key",
            &[],
            Some(&big),
        )
        .assert_problem(413, "payload-too-large");
    let patch = json!({"categories": {"a": {"modules": ["x"], "description": "y".repeat(4096)}}});
    server
        .client()
        .request(
            "PATCH",
            "/admin/routing",
            &[("If-Match", "*")],
            Some(&patch.to_string()),
        )
        .assert_problem(413, "payload-too-large");
}

#[test]
fn the_real_binary_serves_and_stops_gracefully_on_sigterm() {
    let dir = temp_dir();
    let server = TestServer::binary(dir.path(), &[]);
    assert_eq!(server.anonymous().get("/admin/health").status, 200);
    assert_eq!(server.client().get("/admin/modules").status, 200);
    let pid = server.pid().expect("binary server");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    assert!(server.wait_exit_success(), "admin-api exits 0 on SIGTERM");
}
