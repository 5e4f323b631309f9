//! The lint step: clippy over the whole workspace with warnings denied, and the documentation
//! built with rustdoc's warnings denied (a broken link in a doc comment is a doc that lies).
//! (Formatting is checked by the tidy suite, so that plain `cargo test` catches it too.)

use anyhow::Result;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::process;
use super::suite::SuiteResult;

/// Runs `cargo clippy --workspace --all-targets --all-features -- -D warnings` (every feature,
/// so the test targets behind a feature, the PostgreSQL suites and the conformance modules, are
/// linted on every machine, whether or not it can run them) and `cargo doc --workspace
/// --no-deps --all-features` with `RUSTDOCFLAGS=-D warnings`.
pub fn run(root: &Path) -> Result<SuiteResult> {
    let start = Instant::now();
    let mut result = SuiteResult::new("lint");
    type Check<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);
    let checks: [Check<'_>; 2] = [
        (
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
            &[],
        ),
        (
            "RUSTDOCFLAGS='-D warnings' cargo doc --workspace --no-deps --all-features",
            &[
                "doc",
                "--workspace",
                "--no-deps",
                "--all-features",
                "--quiet",
            ],
            &[("RUSTDOCFLAGS", "-D warnings")],
        ),
    ];
    for (name, args, env) in checks {
        let mut cmd = Command::new("cargo");
        cmd.args(args).current_dir(root);
        cmd.envs(env.iter().copied());
        let done = process::run(cmd, Duration::from_secs(3600))?;
        let ok = done.status.is_some_and(|s| s.success());
        let detail = format!("{}\n{}", done.stdout, done.stderr);
        result.check(name, ok, detail.trim());
    }
    result.duration_s = start.elapsed().as_secs_f64();
    Ok(result)
}
