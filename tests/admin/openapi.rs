//! The served OpenAPI document is the committed one (and so is `admin-api openapi`'s output).

use suites::admin::{TestServer, admin_api_binary, temp_dir};

fn committed() -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/admin-api/openapi.json");
    std::fs::read_to_string(path).expect("crates/admin-api/openapi.json exists")
}

/// Asserts `actual` is the committed document, line by line, so a failure names the first
/// line that differs instead of dumping two whole documents.
fn same_lines(actual: &str, committed: &str) {
    let hint = "regenerate it with \
        `cargo run -p admin-api -- openapi > crates/admin-api/openapi.json`";
    for (n, (a, c)) in actual.lines().zip(committed.lines()).enumerate() {
        assert_eq!(
            a,
            c,
            "line {} differs from crates/admin-api/openapi.json; {hint}",
            n + 1
        );
    }
    assert_eq!(
        actual.lines().count(),
        committed.lines().count(),
        "line count differs from crates/admin-api/openapi.json; {hint}"
    );
    assert_eq!(actual, committed, "trailing whitespace differs; {hint}");
}

#[test]
fn the_served_document_matches_the_committed_copy() {
    let dir = temp_dir();
    let server = TestServer::in_process(dir.path());
    let reply = server.client().get("/admin/openapi.json");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    same_lines(&reply.body, &committed());
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
    same_lines(&String::from_utf8(out.stdout).unwrap(), &committed());
}
