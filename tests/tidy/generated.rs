//! Generated files that are committed must match what the code generates today.

use std::path::PathBuf;

#[test]
fn the_committed_openapi_document_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/admin-api/openapi.json");
    let committed =
        std::fs::read_to_string(&path).expect("crates/admin-api/openapi.json is committed");
    let generated = admin_api::router::openapi_document();
    let first_difference = committed
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .map_or(
            committed.lines().count().min(generated.lines().count()),
            |i| i,
        );
    assert!(
        committed == generated,
        "crates/admin-api/openapi.json is stale (first difference at line {}); regenerate it with \
         `cargo run -p admin-api -- openapi > crates/admin-api/openapi.json`",
        first_difference + 1
    );
}
