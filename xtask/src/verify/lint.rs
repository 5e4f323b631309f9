//! The lint step: clippy over the whole workspace with warnings denied. (Formatting is checked
//! by the tidy suite, so that plain `cargo test` catches it too.)

use anyhow::Result;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::process;
use super::suite::SuiteResult;

/// Runs `cargo clippy --workspace --all-targets --all-features -- -D warnings`: every feature,
/// so the test targets behind a feature (the PostgreSQL suites, the conformance modules) are
/// linted on every machine, whether or not it can run them.
pub fn run(root: &Path) -> Result<SuiteResult> {
    let start = Instant::now();
    let mut result = SuiteResult::new("lint");
    let checks: [(&str, &[&str]); 1] = [(
        "cargo clippy --workspace --all-targets --all-features -- -D warnings",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ],
    )];
    for (name, args) in checks {
        let mut cmd = Command::new("cargo");
        cmd.args(args).current_dir(root);
        let done = process::run(cmd, Duration::from_secs(3600))?;
        let ok = done.status.is_some_and(|s| s.success());
        let detail = format!("{}\n{}", done.stdout, done.stderr);
        result.check(name, ok, detail.trim());
    }
    result.duration_s = start.elapsed().as_secs_f64();
    Ok(result)
}
