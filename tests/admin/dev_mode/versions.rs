//! Dev-mode, second half: publishing into the catalogue (new and existing modules, routing
//! following), version history, rollback, and a restart of the real binary keeping it all.

use super::{Client, create, create_and_publish, manifest, publish, put, rollback};
use serde_json::{Value, json};
use suites::admin::{TestServer, temp_dir};

#[test]
fn a_new_module_is_published_disabled_and_routable_once_enabled() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let draft = create(&client, &manifest("maps", "Maps", "1.0.0"));
    assert_eq!(
        client
            .post_empty(&format!("/admin/dev/drafts/{}/validate", draft["id"]))
            .json(),
        json!({"valid": true, "errors": []})
    );
    let reply = client.request(
        "POST",
        &format!("/admin/dev/drafts/{}/publish", draft["id"]),
        &[("If-Match", draft["etag"].as_str().expect("etag"))],
        None,
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(
        reply.header("location"),
        Some("/admin/dev/modules/maps/versions/1")
    );
    assert_eq!(reply.header("etag"), Some("\"module-maps-v1\""));
    let done = reply.json();
    let version = &done["version"];
    assert_eq!(
        (
            &version["version"],
            &version["current"],
            &version["source"],
            &version["draft_id"]
        ),
        (&json!(1), &json!(true), &json!("publish"), &draft["id"])
    );
    assert_eq!(version["manifest"], manifest("maps", "Maps", "1.0.0"));
    assert_eq!(
        (
            &done["module"]["enabled"],
            &done["module"]["required_credentials"]
        ),
        (&json!(false), &json!(["api_key"]))
    );
    assert_eq!(
        (
            &done["draft"]["state"],
            &done["draft"]["published_version"],
            &done["draft"]["revision"]
        ),
        (&json!("published"), &json!(1), &json!(2))
    );
    let module = client.get("/admin/modules/maps").json();
    assert_eq!(
        (&module["name"], &module["enabled"]),
        (&json!("Maps"), &json!(false))
    );
    let got = client.get("/admin/dev/modules/maps/versions/1");
    assert_eq!((got.status, &got.json()), (200, version));

    // A published draft is read-only and cannot be published twice; it can be deleted.
    let etag = done["draft"]["etag"].as_str().expect("etag");
    put(
        &client,
        &draft["id"],
        etag,
        &manifest("maps", "Maps 2", "2.0.0"),
    )
    .assert_problem(409, "conflict");
    publish(&client, &draft["id"]).assert_problem(409, "conflict");
    assert_eq!(
        client.get("/admin/dev/drafts?state=published").json()["total"],
        1
    );

    // Routing refuses the disabled module until it is enabled.
    let route = json!({"categories": {"places": {"modules": ["maps"]}}});
    let write = |etag: &str| {
        client.request(
            "PUT",
            "/admin/routing",
            &[("If-Match", etag)],
            Some(&route.to_string()),
        )
    };
    write("*").assert_problem(422, "validation-failed");
    assert_eq!(client.post_empty("/admin/modules/maps/enable").status, 200);
    let routed = write("*");
    assert_eq!(routed.status, 200, "{}", routed.body);

    assert_eq!(
        client
            .delete(&format!("/admin/dev/drafts/{}", draft["id"]))
            .status,
        204
    );
    assert_eq!(
        client.get("/admin/dev/modules/maps/versions").json()["total"],
        1
    );
}

#[test]
fn publishing_an_existing_module_updates_the_catalogue_and_keeps_its_state() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    let mut web = manifest("web-search", "Web search v2", "2.0.0");
    web["required_credentials"] = json!(["api_key", "region"]);
    let done = create_and_publish(&client, &web);
    assert_eq!(
        done["version"]["version"], 1,
        "catalogue modules start their history at 1"
    );
    let module = client.get("/admin/modules/web-search").json();
    assert_eq!(
        (
            &module["name"],
            &module["enabled"],
            &module["required_credentials"]
        ),
        (
            &json!("Web search v2"),
            &json!(true),
            &json!(["api_key", "region"])
        )
    );
    let missing = client.get("/admin/modules/web-search/credentials").json();
    assert!(missing.to_string().contains("region"), "{missing}");

    create_and_publish(&client, &manifest("weather", "Weather v2", "2.0.0"));
    let weather = client.get("/admin/modules/weather").json();
    assert_eq!(
        (&weather["name"], &weather["enabled"]),
        (&json!("Weather v2"), &json!(false))
    );
}

