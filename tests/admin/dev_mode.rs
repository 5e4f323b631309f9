//! Dev-mode over a real socket: drafts (create, list, get, put under If-Match, delete),
//! publish with full validation, the OpenAPI paths; [`versions`] covers publishing into the
//! catalogue, version history, rollback and a restart of the real binary.

mod versions;

use serde_json::{Value, json};
use suites::admin::{Client, Reply, TestServer, temp_dir};

fn manifest(id: &str, name: &str, label: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "description": format!("{name}, for tests."),
        "version": label,
        "tools": [
            {"name": "geocode", "description": "Place to coordinates.", "input_schema": {"type": "object"}},
            {"name": "route"}
        ],
        "required_credentials": ["api_key"]
    })
}

fn create(client: &Client, manifest: &Value) -> Value {
    let reply = client.post("/admin/dev/drafts", manifest);
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()
}

fn put(client: &Client, id: &Value, etag: &str, manifest: &Value) -> Reply {
    client.request(
        "PUT",
        &format!("/admin/dev/drafts/{id}"),
        &[("If-Match", etag)],
        Some(&manifest.to_string()),
    )
}

fn publish(client: &Client, id: &Value) -> Reply {
    client.post_empty(&format!("/admin/dev/drafts/{id}/publish"))
}

/// Creates and publishes a draft; returns the publish answer.
fn create_and_publish(client: &Client, manifest: &Value) -> Value {
    let draft = create(client, manifest);
    let reply = publish(client, &draft["id"]);
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()
}

fn rollback(client: &Client, module: &str, to: i64, headers: &[(&str, &str)]) -> Reply {
    client.request(
        "POST",
        &format!("/admin/dev/modules/{module}/rollback"),
        headers,
        Some(&json!({"to_version": to}).to_string()),
    )
}

#[test]
fn every_dev_endpoint_needs_the_token() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let anon = server.anonymous();
    let body = Some("{}");
    for (method, path) in [
        ("GET", "/admin/dev/drafts"),
        ("POST", "/admin/dev/drafts"),
        ("GET", "/admin/dev/drafts/1"),
        ("PUT", "/admin/dev/drafts/1"),
        ("DELETE", "/admin/dev/drafts/1"),
        ("POST", "/admin/dev/drafts/1/validate"),
        ("POST", "/admin/dev/drafts/1/publish"),
        ("GET", "/admin/dev/modules/web-search/versions"),
        ("GET", "/admin/dev/modules/web-search/versions/1"),
        ("POST", "/admin/dev/modules/web-search/rollback"),
    ] {
        anon.request(method, path, &[], body)
            .assert_problem(401, "unauthorized");
    }
}

#[test]
fn drafts_are_created_listed_read_and_deleted() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let reply = client.post("/admin/dev/drafts", &manifest("maps", "Maps", "1.0.0"));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let draft = reply.json();
    let id = draft["id"].as_i64().expect("numeric id");
    assert_eq!(
        reply.header("location"),
        Some(&*format!("/admin/dev/drafts/{id}"))
    );
    assert_eq!(reply.header("etag"), Some(&*format!("\"draft-{id}-r1\"")));
    assert_eq!(draft["etag"], format!("\"draft-{id}-r1\""));
    assert_eq!(
        (&draft["revision"], &draft["state"], &draft["module_id"]),
        (&json!(1), &json!("draft"), &json!("maps"))
    );
    assert_eq!(draft["manifest"], manifest("maps", "Maps", "1.0.0"));
    let got = client.get(&format!("/admin/dev/drafts/{id}"));
    assert_eq!((got.status, got.json()), (200, draft.clone()));
    assert_eq!(got.header("etag"), draft["etag"].as_str());

    // Incomplete manifests are fine as drafts; without an id there is no module_id.
    let partial = create(&client, &json!({"name": "Half done"}));
    assert!(partial.get("module_id").is_none(), "{partial}");
    create(&client, &json!({}));

    let list = client.get("/admin/dev/drafts?limit=2").json();
    assert_eq!(list["total"], 3);
    let ids: Vec<_> = list["drafts"]
        .as_array()
        .expect("drafts")
        .iter()
        .map(|d| d["id"].clone())
        .collect();
    assert_eq!(ids, [json!(id + 2), json!(id + 1)], "newest first");
    let rest = client.get("/admin/dev/drafts?limit=2&offset=2").json();
    assert_eq!(rest["drafts"][0]["id"], id);
    assert_eq!(
        client.get("/admin/dev/drafts?state=published").json()["total"],
        0
    );
    assert_eq!(
        client.get("/admin/dev/drafts?state=draft").json()["total"],
        3
    );

    let deleted = client.delete(&format!("/admin/dev/drafts/{id}"));
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    client
        .get(&format!("/admin/dev/drafts/{id}"))
        .assert_problem(404, "not-found");
    client
        .delete(&format!("/admin/dev/drafts/{id}"))
        .assert_problem(404, "not-found");
    assert_eq!(client.get("/admin/dev/drafts").json()["total"], 2);
    // Ids are never reused after a delete.
    let next = create(&client, &json!({}));
    assert_eq!(next["id"], id + 3);
}

