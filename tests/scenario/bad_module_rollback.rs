//! A module author publishes a good version, routes to it, then publishes a version that passes
//! validation but breaks the tool routing relies on; the admin rolls back, and the catalogue,
//! the version history and routing all tell the same story. A manifest that fails validation
//! never becomes a version at all.

use serde_json::{Value, json};
use suites::admin::{Client, TestServer, temp_dir};

fn manifest(version: &str, tool: &str) -> Value {
    json!({
        "id": "translator", "name": "Translator", "version": version,
        "description": "Translates text between languages.",
        "tools": [{"name": tool, "description": "Translate a passage."}],
        "required_credentials": ["api_key"],
    })
}

fn publish(client: &Client, manifest: &Value) -> Value {
    let draft = client.post("/admin/dev/drafts", manifest);
    assert_eq!(draft.status, 201, "{}", draft.body);
    let id = draft.json()["id"].clone();
    let published = client.post_empty(&format!("/admin/dev/drafts/{id}/publish"));
    assert_eq!(published.status, 201, "{}", published.body);
    published.json()
}

fn current_tools(client: &Client) -> Vec<String> {
    let versions = client.get("/admin/dev/modules/translator/versions").json();
    let list = versions["versions"].as_array().expect("a versions list");
    let current = list
        .iter()
        .find(|v| v["current"] == true)
        .expect("one current version");
    current["manifest"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_bad_module_version_is_published_routed_to_and_rolled_back() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();

    // Version 1: good. A new module starts disabled; enable it and route a category to it.
    publish(&client, &manifest("1.0.0", "translate"));
    let enabled = client.post_empty("/admin/modules/translator/enable");
    assert_eq!(enabled.status, 200, "{}", enabled.body);
    let routing = client.get("/admin/routing");
    let etag = routing
        .header("etag")
        .expect("routing has an ETag")
        .to_string();
    let patch = json!({"categories": {"translation": {"modules": ["translator"]}}});
    let patched = client.request(
        "PATCH",
        "/admin/routing",
        &[
            ("If-Match", &etag),
            ("Content-Type", "application/merge-patch+json"),
        ],
        Some(&patch.to_string()),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);

    // An invalid manifest is refused at publish and changes nothing.
    let mut broken = manifest("1.1", "");
    broken["surprise"] = json!(true);
    let draft = client.post("/admin/dev/drafts", &broken);
    assert_eq!(draft.status, 201, "{}", draft.body);
    let id = draft.json()["id"].clone();
    let refused = client.post_empty(&format!("/admin/dev/drafts/{id}/publish"));
    let problem = refused.assert_problem(422, "validation-failed");
    assert!(
        problem["errors"].as_array().unwrap().len() >= 3,
        "{problem}"
    );
    assert_eq!(current_tools(&client), ["translate"]);

    // Version 2 validates but renames the tool routing depends on: the bad release.
    publish(&client, &manifest("2.0.0", "translate_v2"));
    assert_eq!(current_tools(&client), ["translate_v2"]);
    let routed = client.get("/admin/routing").json();
    assert_eq!(
        routed["config"]["categories"]["translation"]["modules"],
        json!(["translator"])
    );

    // Roll back to version 1: it becomes current as version 3; history keeps all three.
    let rolled = client.post(
        "/admin/dev/modules/translator/rollback",
        &json!({"to_version": 1}),
    );
    assert_eq!(rolled.status, 201, "{}", rolled.body);
    assert_eq!(current_tools(&client), ["translate"]);
    let versions = client.get("/admin/dev/modules/translator/versions").json();
    let numbers: Vec<i64> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2, 1]);
    assert_eq!(versions["versions"][0]["source_version"], 1);
    // The module stayed enabled and routed through all of it.
    let module = client.get("/admin/modules/translator").json();
    assert_eq!(module["enabled"], true, "{module}");
    // Rolling back to what is already current is refused, not a silent new version.
    client
        .post(
            "/admin/dev/modules/translator/rollback",
            &json!({"to_version": 3}),
        )
        .assert_problem(409, "conflict");
}
