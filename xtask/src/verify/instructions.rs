//! The instructions step: count the instructions (callgrind's `Ir`) of the policy's hot pure
//! paths and compare them with the committed baseline. Unlike wall-clock time on a shared
//! machine, the count is the same on every run of the same binary with the same inputs, so a
//! small threshold ([`THRESHOLD`]) can fail the gate.
//!
//! The bench (`crates/otc-policy/benches/instructions.rs`) is built in the bench profile and run
//! once per bench under `valgrind --tool=callgrind --collect-atstart=no
//! --toggle-collect=instructions::measured`: only the code inside the bench's `measured`
//! function is counted, not process start-up or the bench's setup. The count is the `totals:`
//! line of `callgrind.out`, a format callgrind has kept since its first releases.

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::build::Workspace;
use super::snapshot::Snapshot;
use super::suite::SuiteResult;
use super::{VerifyArgs, process};

/// Name of the bench target that holds the instruction benches.
pub const BENCH_NAME: &str = "instructions";

/// The function whose instructions callgrind counts (the bench's `measured`).
pub const MEASURED: &str = "instructions::measured";

/// A bench that grows by more than this fraction of its baseline fails the gate (2%).
pub const THRESHOLD: f64 = 0.02;

/// How the counts were obtained, kept in the snapshot beside them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstructionsMethod {
    /// One sentence a reader can check.
    pub description: String,
    /// `valgrind --version`.
    pub valgrind: String,
    /// `rustc --version`: a new compiler moves the counts.
    pub rustc: String,
    /// The bench target, `package/target`.
    pub bench: String,
    /// The regression threshold, as a fraction.
    pub threshold: f64,
}

/// Counts instructions when the workspace has the bench and valgrind is installed, compares
/// them with the committed baseline and announces the result as the `instructions` suite (one
/// check per bench). Without valgrind the step is skipped with a note, or fails under
/// `--require-valgrind`.
pub(super) fn step(
    args: &VerifyArgs,
    root: &Path,
    ws: &Workspace,
    previous: Option<&Snapshot>,
    suites: &mut Vec<SuiteResult>,
) -> Option<super::Instructions> {
    let Some((package, _)) = ws.benches.iter().find(|(_, b)| b == BENCH_NAME) else {
        println!(
            "step  instructions   skipped: no `{}` bench in this workspace",
            BENCH_NAME
        );
        return None;
    };
    let start = Instant::now();
    let Some(valgrind) = valgrind_version() else {
        let install = "Debian: apt-get install valgrind";
        if args.require_valgrind {
            let mut failed = SuiteResult::new("instructions");
            let detail = format!("valgrind not found and --require-valgrind given: {install}");
            failed.check("valgrind", false, &detail);
            super::announce(suites, failed);
        } else {
            println!(
                "step  instructions   skipped, valgrind not found (to count instructions: {install})"
            );
        }
        return None;
    };
    match measure(root, &ws.target_dir, package, &valgrind) {
        Ok((counts, method)) => {
            // Counts of another architecture say nothing about this one.
            let comparable = previous.filter(|p| p.host.arch == std::env::consts::ARCH);
            let baseline = comparable
                .map(|p| p.instructions.clone())
                .unwrap_or_default();
            let changes = compare(&baseline, &counts, THRESHOLD);
            let note = match comparable.and_then(|p| p.instructions_method.as_ref()) {
                Some(before) if before.rustc != method.rustc => format!(
                    "; the baseline was counted with {}, this run with {}: if the new compiler \
                     explains it, accept with --accept-instructions",
                    before.rustc, method.rustc
                ),
                _ => String::new(),
            };
            let mut result = suite(&changes, args.accept_instructions, &note);
            result.duration_s = start.elapsed().as_secs_f64();
            super::announce(suites, result);
            Some((counts, method, changes))
        }
        Err(e) => {
            let mut failed = SuiteResult::new("instructions");
            failed.check("callgrind instruction bench", false, &format!("{e:#}"));
            failed.duration_s = start.elapsed().as_secs_f64();
            super::announce(suites, failed);
            None
        }
    }
}

