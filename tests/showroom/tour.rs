//! The tour itself: every endpoint group, in the order an operator meets them.

use crate::walk::{Req, Walk, brief, fields};
use serde_json::{Value, json};
use suites::admin::TestServer;
use suites::now_ms;

const SECRET: &str = "sk-showroom-0123456789";

pub(crate) fn always(_: &Value) -> bool {
    true
}

/// Walks every endpoint group.
pub fn run(walk: &mut Walk, server: &TestServer) {
    health(walk);
    modules(walk);
    credentials(walk, server);
    routing(walk);
    billing(walk);
    dev_mode(walk);
    crate::policy::policy(walk);
    openapi(walk);
}

fn health(w: &mut Walk) {
    w.section("Health");
    w.step(
        "liveness answers without a token",
        Req::new("GET", "/admin/health").anonymous(),
        200,
        |v| brief(&v.to_string()),
        always,
    );
    w.step(
        "readiness checks the databases",
        Req::new("GET", "/admin/ready"),
        200,
        |v| brief(&v.to_string()),
        always,
    );
    w.step(
        "everything else needs the bearer token",
        Req::new("GET", "/admin/modules").anonymous(),
        401,
        |v| fields(v, &["title", "detail"]),
        |v| v["status"] == 401,
    );
}

fn modules(w: &mut Walk) {
    w.section("Modules");
    w.step(
        "the catalogue is loaded on first start",
        Req::new("GET", "/admin/modules"),
        200,
        |v| {
            let ids: Vec<String> = v["modules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    format!(
                        "{}({})",
                        m["id"].as_str().unwrap_or("?"),
                        if m["enabled"] == true { "on" } else { "off" }
                    )
                })
                .collect();
            ids.join(" ")
        },
        |v| v["modules"].as_array().is_some_and(|m| !m.is_empty()),
    );
    w.step(
        "one module",
        Req::new("GET", "/admin/modules/weather"),
        200,
        |v| fields(v, &["id", "enabled", "required_credentials"]),
        |v| v["id"] == "weather",
    );
    w.step(
        "enable it",
        Req::new("POST", "/admin/modules/weather/enable"),
        200,
        |v| fields(v, &["id", "enabled"]),
        |v| v["enabled"] == true,
    );
    w.step(
        "disable it again",
        Req::new("POST", "/admin/modules/weather/disable"),
        200,
        |v| fields(v, &["id", "enabled"]),
        |v| v["enabled"] == false,
    );
    w.step(
        "an unknown module is 404 problem+json",
        Req::new("GET", "/admin/modules/teleporter"),
        404,
        |v| fields(v, &["type", "title"]),
        |v| v["status"] == 404,
    );
}

