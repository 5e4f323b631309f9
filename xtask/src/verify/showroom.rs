//! The showroom step: runs the `showroom` binary (tests/showroom), which starts the real
//! `admin-api` binary on a free port with a fresh data directory and walks through every endpoint
//! group over HTTP, printing a transcript and a closing `showroom: N passed, M failed` line.

use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::process;
use super::suite::SuiteResult;

/// Name of the showroom binary target.
pub const BIN: &str = "showroom";

fn command(target_dir: &Path) -> Command {
    let debug = target_dir.join("debug");
    let mut cmd = Command::new(debug.join(BIN));
    cmd.env("ADMIN_API_BIN", debug.join("admin-api"));
    cmd
}

/// Runs the showroom for verify: each step is a check; the transcript goes to a file.
pub fn run(root: &Path, target_dir: &Path, limit: Duration) -> Result<SuiteResult> {
    run_on(root, target_dir, limit, None)
}

/// Runs the showroom with its stores in the PostgreSQL database at `database_url` when given
/// (schemas of its own, dropped at the end), else on SQLite; each step is a check (named
/// `on PostgreSQL: <step>` for the PostgreSQL pass); the transcript goes to a file.
pub fn run_on(
    root: &Path,
    target_dir: &Path,
    limit: Duration,
    database_url: Option<&str>,
) -> Result<SuiteResult> {
    let start = Instant::now();
    let mut cmd = command(target_dir);
    cmd.current_dir(root);
    let (file, prefix) = match database_url {
        Some(url) => {
            cmd.env("SHOWROOM_DATABASE_URL", url);
            ("showroom-postgres-transcript.txt", "on PostgreSQL: ")
        }
        None => {
            cmd.env_remove("SHOWROOM_DATABASE_URL");
            ("showroom-transcript.txt", "")
        }
    };
    let done = process::run(cmd, limit)?;
    let transcript = target_dir.join(file);
    std::fs::write(&transcript, format!("{}\n{}", done.stdout, done.stderr))
        .with_context(|| format!("writing {}", transcript.display()))?;
    let mut result = SuiteResult::new("showroom");
    for line in done.stdout.lines() {
        if let Some(step) = line.strip_prefix("PASS ") {
            result.check(&format!("{prefix}{step}"), true, "");
        } else if let Some(step) = line.strip_prefix("FAIL ") {
            result.check(
                &format!("{prefix}{step}"),
                false,
                &format!("see {}", transcript.display()),
            );
        }
    }
    let clean_exit = done.status.is_some_and(|s| s.success());
    if !clean_exit && result.failed == 0 {
        let detail = format!(
            "{}\n{}",
            done.describe_end(),
            process::tail(&done.stderr, 12)
        );
        result.check("showroom (process)", false, &detail);
    }
    result.duration_s = start.elapsed().as_secs_f64();
    Ok(result)
}

/// Runs the showroom with its transcript on the terminal.
pub fn run_interactive(root: &Path, target_dir: &Path) -> Result<bool> {
    let status = command(target_dir)
        .current_dir(root)
        .status()
        .context("starting the showroom")?;
    Ok(status.success())
}