/// `valgrind --version` (e.g. `valgrind-3.19.0`), `None` when valgrind is not installed.
pub fn valgrind_version() -> Option<String> {
    let out = Command::new("valgrind").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Builds the bench in `package` and counts the instructions of each of its benches.
pub fn measure(
    root: &Path,
    target_dir: &Path,
    package: &str,
    valgrind: &str,
) -> Result<(BTreeMap<String, u64>, InstructionsMethod)> {
    let exe = build(root, package)?;
    let listed = process::run(list_command(&exe), Duration::from_secs(60))?;
    ensure!(
        listed.status.is_some_and(|s| s.success()),
        "`{} --list` failed ({}):\n{}",
        exe.display(),
        listed.describe_end(),
        process::tail(&listed.stderr, 20)
    );
    let out_dir = target_dir.join("verify").join("callgrind");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut counts = BTreeMap::new();
    for name in listed
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let out_file = out_dir.join(format!("{name}.out"));
        let mut cmd = Command::new("valgrind");
        cmd.current_dir(root)
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out_file.display()))
            .args([
                "--collect-atstart=no",
                &format!("--toggle-collect={MEASURED}"),
            ])
            .arg(&exe)
            .arg(name);
        let done = process::run(cmd, Duration::from_secs(600))?;
        ensure!(
            done.status.is_some_and(|s| s.success()),
            "callgrind run of {name} failed ({}):\n{}",
            done.describe_end(),
            process::tail(&done.stderr, 20)
        );
        let text = std::fs::read_to_string(&out_file)
            .with_context(|| format!("reading {}", out_file.display()))?;
        let ir = parse_ir(&text).with_context(|| format!("{}", out_file.display()))?;
        ensure!(
            ir > 0,
            "callgrind counted nothing for {name}: is `{MEASURED}` still the bench's measured \
             function (and not inlined)?"
        );
        counts.insert(name.to_string(), ir);
    }
    ensure!(!counts.is_empty(), "the {BENCH_NAME} bench lists no bench");
    let method = InstructionsMethod {
        description: format!(
            "callgrind instruction counts (Ir) of one run of each bench's `{MEASURED}`, bench \
             profile, collection off outside it"
        ),
        valgrind: valgrind.to_string(),
        rustc: rustc_version(root),
        bench: format!("{package}/{BENCH_NAME}"),
        threshold: THRESHOLD,
    };
    Ok((counts, method))
}

fn list_command(exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("--list");
    cmd
}

/// `cargo bench --no-run` of the bench target; returns its executable.
fn build(root: &Path, package: &str) -> Result<PathBuf> {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root).args([
        "bench",
        "--no-run",
        "-p",
        package,
        "--bench",
        BENCH_NAME,
        "--message-format=json-render-diagnostics",
    ]);
    let done = process::run(cmd, Duration::from_secs(3600))?;
    if !done.status.is_some_and(|s| s.success()) {
        bail!(
            "building the {BENCH_NAME} bench failed ({}):\n{}",
            done.describe_end(),
            process::tail(&done.stderr, 40)
        );
    }
    done.stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == BENCH_NAME)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .with_context(|| format!("cargo named no executable for the {BENCH_NAME} bench"))
}

fn rustc_version(root: &Path) -> String {
    Command::new("rustc")
        .arg("--version")
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_string(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
}

/// The instruction count (`Ir`) of a `callgrind.out` file: the `totals:` line (or, failing
/// that, `summary:`), at the position of `Ir` in the `events:` line.
pub fn parse_ir(text: &str) -> Result<u64> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|rest| rest.split_whitespace().collect::<Vec<_>>())
    };
    let events = field("events:").context("no `events:` line: not a callgrind output file")?;
    let at = events
        .iter()
        .position(|e| *e == "Ir")
        .context("callgrind did not count Ir")?;
    let totals = field("totals:")
        .or_else(|| field("summary:"))
        .context("no `totals:` or `summary:` line")?;
    let value = totals.get(at).context("the totals line has no Ir column")?;
    value
        .parse()
        .with_context(|| format!("Ir total {value:?} is not a count"))
}

/// One bench against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstrChange {
    /// Bench name.
    pub bench: String,
    /// Baseline count; `None` for a bench the baseline does not have.
    pub before: Option<u64>,
    /// This run's count.
    pub after: u64,
    /// `after / before - 1`.
    pub relative: Option<f64>,
    /// Grew by more than the threshold.
    pub regression: bool,
}

