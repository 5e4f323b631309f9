//! Suites: named groups of test runs, and their results as the report and snapshot see them.

use anyhow::Result;
use serde::Serialize;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::build::TestBinary;
use super::process::{self, Finished};
use crate::libtest::{self, Outcome};

/// How many lines of a failure's output the report shows.
pub const FAILURE_LINES: usize = 12;

/// One failed test (or crashed binary, or failed check) with the first lines of its output.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// `binary::test path`, or the name of the check.
    pub test: String,
    /// First lines of its output.
    pub detail: String,
}

/// One test case for the JUnit report.
#[derive(Debug, Clone, Serialize)]
pub struct CaseRecord {
    /// Test name, qualified by its binary.
    pub name: String,
    /// Outcome.
    pub outcome: Outcome,
}

/// The result of one suite.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteResult {
    /// Suite name.
    pub name: String,
    /// Tests passed.
    pub passed: u64,
    /// Tests failed (a crashed binary counts as one failure).
    pub failed: u64,
    /// Tests ignored.
    pub ignored: u64,
    /// Wall-clock seconds.
    pub duration_s: f64,
    /// What failed, with output.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
    /// Every case, for JUnit.
    #[serde(skip)]
    pub cases: Vec<CaseRecord>,
}

impl SuiteResult {
    /// An empty result for `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            passed: 0,
            failed: 0,
            ignored: 0,
            duration_s: 0.0,
            failures: Vec::new(),
            cases: Vec::new(),
        }
    }

    /// Records a check that is not a libtest test (a lint, a showroom step).
    pub fn check(&mut self, name: &str, ok: bool, detail: &str) {
        let outcome = if ok { Outcome::Passed } else { Outcome::Failed };
        self.cases.push(CaseRecord {
            name: name.to_string(),
            outcome,
        });
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
            self.failures.push(Failure {
                test: name.to_string(),
                detail: first_lines(detail),
            });
        }
    }

    /// Adds one libtest run: its cases, and a failure if the binary crashed or ran past its limit.
    pub fn absorb(&mut self, label: &str, done: &Finished) {
        let run = libtest::parse(&done.stdout);
        for case in &run.cases {
            let name = format!("{label}::{}", case.name);
            match case.outcome {
                Outcome::Passed => self.passed += 1,
                Outcome::Ignored => self.ignored += 1,
                Outcome::Failed => {
                    self.failed += 1;
                    let detail = if case.output.is_empty() {
                        "(no output)"
                    } else {
                        &case.output
                    };
                    self.failures.push(Failure {
                        test: name.clone(),
                        detail: first_lines(detail),
                    });
                }
            }
            self.cases.push(CaseRecord {
                name,
                outcome: case.outcome,
            });
        }
        let exited_ok = done.status.is_some_and(|s| s.success());
        let crashed =
            !run.summary_seen || done.status.is_none() || (!exited_ok && run.counts().1 == 0);
        if crashed {
            self.failed += 1;
            let detail = format!(
                "{}; last output:\n{}\n{}",
                done.describe_end(),
                process::tail(&done.stdout, 5),
                process::tail(&done.stderr, FAILURE_LINES)
            );
            self.failures.push(Failure {
                test: format!("{label} (test binary)"),
                detail,
            });
            self.cases.push(CaseRecord {
                name: format!("{label} (test binary)"),
                outcome: Outcome::Failed,
            });
        }
    }
}

/// The first lines of a failure's output.
pub fn first_lines(text: &str) -> String {
    let text = text.trim_start_matches('\n');
    let mut lines: Vec<&str> = text.lines().take(FAILURE_LINES).collect();
    if text.lines().count() > FAILURE_LINES {
        lines.push("...");
    }
    lines.join("\n")
}

/// How test binaries are run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Quick mode: slow tests off.
    pub quick: bool,
    /// Time limit per binary.
    pub limit: Duration,
    /// The workspace's debug binaries directory; tests that start a real binary find it here
    /// (`ADMIN_API_BIN`) instead of running cargo themselves.
    pub bin_dir: std::path::PathBuf,
}

/// The environment every test run gets: snapshots are checked, never written; slow tests run
/// unless quick; servers under test come from the binaries verify built.
pub fn test_env(cmd: &mut Command, opts: &RunOptions) {
    cmd.env("INSTA_UPDATE", "no")
        .env("CI", "true")
        .env_remove("INSTA_FORCE_PASS");
    cmd.env("RUST_BACKTRACE", "0");
    let admin_api = opts
        .bin_dir
        .join(format!("admin-api{}", std::env::consts::EXE_SUFFIX));
    if admin_api.exists() {
        cmd.env("ADMIN_API_BIN", admin_api);
    }
    if opts.quick {
        cmd.env_remove("OTC_SLOW_TESTS");
    } else {
        cmd.env("OTC_SLOW_TESTS", "1");
    }
}

/// Runs test binaries one after another (each runs its own tests in parallel).
pub fn run_binaries(name: &str, bins: &[&TestBinary], opts: &RunOptions) -> Result<SuiteResult> {
    let start = Instant::now();
    let mut result = SuiteResult::new(name);
    for bin in bins {
        let mut cmd = process::command_in(&bin.executable, &bin.package_dir);
        cmd.args(["--color", "never"])
            .env("CARGO_MANIFEST_DIR", &bin.package_dir);
        test_env(&mut cmd, opts);
        let done = process::run(cmd, opts.limit)?;
        let label = match bin.kind.as_str() {
            "lib" => format!("{}[lib]", bin.package),
            _ => format!("{}[{}]", bin.package, bin.target),
        };
        result.absorb(&label, &done);
    }
    result.duration_s = start.elapsed().as_secs_f64();
    Ok(result)
}

/// Runs the doc tests of every workspace crate (`cargo test --doc`) into `result`.
pub fn run_doc_tests(root: &Path, result: &mut SuiteResult, opts: &RunOptions) -> Result<()> {
    let start = Instant::now();
    let mut cmd = Command::new("cargo");
    cmd.args(["test", "--workspace", "--doc", "--color", "never"])
        .current_dir(root);
    test_env(&mut cmd, opts);
    let done = process::run(cmd, opts.limit)?;
    // A workspace without library doc tests prints no summary at all and exits 0: fine.
    if done.status.is_some_and(|s| s.success()) && done.stdout.trim().is_empty() {
        return Ok(());
    }
    result.absorb("doc-tests", &done);
    result.duration_s += start.elapsed().as_secs_f64();
    Ok(())
}
