//! Credentials: set, check, delete; the secret never comes back and is not in the database
//! file.

use serde_json::json;
use suites::admin::{TestServer, temp_dir};

const SECRET: &str = "sk-live-VERY-secret-value-42";

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let bytes = std::fs::read(&path).ok()?;
            bytes
                .windows(needle.len())
                .any(|w| w == needle)
                .then(|| path.display().to_string())
        })
        .collect()
}

#[test]
fn a_secret_round_trips_without_ever_coming_back() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let path = "/admin/modules/web-search/credentials";
    let before = client.get(path);
    assert_eq!(before.status, 200);
    assert_eq!(before.json()["missing"], json!(["api_key"]));
    assert_eq!(before.json()["complete"], false);

    let set = client.put(&format!("{path}/api_key"), &json!({"value": SECRET}));
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.json()["hint"], "••••42");
    let check = client.get(path);
    assert_eq!(check.status, 200);
    let doc = check.json();
    assert_eq!(doc["missing"], json!([]));
    assert_eq!(doc["complete"], true);
    assert_eq!(doc["set"][0]["name"], "api_key");
    assert_eq!(doc["set"][0]["readable"], true);
    for reply in [&set, &check] {
        assert!(!reply.body.contains(SECRET) && !reply.body.contains("VERY-secret"));
    }

    // Not in the database, its WAL, or anything else under the data directory.
    let hits = files_contain(dir.path(), SECRET.as_bytes());
    assert!(hits.is_empty(), "secret readable in {hits:?}");
    server.stop();
    let hits = files_contain(dir.path(), SECRET.as_bytes());
    assert!(
        hits.is_empty(),
        "secret readable in {hits:?} after shutdown"
    );

    // Still set after a restart with the same key; deleted afterwards.
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    assert_eq!(client.get(path).json()["complete"], true);
    assert_eq!(client.delete(&format!("{path}/api_key")).status, 204);
    assert_eq!(client.get(path).json()["missing"], json!(["api_key"]));
    client
        .delete(&format!("{path}/api_key"))
        .assert_problem(404, "not-found");
}

#[test]
fn short_secrets_get_no_hint_and_optional_names_are_allowed() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let set = client.put(
        "/admin/modules/code-exec/credentials/extra_token",
        &json!({"value": "short"}),
    );
    assert_eq!(set.status, 200);
    assert_eq!(set.json()["hint"], serde_json::Value::Null);
    let check = client.get("/admin/modules/code-exec/credentials").json();
    assert_eq!(check["required"], json!([]));
    assert_eq!(check["set"][0]["name"], "extra_token");
    assert_eq!(check["complete"], true);
}

#[test]
fn a_different_key_cannot_read_old_secrets() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    server.client().put(
        "/admin/modules/web-search/credentials/api_key",
        &json!({"value": SECRET}),
    );
    server.stop();
    let mut config = suites::admin::test_config(dir.path());
    config.secret_key = Some("ff".repeat(32));
    let server = TestServer::in_process_with(config);
    let check = server
        .client()
        .get("/admin/modules/web-search/credentials")
        .json();
    assert_eq!(check["set"][0]["readable"], false);
    assert_eq!(check["set"][0]["hint"], serde_json::Value::Null);
}

/// Regression: after a restart with another credential key, an unreadable secret still
/// counted as set (`missing: []`, `complete: true`) and nothing was logged.
#[test]
fn a_restart_under_another_key_reports_unreadable_secrets_as_missing() {
    let dir = temp_dir();
    let server = TestServer::binary(dir.path(), &[]);
    let client = server.client();
    for (module, name) in [("web-search", "api_key"), ("web-search", "extra")] {
        let path = format!("/admin/modules/{module}/credentials/{name}");
        assert_eq!(client.put(&path, &json!({"value": SECRET})).status, 200);
    }
    let check = client.get("/admin/modules/web-search/credentials").json();
    assert_eq!(
        (&check["unreadable"], &check["complete"]),
        (&json!([]), &json!(true))
    );
    server.stop();

    let logs = temp_dir();
    let log_file = logs.path().join("admin-api.log");
    let other_key = "ff".repeat(32);
    let server = TestServer::binary_logging(
        dir.path(),
        &["--secret-key", &other_key],
        "warn",
        Some(&log_file),
    );
    let check = server
        .client()
        .get("/admin/modules/web-search/credentials")
        .json();
    assert_eq!(check["unreadable"], json!(["api_key", "extra"]));
    assert_eq!(check["missing"], json!(["api_key"]));
    assert_eq!(check["complete"], false);
    server.stop();
    let log = std::fs::read_to_string(&log_file).unwrap();
    let warning: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("do not decrypt with the current credential key"))
        .collect();
    assert_eq!(warning.len(), 1, "one startup warning:\n{log}");
    assert!(warning[0].contains("unreadable=2"), "{}", warning[0]);
    assert!(!log.contains(SECRET) && !log.contains(&other_key), "{log}");
}

#[test]
fn credential_validation_failures() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    client
        .put(
            "/admin/modules/nope/credentials/api_key",
            &json!({"value": SECRET}),
        )
        .assert_problem(404, "not-found");
    client
        .get("/admin/modules/nope/credentials")
        .assert_problem(404, "not-found");
    client
        .put(
            "/admin/modules/web-search/credentials/bad%20name",
            &json!({"value": SECRET}),
        )
        .assert_problem(400, "bad-request");
    client
        .put(
            "/admin/modules/web-search/credentials/api_key",
            &json!({"value": ""}),
        )
        .assert_problem(422, "validation-failed");
    client
        .put(
            "/admin/modules/web-search/credentials/api_key",
            &json!({"value": "x".repeat(9000)}),
        )
        .assert_problem(422, "validation-failed");
    let anon = server.anonymous();
    anon.put(
        "/admin/modules/web-search/credentials/api_key",
        &json!({"value": SECRET}),
    )
    .assert_problem(401, "unauthorized");
    anon.get("/admin/modules/web-search/credentials")
        .assert_problem(401, "unauthorized");
    anon.delete("/admin/modules/web-search/credentials/api_key")
        .assert_problem(401, "unauthorized");
}

#[test]
fn the_key_file_is_created_owner_only() {
    let dir = temp_dir();
    let mut config = suites::admin::test_config(dir.path());
    config.secret_key = None;
    config.token = None;
    let server = TestServer::in_process_with(config);
    for name in ["secret.key", "admin-token"] {
        let meta = std::fs::metadata(dir.path().join(name)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        }
        assert!(meta.len() >= 32, "{name}");
    }
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let client = suites::admin::Client::new(&server.base, Some(token.trim()));
    assert_eq!(client.get("/admin/modules").status, 200);
}