/// Compares this run's counts with the baseline's, bench by bench. A bench the baseline does
/// not have is new, never a regression; fewer instructions never are either.
pub fn compare(
    baseline: &BTreeMap<String, u64>,
    current: &BTreeMap<String, u64>,
    threshold: f64,
) -> Vec<InstrChange> {
    current
        .iter()
        .map(|(bench, &after)| {
            let before = baseline.get(bench).copied();
            let relative = before
                .filter(|b| *b > 0)
                .map(|b| after as f64 / b as f64 - 1.0);
            // Compared in whole instructions: `after / before - 1` in floating point is a hair
            // above the threshold at exactly +2%.
            let allowed = before.map(|b| b + (b as f64 * threshold).floor() as u64);
            InstrChange {
                bench: bench.clone(),
                before,
                after,
                relative,
                regression: allowed.is_some_and(|a| after > a),
            }
        })
        .collect()
}

/// The step's result: one check per bench, failed when it regressed (unless `accept`).
pub fn suite(changes: &[InstrChange], accept: bool, baseline_note: &str) -> SuiteResult {
    let mut result = SuiteResult::new("instructions");
    for c in changes {
        let detail = match (c.before, c.relative) {
            (Some(before), Some(rel)) => format!(
                "{} -> {} instructions ({:+.2}%, threshold +{:.0}%){baseline_note}",
                before,
                c.after,
                rel * 100.0,
                THRESHOLD * 100.0
            ),
            _ => String::new(),
        };
        result.check(&c.bench, !c.regression || accept, &detail);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLGRIND_OUT: &str = "\
# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 15666
cmd:  ./instructions reward_score
part: 1

positions: line
events: Ir
summary: 12017

fn=(1) instructions::measured
0 5
totals: 12017
";

    #[test]
    fn the_ir_total_is_read_from_callgrind_output() {
        assert_eq!(parse_ir(CALLGRIND_OUT).unwrap(), 12017);
        // With cache simulation on, Ir is one column among several.
        let several = "events: Dr Ir Dw\nsummary: 1 2 3\ntotals: 10 20 30\n";
        assert_eq!(parse_ir(several).unwrap(), 20);
        let summary_only = "events: Ir\nsummary: 77\n";
        assert_eq!(parse_ir(summary_only).unwrap(), 77);
    }

    #[test]
    fn malformed_callgrind_output_is_an_error_not_zero() {
        for bad in [
            "",
            "totals: 5\n",
            "events: Dr\ntotals: 5\n",
            "events: Ir\n",
            "events: Ir\ntotals: many\n",
        ] {
            assert!(parse_ir(bad).is_err(), "{bad:?}");
        }
    }

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn growth_beyond_the_threshold_is_a_regression() {
        let base = counts(&[("a", 10_000), ("b", 10_000), ("c", 10_000)]);
        let cur = counts(&[("a", 10_200), ("b", 10_201), ("c", 5_000)]);
        let changes = compare(&base, &cur, THRESHOLD);
        let flags: Vec<(&str, bool)> = changes
            .iter()
            .map(|c| (c.bench.as_str(), c.regression))
            .collect();
        // Exactly +2% passes; one instruction more fails; a halving is an improvement.
        assert_eq!(flags, [("a", false), ("b", true), ("c", false)]);
        assert!((changes[1].relative.unwrap() - 0.0201).abs() < 1e-12);
    }

    #[test]
    fn a_new_bench_is_not_a_failure() {
        let changes = compare(&counts(&[]), &counts(&[("new", 5)]), THRESHOLD);
        assert_eq!(changes[0].before, None);
        assert!(!changes[0].regression);
        let s = suite(&changes, false, "");
        assert_eq!((s.passed, s.failed), (1, 0));
    }

    #[test]
    fn a_regression_fails_the_step_unless_accepted() {
        let changes = compare(&counts(&[("a", 100)]), &counts(&[("a", 150)]), THRESHOLD);
        let failed = suite(&changes, false, "");
        assert_eq!((failed.passed, failed.failed), (0, 1));
        assert!(failed.failures[0].detail.contains("100 -> 150"));
        let accepted = suite(&changes, true, "");
        assert_eq!((accepted.passed, accepted.failed), (1, 0));
    }
}
