//! Routing config: versions, ETag/If-Match (428, 412, exactly one concurrent winner),
//! validation against the catalogue, patch, delete, reload, history and rollback, and no
//! version for a write that changes nothing.

use serde_json::{Value, json};
use suites::admin::{Client, TestServer, temp_dir};

fn current_etag(client: &Client) -> String {
    let reply = client.get("/admin/routing");
    assert_eq!(reply.status, 200);
    let etag = reply.header("etag").expect("ETag header").to_owned();
    assert_eq!(reply.json()["etag"], etag);
    etag
}

fn put(client: &Client, etag: &str, config: &Value) -> suites::admin::Reply {
    client.request(
        "PUT",
        "/admin/routing",
        &[("If-Match", etag)],
        Some(&config.to_string()),
    )
}

fn one_category(module: &str) -> Value {
    json!({"categories": {"only": {"modules": [module]}}})
}

#[test]
fn get_returns_version_one_with_its_etag() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let reply = server.client().get("/admin/routing");
    let doc = reply.json();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["source"], "initial");
    assert_eq!(reply.header("etag"), Some("\"routing-v1\""));
    assert_eq!(doc["config"]["default_category"], "research");
    server
        .anonymous()
        .get("/admin/routing")
        .assert_problem(401, "unauthorized");
}

#[test]
fn put_makes_a_new_version_and_needs_a_current_if_match() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let v1 = current_etag(&client);
    let config = one_category("code-exec");
    client
        .put("/admin/routing", &config)
        .assert_problem(428, "precondition-required");
    let reply = put(&client, &v1, &config);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["version"], 2);
    assert_eq!(reply.json()["config"], config);
    assert_eq!(reply.header("etag"), Some("\"routing-v2\""));
    put(&client, &v1, &config).assert_problem(412, "stale-version");
    // `*` explicitly overwrites whatever is current.
    assert_eq!(
        put(&client, "*", &one_category("email")).json()["version"],
        3
    );
}

#[test]
fn invalid_configs_are_refused() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let cases = [
        (one_category("no-such-module"), 422, "unknown module"),
        (one_category("weather"), 422, "disabled module"),
        (
            json!({"categories": {"x": {"modules": []}}}),
            422,
            "no module",
        ),
        (
            json!({"categories": {"x": {"modules": ["email", "email"]}}}),
            422,
            "twice",
        ),
        (
            json!({"categories": {"bad name": {"modules": ["email"]}}}),
            422,
            "category names",
        ),
        (
            json!({"default_category": "zzz", "categories": {"x": {"modules": ["email"]}}}),
            422,
            "default_category",
        ),
        (
            json!({"categories": {"x": {"modules": ["email"], "extra": 1}}}),
            422,
            "unknown field",
        ),
        (json!({"categories": "nope"}), 422, "invalid type"),
        (json!({}), 422, "missing field"),
    ];
    for (config, status, needle) in cases {
        let doc = put(&client, "*", &config).assert_problem(status, "validation-failed");
        assert!(
            doc["detail"].as_str().unwrap().contains(needle),
            "{config}: {doc}"
        );
    }
    assert_eq!(
        client.get("/admin/routing").json()["version"],
        1,
        "nothing was written"
    );
}

