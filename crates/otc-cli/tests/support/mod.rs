//! What the `otc` binary's test files share: running the binary as a user would, in a
//! directory of the test's, with no database or config picked up from the environment.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `otc args` in `cwd`.
pub fn otc(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otc"))
        .current_dir(cwd)
        .env_remove("OTC_DB")
        .env_remove("OTC_POLICY_CONFIG")
        .args(args)
        .output()
        .unwrap()
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `otc decide` for (lookup, [web, calc]) on `db`, which must succeed: the decision as JSON.
#[allow(dead_code)] // Not every test file decides.
pub fn decide(cwd: &Path, db: &str) -> serde_json::Value {
    let out = otc(
        cwd,
        &[
            "decide",
            "--intent",
            "lookup",
            "--modules",
            "web,calc",
            "--db",
            db,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
