//! The server serves, and `admin-api openapi` prints, the document the code generates. That
//! the committed copy is that document is checked once, by `crates/admin-api/tests/openapi.rs`.

use suites::admin::{TestServer, admin_api_binary, temp_dir};

/// Asserts `actual` is the generated document, line by line, so a failure names the first
/// line that differs instead of dumping two whole documents.
fn same_lines(actual: &str, generated: &str) {
    for (n, (a, g)) in actual.lines().zip(generated.lines()).enumerate() {
        assert_eq!(a, g, "line {} differs from the generated document", n + 1);
    }
    assert_eq!(
        actual, generated,
        "the documents differ after their common lines"
    );
}

#[test]
fn the_served_document_is_the_generated_one() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let reply = server.client().get("/admin/openapi.json");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    same_lines(&reply.body, &admin_api::openapi_document());
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
fn the_binary_prints_the_generated_document() {
    let out = std::process::Command::new(admin_api_binary())
        .arg("openapi")
        .output()
        .expect("run admin-api openapi");
    assert!(out.status.success());
    same_lines(
        &String::from_utf8(out.stdout).unwrap(),
        &admin_api::openapi_document(),
    );
}
