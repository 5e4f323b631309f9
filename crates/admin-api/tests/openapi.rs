//! The committed OpenAPI document (`crates/admin-api/openapi.json`) matches the code: the one
//! freshness check of the repository.
//!
//! Regenerate it after changing an endpoint with either
//! `cargo run -p admin-api -- openapi > crates/admin-api/openapi.json` or
//! `UPDATE_OPENAPI=1 cargo test -p admin-api --test openapi`.

use std::path::Path;

#[test]
fn committed_openapi_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = admin_api::openapi_document();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let first_difference = committed
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(committed.lines().count().min(generated.lines().count()));
    assert!(
        committed == generated,
        "crates/admin-api/openapi.json is stale (first difference at line {}); regenerate it \
         with `cargo run -p admin-api -- openapi > crates/admin-api/openapi.json` or \
         `UPDATE_OPENAPI=1 cargo test -p admin-api --test openapi`",
        first_difference + 1
    );
}

#[test]
fn every_route_but_liveness_requires_the_bearer_token() {
    let doc: serde_json::Value =
        serde_json::from_str(&admin_api::openapi_document()).expect("the document is JSON");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["security"][0]["bearer"], serde_json::json!([]));
    let health = &doc["paths"]["/admin/health"]["get"]["security"];
    assert_eq!(health, &serde_json::json!([{}]), "liveness is open");
}

#[test]
fn every_operation_documents_the_shared_error_responses() {
    let doc: serde_json::Value =
        serde_json::from_str(&admin_api::openapi_document()).expect("the document is JSON");
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            operations += 1;
            let responses = op["responses"].as_object().expect("responses");
            let has = |status: &str| responses.contains_key(status);
            let what = format!("{} {path}", method.to_uppercase());
            assert!(has("408") && has("500"), "{what}: 408 and 500");
            if path != "/admin/health" {
                assert!(has("401"), "{what}: 401");
            }
            if op.get("requestBody").is_some() {
                assert!(
                    has("400") && has("413") && has("415"),
                    "{what}: body errors"
                );
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"]
                            .get("application/problem+json")
                            .is_some(),
                        "{what} {status}: every error is problem+json"
                    );
                }
            }
        }
    }
    assert!(operations >= 30, "only {operations} operations documented");
}
