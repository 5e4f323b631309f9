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
