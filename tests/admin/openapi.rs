//! The served OpenAPI document is the committed one (and so is `admin-api openapi`'s output).

use suites::admin::{TestServer, admin_api_binary, temp_dir};

fn committed() -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/admin-api/openapi.json");
    std::fs::read_to_string(path).expect("crates/admin-api/openapi.json exists")
}

#[test]
fn the_served_document_matches_the_committed_copy() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let reply = server.client().get("/admin/openapi.json");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(
        reply.body == committed(),
        "the served document differs from crates/admin-api/openapi.json; regenerate it with \
         `cargo run -p admin-api -- openapi > crates/admin-api/openapi.json`"
    );
    let doc = reply.json();
    for path in [
        "/admin/health",
        "/admin/modules/{id}/credentials/{name}",
        "/admin/routing/rollback",
        "/admin/billing/meter",
        "/admin/otc/policy",
        "/admin/openapi.json",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    server
        .anonymous()
        .get("/admin/openapi.json")
        .assert_problem(401, "unauthorized");
}

#[test]
fn the_binary_prints_the_committed_document() {
    let out = std::process::Command::new(admin_api_binary())
        .arg("openapi")
        .output()
        .expect("run admin-api openapi");
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap() == committed());
}