#[test]
fn draft_inputs_are_checked() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    // Well-formed ids that name no draft are 404.
    for path in [
        "/admin/dev/drafts/0",
        "/admin/dev/drafts/-1",
        "/admin/dev/drafts/999",
    ] {
        client.get(path).assert_problem(404, "not-found");
    }
    // A malformed id is 400 with the sentence of every other numeric path id, on every
    // draft route (it was a 404 here while routing and module versions said 400).
    for (method, path) in [
        ("GET", "/admin/dev/drafts/abc"),
        ("PUT", "/admin/dev/drafts/abc"),
        ("DELETE", "/admin/dev/drafts/abc"),
        ("POST", "/admin/dev/drafts/abc/validate"),
        ("POST", "/admin/dev/drafts/abc/publish"),
        ("GET", "/admin/dev/drafts/99999999999999999999"),
    ] {
        let doc = client
            .request(method, path, &[], Some("{}"))
            .assert_problem(400, "bad-request");
        assert_eq!(
            doc["detail"], "a number in the path is malformed: expected a whole number",
            "{method} {path}"
        );
    }
    client
        .post("/admin/dev/drafts", &json!(["not", "an", "object"]))
        .assert_problem(422, "validation-failed");
    client
        .request("POST", "/admin/dev/drafts", &[], Some("{\"id\": "))
        .assert_problem(400, "bad-request");
    client
        .request(
            "POST",
            "/admin/dev/drafts",
            &[("Content-Type", "text/plain")],
            Some("{}"),
        )
        .assert_problem(415, "unsupported-media-type");
    for query in [
        "limit=0",
        "limit=101",
        "state=bogus",
        "colour=red",
        "offset=-1",
    ] {
        client
            .get(&format!("/admin/dev/drafts?{query}"))
            .assert_problem(400, "bad-request");
    }
    let draft = create(&client, &json!({}));
    put(&client, &draft["id"], "*", &json!(7)).assert_problem(422, "validation-failed");
}

#[test]
fn put_needs_a_current_if_match_and_one_of_two_writers_wins() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let draft = create(&client, &json!({"id": "maps"}));
    let id = &draft["id"];
    let r1 = draft["etag"].as_str().expect("etag").to_owned();
    let body = manifest("maps", "Maps", "1.0.0");
    client
        .put(&format!("/admin/dev/drafts/{id}"), &body)
        .assert_problem(428, "precondition-required");
    let updated = put(&client, id, &r1, &body);
    assert_eq!(updated.status, 200, "{}", updated.body);
    let updated_doc = updated.json();
    assert_eq!(
        (&updated_doc["revision"], &updated_doc["manifest"]),
        (&json!(2), &body)
    );
    let r2 = updated.header("etag").expect("etag").to_owned();
    assert_ne!(r1, r2);
    put(&client, id, &r1, &body).assert_problem(412, "stale-version");
    client
        .request(
            "DELETE",
            &format!("/admin/dev/drafts/{id}"),
            &[("If-Match", &r1)],
            None,
        )
        .assert_problem(412, "stale-version");
    client
        .request(
            "POST",
            &format!("/admin/dev/drafts/{id}/publish"),
            &[("If-Match", &r1)],
            None,
        )
        .assert_problem(412, "stale-version");
    put(&client, &json!(999), "*", &body).assert_problem(404, "not-found");

    // Eight writers holding the same ETag: exactly one gets through.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let client = client.clone();
                let r2 = r2.clone();
                let body = manifest("maps", &format!("Maps {i}"), "1.0.0");
                scope.spawn(move || put(&client, &json!(id), &r2, &body).status)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer"))
            .collect()
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
    let last = client.get(&format!("/admin/dev/drafts/{id}")).json();
    assert_eq!(last["revision"], 3);
    // `*` overwrites whatever is current.
    assert_eq!(put(&client, id, "*", &body).status, 200);
}

#[test]
fn publish_reports_every_problem_of_the_manifest() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let draft = create(
        &client,
        &json!({
            "id": "bad id!",
            "name": "",
            "version": "one",
            "tools": [{"name": "a"}, {"name": "a", "timeout": 3}, {"description": 5}],
            "required_credentials": ["api_key", "api_key"],
            "enabled": true
        }),
    );
    let check = client
        .post_empty(&format!("/admin/dev/drafts/{}/validate", draft["id"]))
        .json();
    assert_eq!(check["valid"], false);
    let reply = publish(&client, &draft["id"]);
    let problem = reply.assert_problem(422, "validation-failed");
    assert_eq!(problem["errors"], check["errors"]);
    insta::assert_json_snapshot!("publish_invalid_manifest", problem);
    // Nothing was published: the draft is still editable, the catalogue has no such module.
    let after = client
        .get(&format!("/admin/dev/drafts/{}", draft["id"]))
        .json();
    assert_eq!(
        (&after["state"], &after["revision"]),
        (&json!("draft"), &json!(1))
    );
    assert_eq!(
        client.get("/admin/modules").json()["modules"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );

    let empty_tools = create(
        &client,
        &json!({"id": "x", "name": "X", "version": "1.0.0", "tools": []}),
    );
    let problem = publish(&client, &empty_tools["id"]).assert_problem(422, "validation-failed");
    assert_eq!(
        problem["errors"],
        json!([{"pointer": "/tools", "detail": "must list at least one tool"}])
    );
    publish(&client, &json!(424242)).assert_problem(404, "not-found");
    client
        .post_empty("/admin/dev/drafts/424242/validate")
        .assert_problem(404, "not-found");
}

#[test]
fn the_openapi_document_describes_the_dev_endpoints() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let doc = server.client().get("/admin/openapi.json").json();
    for path in [
        "/admin/dev/drafts",
        "/admin/dev/drafts/{id}",
        "/admin/dev/drafts/{id}/validate",
        "/admin/dev/drafts/{id}/publish",
        "/admin/dev/modules/{id}/versions",
        "/admin/dev/modules/{id}/versions/{version}",
        "/admin/dev/modules/{id}/rollback",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
    for schema in [
        "ModuleManifest",
        "Draft",
        "ModuleVersion",
        "Problem",
        "ProblemItem",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}