fn credentials(w: &mut Walk, server: &TestServer) {
    w.section("Credentials");
    let path = "/admin/modules/web-search/credentials";
    w.step(
        "which credentials web-search still needs",
        Req::new("GET", path),
        200,
        |v| fields(v, &["missing", "complete"]),
        always,
    );
    w.step(
        "set the API key (the reply describes it without the secret)",
        Req::new("PUT", "/admin/modules/web-search/credentials/api_key")
            .json(json!({"value": SECRET})),
        200,
        |v| brief(&v.to_string()),
        |v| !v.to_string().contains(SECRET),
    );
    w.step(
        "check: set, with at most a masked hint",
        Req::new("GET", path),
        200,
        |v| brief(&v.to_string()),
        |v| v["complete"] == true && !v.to_string().contains(SECRET),
    );
    let on_disk = std::fs::read_dir(&server.data_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .any(|bytes| bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    println!(
        "  (the secret {} in any file of the data directory)\n",
        if on_disk {
            "APPEARS"
        } else {
            "does not appear"
        }
    );
    if on_disk {
        w.failed += 1;
        println!("FAIL the secret is stored encrypted\n");
    } else {
        w.passed += 1;
        println!("PASS the secret is stored encrypted\n");
    }
    w.step(
        "delete it",
        Req::new("DELETE", "/admin/modules/web-search/credentials/api_key"),
        204,
        |_| String::new(),
        always,
    );
    w.step(
        "check: missing again",
        Req::new("GET", path),
        200,
        |v| fields(v, &["missing", "complete"]),
        |v| v["complete"] == false,
    );
}

fn routing(w: &mut Walk) {
    w.section("Routing");
    let current = w.step(
        "the current routing config",
        Req::new("GET", "/admin/routing"),
        200,
        |v| {
            format!(
                "version={} categories={}",
                v["version"],
                v["config"]["categories"]
                    .as_object()
                    .map(|c| c.keys().cloned().collect::<Vec<_>>().join(","))
                    .unwrap_or_default()
            )
        },
        always,
    );
    let etag = current.header("etag").unwrap_or("\"none\"").to_string();
    let patch =
        json!({"categories": {"travel": {"modules": ["web-search"], "description": "Trips."}}});
    w.step(
        "add a category with If-Match (a new version)",
        Req::new("PATCH", "/admin/routing")
            .header("If-Match", etag.clone())
            .header("Content-Type", "application/merge-patch+json")
            .json(patch.clone()),
        200,
        |v| fields(v, &["version", "source"]),
        |v| v["version"] == 2,
    );
    w.step(
        "a second admin with the old ETag is refused (412), nothing overwritten",
        Req::new("PATCH", "/admin/routing")
            .header("If-Match", etag)
            .header("Content-Type", "application/merge-patch+json")
            .json(patch),
        412,
        |v| fields(v, &["title", "detail"]),
        always,
    );
    let bad = json!({"categories": {"broken": {"modules": ["teleporter"]}}});
    w.step(
        "a route to an unknown module is refused",
        Req::new("PUT", "/admin/routing")
            .header("If-Match", "*")
            .json(bad),
        422,
        |v| fields(v, &["title", "detail"]),
        always,
    );
    w.step(
        "versions",
        Req::new("GET", "/admin/routing/versions"),
        200,
        |v| fields(v, &["total"]),
        |v| v["total"] == 2,
    );
    w.step(
        "delete the category (a new version)",
        Req::new("DELETE", "/admin/routing/categories/travel").header("If-Match", "*"),
        200,
        |v| fields(v, &["version", "source"]),
        |v| v["version"] == 3,
    );
    w.step(
        "roll back to version 2 (as version 4)",
        Req::new("POST", "/admin/routing/rollback")
            .header("If-Match", "*")
            .json(json!({"to_version": 2})),
        201,
        |v| fields(v, &["version", "source"]),
        |v| v["version"] == 4,
    );
    w.step(
        "reload from the routing file (as version 5)",
        Req::new("POST", "/admin/routing/reload").header("If-Match", "*"),
        200,
        |v| fields(v, &["version", "source"]),
        |v| v["version"] == 5,
    );
}

fn billing(w: &mut Walk) {
    w.section("Billing");
    let ts = now_ms();
    let call = |key: &str, units: f64| {
        json!({"tenant": "acme", "request_id": "show-1", "module": "web-search", "tool": "search",
               "run_units": units, "timestamp_ms": ts, "idempotency_key": key})
    };
    w.step(
        "set a hard daily quota of 10 run-units",
        Req::new("PUT", "/admin/billing/quota?tenant=acme")
            .json(json!({"limit": 10.0, "period": "day", "kind": "hard"})),
        200,
        |v| brief(&v["quota"].to_string()),
        always,
    );
    w.step(
        "meter a tool call (6 units)",
        Req::new("POST", "/admin/billing/meter").json(call("k1", 6.0)),
        201,
        |v| fields(v, &["status", "run_units"]),
        always,
    );
    w.step(
        "the same call retried is counted once",
        Req::new("POST", "/admin/billing/meter").json(call("k1", 6.0)),
        200,
        |v| fields(v, &["status"]),
        |v| v["status"] == "duplicate",
    );
    w.step(
        "a call past the hard quota is refused (429)",
        Req::new("POST", "/admin/billing/meter").json(call("k2", 6.0)),
        429,
        |v| fields(v, &["type", "detail"]),
        always,
    );
    w.step(
        "usage this period",
        Req::new("GET", "/admin/billing/usage?tenant=acme"),
        200,
        |v| {
            format!(
                "run_units={} remaining={}",
                v["run_units"], v["state"]["remaining"]
            )
        },
        |v| v["run_units"] == 6.0,
    );
    let from = ts - 86_400_000;
    w.step(
        "history in hourly buckets",
        Req::new(
            "GET",
            &format!("/admin/billing/history?tenant=acme&bucket=hour&from_ms={from}"),
        ),
        200,
        |v| format!("buckets={}", v["buckets"].as_array().map_or(0, Vec::len)),
        always,
    );
    w.step(
        "get the quota",
        Req::new("GET", "/admin/billing/quota?tenant=acme"),
        200,
        |v| brief(&v["state"].to_string()),
        always,
    );
}

fn dev_mode(w: &mut Walk) {
    w.section("Dev-mode (module manifests)");
    let manifest = |version: &str, tool: &str| {
        json!({"id": "translator", "name": "Translator", "version": version,
               "tools": [{"name": tool}], "required_credentials": ["api_key"]})
    };
    let draft = w.step(
        "create a draft",
        Req::new("POST", "/admin/dev/drafts").json(manifest("1.0.0", "translate")),
        201,
        |v| fields(v, &["id", "state"]),
        always,
    );
    let id = draft.json()["id"].clone();
    w.step(
        "list drafts",
        Req::new("GET", "/admin/dev/drafts"),
        200,
        |v| fields(v, &["total"]),
        always,
    );
    w.step(
        "publish it: version 1",
        Req::new("POST", &format!("/admin/dev/drafts/{id}/publish")),
        201,
        |v| brief(&v.to_string()),
        always,
    );
    let bad = w.step(
        "an invalid draft",
        Req::new("POST", "/admin/dev/drafts")
            .json(json!({"id": "translator", "name": " ", "version": "two", "tools": []})),
        201,
        |v| fields(v, &["id"]),
        always,
    );
    let bad_id = bad.json()["id"].clone();
    w.step(
        "…is refused at publish, listing every problem",
        Req::new("POST", &format!("/admin/dev/drafts/{bad_id}/publish")),
        422,
        |v| format!("{} problems", v["errors"].as_array().map_or(0, Vec::len)),
        always,
    );
    let second = w.step(
        "a second version's draft",
        Req::new("POST", "/admin/dev/drafts").json(manifest("2.0.0", "translate_v2")),
        201,
        |v| fields(v, &["id"]),
        always,
    );
    let second_id = second.json()["id"].clone();
    w.step(
        "publish it: version 2",
        Req::new("POST", &format!("/admin/dev/drafts/{second_id}/publish")),
        201,
        |_| String::new(),
        always,
    );
    w.step(
        "roll back to version 1 (as version 3)",
        Req::new("POST", "/admin/dev/modules/translator/rollback").json(json!({"to_version": 1})),
        201,
        |v| brief(&v.to_string()),
        always,
    );
    w.step(
        "the history is never rewritten",
        Req::new("GET", "/admin/dev/modules/translator/versions"),
        200,
        |v| {
            v["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| {
                    format!(
                        "v{}{}",
                        x["version"],
                        if x["current"] == true { "*" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        },
        |v| v["versions"].as_array().is_some_and(|l| l.len() == 3),
    );
}

fn openapi(w: &mut Walk) {
    w.section("OpenAPI");
    w.step(
        "the OpenAPI document",
        Req::new("GET", "/admin/openapi.json"),
        200,
        |v| {
            format!(
                "openapi={} paths={}",
                v["openapi"],
                v["paths"].as_object().map_or(0, |p| p.len())
            )
        },
        |v| v["paths"].is_object(),
    );
}