#[test]
fn concurrent_writers_with_the_same_etag_exactly_one_wins() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let etag = current_etag(&server.client());
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let client = server.client();
                let etag = etag.clone();
                scope.spawn(move || {
                    let module = if i % 2 == 0 { "email" } else { "code-exec" };
                    put(&client, &etag, &one_category(module)).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(server.client().get("/admin/routing").json()["version"], 2);
}

#[test]
fn patch_merges_and_validates() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let patch = |etag: &str, body: Value| {
        client.request(
            "PATCH",
            "/admin/routing",
            &[
                ("If-Match", etag),
                ("Content-Type", "application/merge-patch+json"),
            ],
            Some(&body.to_string()),
        )
    };
    let reply = patch(
        "\"routing-v1\"",
        json!({"categories": {"coding": null, "mail": {"modules": ["email"]}}}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let categories = &reply.json()["config"]["categories"];
    assert!(categories.get("coding").is_none() && categories.get("mail").is_some());
    patch(
        "\"routing-v2\"",
        json!({"categories": {"mail": {"modules": ["weather"]}}}),
    )
    .assert_problem(422, "validation-failed");
    patch(
        "\"routing-v2\"",
        json!({"categories": {"mail": {"modules": 5}}}),
    )
    .assert_problem(422, "validation-failed");
    patch("\"routing-v1\"", json!({})).assert_problem(412, "stale-version");
    client
        .request("PATCH", "/admin/routing", &[], Some("{}"))
        .assert_problem(428, "precondition-required");
    client
        .request("PATCH", "/admin/routing", &[("If-Match", "*")], Some("{"))
        .assert_problem(400, "bad-request");
}

#[test]
fn delete_category() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let del = |name: &str, etag: &str| {
        client.request(
            "DELETE",
            &format!("/admin/routing/categories/{name}"),
            &[("If-Match", etag)],
            None,
        )
    };
    let reply = del("coding", "\"routing-v1\"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.json()["config"]["categories"].get("coding").is_none());
    del("coding", "\"routing-v2\"").assert_problem(404, "not-found");
    del("scheduling", "\"routing-v1\"").assert_problem(412, "stale-version");
    // The default category cannot go while it is the default.
    del("research", "*").assert_problem(422, "validation-failed");
    client
        .delete("/admin/routing/categories/scheduling")
        .assert_problem(428, "precondition-required");
}

#[test]
fn reload_reads_the_routing_file() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let file = dir.path().join("routing.json");
    std::fs::write(&file, one_category("email").to_string()).unwrap();
    let reply = client.post_empty("/admin/routing/reload");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["source"], "reload");
    assert_eq!(reply.json()["config"], one_category("email"));
    client
        .request(
            "POST",
            "/admin/routing/reload",
            &[("If-Match", "\"routing-v1\"")],
            None,
        )
        .assert_problem(412, "stale-version");
    std::fs::write(&file, one_category("weather").to_string()).unwrap();
    client
        .post_empty("/admin/routing/reload")
        .assert_problem(422, "validation-failed");
    std::fs::write(&file, "{not json").unwrap();
    let doc = client
        .post_empty("/admin/routing/reload")
        .assert_problem(422, "validation-failed");
    let detail = doc["detail"].as_str().unwrap();
    assert!(
        !detail.contains(dir.path().to_str().unwrap()),
        "no file paths: {detail}"
    );
    assert_eq!(client.get("/admin/routing").json()["version"], 2);
}

#[test]
fn versions_list_and_rollback() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    assert_eq!(
        client.post_empty("/admin/modules/weather/enable").status,
        200
    );
    assert_eq!(put(&client, "*", &one_category("weather")).status, 200); // v2
    assert_eq!(put(&client, "*", &one_category("email")).status, 200); // v3
    let list = client.get("/admin/routing/versions?limit=2").json();
    assert_eq!(
        (list["current"].clone(), list["total"].clone()),
        (json!(3), json!(3))
    );
    let numbers: Vec<_> = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].clone())
        .collect();
    assert_eq!(numbers, [json!(3), json!(2)]);
    // Like module versions, each summary carries its ETag and whether it is current.
    assert_eq!(
        (
            &list["versions"][0]["etag"],
            &list["versions"][0]["current"]
        ),
        (&json!("\"routing-v3\""), &json!(true))
    );
    assert_eq!(list["versions"][1]["current"], false);
    let page2 = client
        .get("/admin/routing/versions?limit=2&offset=2")
        .json();
    assert_eq!(page2["versions"][0]["version"], 1);
    client
        .get("/admin/routing/versions?limit=0")
        .assert_problem(400, "bad-request");
    client
        .get("/admin/routing/versions?limit=x")
        .assert_problem(400, "bad-request");
    client
        .get("/admin/routing/versions?color=red")
        .assert_problem(400, "bad-request");
    assert_eq!(
        client.get("/admin/routing/versions/2").json()["config"],
        one_category("weather")
    );
    client
        .get("/admin/routing/versions/99")
        .assert_problem(404, "not-found");
    let doc = client
        .get("/admin/routing/versions/abc")
        .assert_problem(400, "bad-request");
    assert_eq!(
        doc["detail"],
        "a number in the path is malformed: expected a whole number"
    );

    let rollback = |version: Value, etag: &str| {
        client.request(
            "POST",
            "/admin/routing/rollback",
            &[("If-Match", etag)],
            Some(&json!({"to_version": version}).to_string()),
        )
    };
    let reply = rollback(json!(1), "\"routing-v3\"");
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.header("location"), Some("/admin/routing/versions/4"));
    assert_eq!(reply.json()["version"], 4);
    assert_eq!(reply.json()["source"], "rollback:1");
    assert_eq!(reply.json()["source_version"], 1);
    assert_eq!(
        reply.json()["config"],
        client.get("/admin/routing/versions/1").json()["config"]
    );
    rollback(json!(1), "\"routing-v3\"").assert_problem(412, "stale-version");
    rollback(json!(42), "*").assert_problem(404, "not-found");
    rollback(json!("one"), "*").assert_problem(422, "validation-failed");
    // Version 2 routes to weather; once weather is disabled, rolling back to it is refused.
    assert_eq!(
        client.post_empty("/admin/modules/weather/disable").status,
        200
    );
    rollback(json!(2), "*").assert_problem(422, "validation-failed");
    client
        .post("/admin/routing/rollback", &json!({"to_version": 1}))
        .assert_problem(428, "precondition-required");
    // History is never rewritten.
    assert_eq!(client.get("/admin/routing/versions").json()["total"], 4);
}