#[test]
fn versions_list_newest_first_and_rollback_appends_a_copy() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    create_and_publish(&client, &manifest("maps", "Maps", "1.0.0"));
    create_and_publish(&client, &manifest("maps", "Maps Two", "2.0.0"));

    let reply = client.get("/admin/dev/modules/maps/versions");
    assert_eq!(reply.header("etag"), Some("\"module-maps-v2\""));
    let list = reply.json();
    assert_eq!(
        (&list["module_id"], &list["current"], &list["total"]),
        (&json!("maps"), &json!(2), &json!(2))
    );
    let summary = |list: &Value| -> Vec<(Value, Value, Value)> {
        list["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .map(|v| {
                (
                    v["version"].clone(),
                    v["current"].clone(),
                    v["manifest"]["version"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        summary(&list),
        [
            (json!(2), json!(true), json!("2.0.0")),
            (json!(1), json!(false), json!("1.0.0"))
        ]
    );

    // Rollback checks If-Match when sent; 404 for unknown versions; 409 for the current one.
    rollback(&client, "maps", 1, &[("If-Match", "\"module-maps-v1\"")])
        .assert_problem(412, "stale-version");
    rollback(&client, "maps", 2, &[]).assert_problem(409, "conflict");
    rollback(&client, "maps", 99, &[]).assert_problem(404, "not-found");
    rollback(&client, "maps", 0, &[]).assert_problem(404, "not-found");
    rollback(&client, "no-such-module", 1, &[]).assert_problem(404, "not-found");
    rollback(&client, "code-exec", 1, &[]).assert_problem(404, "not-found");
    let path = "/admin/dev/modules/maps/rollback";
    client
        .post(path, &json!({"to_version": "one"}))
        .assert_problem(422, "validation-failed");
    client
        .post(path, &json!({"to_version": 1, "force": true}))
        .assert_problem(422, "validation-failed");
    client
        .post(path, &json!({}))
        .assert_problem(422, "validation-failed");

    let reply = rollback(&client, "maps", 1, &[("If-Match", "\"module-maps-v2\"")]);
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(
        reply.header("location"),
        Some("/admin/dev/modules/maps/versions/3")
    );
    let done = reply.json();
    assert_eq!(
        (
            &done["version"]["version"],
            &done["version"]["source"],
            &done["version"]["source_version"]
        ),
        (&json!(3), &json!("rollback"), &json!(1))
    );
    assert_eq!(
        done["version"]["manifest"],
        manifest("maps", "Maps", "1.0.0")
    );
    assert_eq!(client.get("/admin/modules/maps").json()["name"], "Maps");

    // History is never rewritten: 1 and 2 are as they were, 3 is current.
    let list = client.get("/admin/dev/modules/maps/versions").json();
    assert_eq!(
        summary(&list),
        [
            (json!(3), json!(true), json!("1.0.0")),
            (json!(2), json!(false), json!("2.0.0")),
            (json!(1), json!(false), json!("1.0.0")),
        ]
    );
    let page = client
        .get("/admin/dev/modules/maps/versions?limit=1&offset=1")
        .json();
    assert_eq!(
        (&page["total"], &page["versions"][0]["version"]),
        (&json!(3), &json!(2))
    );
    // Regression: rolling back to 1 again (3 already holds 1's manifest) appended v4, v5, ...
    // with identical content; now it is 409 like rolling back to the current number.
    let doc = rollback(&client, "maps", 1, &[]).assert_problem(409, "conflict");
    assert!(
        doc["detail"]
            .as_str()
            .unwrap()
            .starts_with("version 1's content is already current"),
        "{doc}"
    );
    // Rolling back to 2 now is a change again (3 is current), and numbers keep counting.
    assert_eq!(
        rollback(&client, "maps", 2, &[]).json()["version"]["version"],
        4
    );

    // A catalogue module never published has an empty history; unknown modules are 404.
    let never = client.get("/admin/dev/modules/code-exec/versions");
    assert_eq!((never.status, never.header("etag")), (200, None));
    assert_eq!(
        never.json(),
        json!({"module_id": "code-exec", "total": 0, "versions": []})
    );
    client
        .get("/admin/dev/modules/no-such-module/versions")
        .assert_problem(404, "not-found");
    client
        .get("/admin/dev/modules/maps/versions/9")
        .assert_problem(404, "not-found");
    // The same sentence as a malformed routing version, without the value or a Rust type.
    let doc = client
        .get("/admin/dev/modules/maps/versions/nine")
        .assert_problem(400, "bad-request");
    assert_eq!(
        doc["detail"],
        "a number in the path is malformed: expected a whole number"
    );
    client
        .get("/admin/dev/modules/maps/versions?limit=500")
        .assert_problem(400, "bad-request");
}

#[test]
fn a_restart_of_the_binary_keeps_drafts_versions_and_the_catalogue() {
    let dir = temp_dir();
    let server = TestServer::binary(dir.path(), &[]);
    let client = server.client();
    create_and_publish(&client, &manifest("maps", "Maps", "1.0.0"));
    create_and_publish(&client, &manifest("maps", "Maps Two", "2.0.0"));
    assert_eq!(rollback(&client, "maps", 1, &[]).status, 201);
    let open = create(&client, &json!({"id": "maps", "name": "Work in progress"}));
    let edited = put(
        &client,
        &open["id"],
        open["etag"].as_str().expect("etag"),
        &json!({"id": "maps"}),
    );
    assert_eq!(edited.status, 200);
    let snapshot = |client: &Client| {
        (
            client.get("/admin/dev/drafts").json(),
            client.get("/admin/dev/modules/maps/versions").json(),
            client.get("/admin/modules").json(),
        )
    };
    let before = snapshot(&client);
    server.stop();

    let server = TestServer::binary(dir.path(), &[]);
    let client = server.client();
    assert_eq!(snapshot(&client), before);
    // Numbering continues where it stopped: no draft id or version number is reused.
    let next = create(&client, &json!({}));
    assert_eq!(next["id"], open["id"].as_i64().expect("id") + 1);
    assert_eq!(
        rollback(&client, "maps", 2, &[]).json()["version"]["version"],
        4
    );
}

/// Regression: publishing a draft whose manifest equals the current version appended an
/// identical version. It is 409, nothing is published, and the draft stays editable.
#[test]
fn publishing_the_current_manifest_again_is_a_conflict() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let client = server.client();
    create_and_publish(&client, &manifest("maps", "Maps", "1.0.0"));
    let again = create(&client, &manifest("maps", "Maps", "1.0.0"));
    let doc = publish(&client, &again["id"]).assert_problem(409, "conflict");
    assert!(
        doc["detail"]
            .as_str()
            .unwrap()
            .contains("identical to version 1 of module `maps`"),
        "{doc}"
    );
    let list = client.get("/admin/dev/modules/maps/versions").json();
    assert_eq!(list["total"], 1);
    let draft = client
        .get(&format!("/admin/dev/drafts/{}", again["id"]))
        .json();
    assert_eq!(draft["state"], "draft");
    // Once the manifest differs, the same draft publishes.
    let edited = put(
        &client,
        &again["id"],
        "*",
        &manifest("maps", "Maps", "1.0.1"),
    );
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_eq!(publish(&client, &again["id"]).status, 201);
}
