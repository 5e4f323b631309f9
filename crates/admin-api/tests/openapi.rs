//! The committed OpenAPI document (`crates/admin-api/openapi.json`) matches the code.
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
    assert!(
        committed == generated,
        "crates/admin-api/openapi.json is stale; regenerate it with \
         `cargo run -p admin-api -- openapi > crates/admin-api/openapi.json`"
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