fn patch(client: &Client, body: &str) -> suites::admin::Reply {
    client.request(
        "PATCH",
        "/admin/routing",
        &[
            ("If-Match", "*"),
            ("Content-Type", "application/merge-patch+json"),
        ],
        Some(body),
    )
}

fn reload(client: &Client) -> suites::admin::Reply {
    client.request("POST", "/admin/routing/reload", &[("If-Match", "*")], None)
}

/// Regression: `PATCH {}`, a patch removing an absent category, a reload of an unchanged file
/// and a rollback to the current content each appended an identical version.
#[test]
fn a_write_that_changes_nothing_makes_no_version() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let v1 = client.get("/admin/routing").json();
    let unchanged = |reply: suites::admin::Reply| {
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("etag"), Some("\"routing-v1\""));
        assert_eq!(reply.json(), v1);
    };
    unchanged(patch(&client, "{}"));
    unchanged(patch(&client, r#"{"categories": {"gone": null}}"#));
    unchanged(put(&client, "\"routing-v1\"", &v1["config"]));
    // The data directory's routing file is the one the first version was loaded from.
    unchanged(reload(&client));
    assert_eq!(client.get("/admin/routing/versions").json()["total"], 1);

    // A real change is a version; a rollback to a version with the current content is 409.
    assert_eq!(put(&client, "*", &one_category("email")).status, 200); // v2
    let same = put(&client, "*", &one_category("email"));
    assert_eq!(same.status, 200);
    assert_eq!(same.json()["version"], 2);
    let back = client.request(
        "POST",
        "/admin/routing/rollback",
        &[("If-Match", "*")],
        Some(&json!({"to_version": 1}).to_string()),
    );
    assert_eq!(back.status, 201, "{}", back.body); // v3, the content of v1
    for to in [1, 3] {
        let doc = client
            .request(
                "POST",
                "/admin/routing/rollback",
                &[("If-Match", "*")],
                Some(&json!({"to_version": to}).to_string()),
            )
            .assert_problem(409, "conflict");
        assert_eq!(
            doc["detail"],
            format!("version {to}'s content is already current")
        );
    }
    assert_eq!(client.get("/admin/routing/versions").json()["total"], 3);
}

/// Regression: a reload with the routing file missing, or a directory at its path, was a
/// generic 500. It is a 409 that says what is wrong, without the path, which goes to the log.
#[test]
fn reload_with_a_missing_or_unreadable_file_is_a_409_without_the_path() {
    let dir = temp_dir();
    let logs = temp_dir();
    let log_file = logs.path().join("admin-api.log");
    let server = TestServer::binary_logging(dir.path(), &[], "warn", Some(&log_file));
    let client = server.client();
    let file = dir.path().join("routing.json");
    std::fs::remove_file(&file).unwrap();
    let doc = reload(&client).assert_problem(409, "conflict");
    assert_eq!(
        doc["detail"],
        "the routing file is missing; see the server log for its path"
    );
    std::fs::create_dir(&file).unwrap();
    let doc = reload(&client).assert_problem(409, "conflict");
    assert_eq!(
        doc["detail"],
        "the routing file is a directory; see the server log for its path"
    );
    std::fs::remove_dir(&file).unwrap();
    std::fs::write(&file, [0xff, 0xfe, b'{']).unwrap();
    let doc = reload(&client).assert_problem(409, "conflict");
    assert_eq!(
        doc["detail"],
        "the routing file is not UTF-8 text; see the server log for its path"
    );
    std::fs::write(&file, "[1, 2").unwrap();
    let doc = reload(&client).assert_problem(422, "validation-failed");
    assert!(
        !doc["detail"]
            .as_str()
            .unwrap()
            .contains(dir.path().to_str().unwrap()),
        "{doc}"
    );
    assert_eq!(client.get("/admin/routing").json()["version"], 1);
    server.stop();
    let log = std::fs::read_to_string(&log_file).unwrap();
    let path = file.display().to_string();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("routing reload") && l.contains(&path))
            .count(),
        3,
        "the log names the file for each refused reload:\n{log}"
    );
}
