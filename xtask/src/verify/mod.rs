//! `cargo xtask verify`: the release gate. Builds once, runs every suite one after another
//! (printing a line as each finishes), lints, runs the showroom, counts the instructions of the
//! hot pure paths, measures endpoint latency, writes the snapshot, and ends with
//! `verify: N passed, M failed`.

mod build;
mod instructions;
mod latency;
mod lint;
mod postgres;
mod process;
mod report;
mod showroom;
mod snapshot;
mod suite;
mod trend;

use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use suite::SuiteResult;

/// The suites of the `suites` package (tests/), in the order they run.
const PACKAGE_SUITES: [&str; 6] = [
    "contract",
    "integration",
    "admin",
    "feature",
    "scenario",
    "tidy",
];
/// The package that holds the cross-crate suites.
const SUITES_PACKAGE: &str = "suites";
/// Every step name `--only` and `--skip` accept.
const ALL_STEPS: [&str; 12] = [
    "unit",
    "contract",
    "integration",
    "admin",
    "feature",
    "scenario",
    "tidy",
    "postgres",
    "lint",
    "showroom",
    "instructions",
    "latency",
];

/// Flags of `cargo xtask verify`.
#[derive(Debug, Args)]
#[command(
    after_help = "Steps, in order: unit (every crate's own tests and doc tests), contract, integration, \
admin, feature, scenario, tidy (the cross-crate suites in tests/; tidy includes cargo fmt --check), postgres \
(the test targets that need feature postgres-tests, against the server at OTC_TEST_DATABASE_URL, default \
postgres://postgres@127.0.0.1:5432/test; skipped with a note when none answers), lint (cargo clippy --workspace --all-targets --all-features -D warnings; cargo doc with rustdoc warnings denied), \
showroom (the real admin-api binary walked through every endpoint group), instructions (valgrind's callgrind \
counts the instructions of the policy's hot pure paths; a bench more than 2% above the committed baseline fails \
the gate), latency (criterion endpoint bench, per-request p50/p95/p99, judged against the last complete runs).\n\nExit status: 0 when every step passed and at least one test ran; 1 otherwise; \
2 when verify itself could not run."
)]
pub struct VerifyArgs {
    /// Run only these steps (comma-separated, e.g. `unit,contract`).
    #[arg(long, value_delimiter = ',', value_name = "STEPS")]
    only: Vec<String>,
    /// Skip these steps (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "STEPS")]
    skip: Vec<String>,
    /// Skip the latency step (no endpoints in the snapshot).
    #[arg(long)]
    no_latency: bool,
    /// Fail the `postgres` step when no PostgreSQL server answers at OTC_TEST_DATABASE_URL
    /// (without it, the step is skipped with a note).
    #[arg(long)]
    require_postgres: bool,
    /// Skip the instructions step (no instruction counts in the snapshot).
    #[arg(long)]
    no_instructions: bool,
    /// Fail the gate when valgrind is missing (default: the instructions step is skipped with
    /// a one-line note). CI sets it.
    #[arg(long)]
    require_valgrind: bool,
    /// Accept instruction counts above the committed baseline (a new compiler, an intended
    /// change): reported, not failed, so a complete run that passes writes them as the new
    /// baseline.
    #[arg(long)]
    accept_instructions: bool,
    /// Quick mode: slow tests (OTC_SLOW_TESTS) off, and no lint, instructions or latency step.
    #[arg(long)]
    quick: bool,
    /// Where to write the snapshot (relative to the workspace root). Default: the committed
    /// baseline `data/verify_snapshot.json` after a complete run that passed, else
    /// `<target dir>/verify/verify_snapshot.json`.
    #[arg(long, value_name = "PATH")]
    snapshot: Option<PathBuf>,
    /// Also write a JUnit XML report here.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Also write a Markdown summary here.
    #[arg(long, value_name = "PATH")]
    markdown: Option<PathBuf>,
    /// Treat a latency regression against the previous complete runs as a failure (default:
    /// warning).
    #[arg(long)]
    fail_on_regression: bool,
    /// Requests measured per endpoint in the latency step.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=100_000))]
    latency_requests: u64,
    /// Time limit for one test binary, in seconds (a hung binary is killed and reported).
    #[arg(long, default_value_t = 900)]
    test_timeout: u64,
    /// Workspace to verify (default: this repository). Used by verify's own end-to-end test.
    #[arg(long, hide = true)]
    root: Option<PathBuf>,
}

impl VerifyArgs {
    fn wants(&self, step: &str) -> bool {
        let quick_skips = self.quick && matches!(step, "lint" | "instructions" | "latency");
        let latency_off = self.no_latency && step == "latency";
        let instructions_off = self.no_instructions && step == "instructions";
        (self.only.is_empty() || self.only.iter().any(|s| s == step))
            && !self.skip.iter().any(|s| s == step)
            && !quick_skips
            && !latency_off
            && !instructions_off
    }

    /// Every step runs: no `--only`, `--skip`, `--quick`, `--no-latency` or
    /// `--no-instructions`. Only such a run measures everything the committed baseline holds.
    fn is_complete(&self) -> bool {
        self.only.is_empty()
            && self.skip.is_empty()
            && !self.quick
            && !self.no_latency
            && !self.no_instructions
    }

    fn check_step_names(&self) -> Result<()> {
        for name in self.only.iter().chain(&self.skip) {
            if !ALL_STEPS.contains(&name.as_str()) {
                bail!("unknown step {name:?}; steps are: {}", ALL_STEPS.join(", "));
            }
        }
        Ok(())
    }
}

/// Runs the gate; `Ok(true)` when it passed.
pub fn run(args: &VerifyArgs) -> Result<bool> {
    args.check_step_names()?;
    let root = match &args.root {
        Some(r) => r
            .canonicalize()
            .with_context(|| format!("workspace {}", r.display()))?,
        None => crate::workspace_root(),
    };
    let started = Instant::now();
    let limit = Duration::from_secs(args.test_timeout);
    // The committed snapshot is the regression baseline, whichever file this run writes.
    let previous = snapshot::read(&root.join(BASELINE)).unwrap_or_else(|e| {
        eprintln!("verify: warning: previous snapshot ignored: {e:#}");
        None
    });

    println!("verify: building every test target once...");
    let ws = build::metadata(&root)?;
    let places = SnapshotPlaces {
        explicit: args.snapshot.as_ref().map(|p| root.join(p)),
        baseline: root.join(BASELINE),
        scratch: ws.target_dir.join("verify").join("verify_snapshot.json"),
    };
    let mut suites: Vec<SuiteResult> = Vec::new();
    let opts = suite::RunOptions {
        quick: args.quick,
        limit,
        bin_dir: ws.target_dir.join("debug"),
    };
    let bins = match build::build_tests(&root, &ws) {
        Ok(bins) => bins,
        Err(e) => {
            let mut failed = SuiteResult::new("build");
            failed.check("cargo test --no-run", false, &format!("{e:#}"));
            announce(&mut suites, failed);
            return finish(
                args,
                &root,
                &places,
                previous,
                suites,
                Measured::default(),
                started,
            );
        }
    };

    if args.wants("unit") {
        let unit: Vec<_> = bins
            .iter()
            .filter(|b| b.package != SUITES_PACKAGE)
            .collect();
        let mut result = suite::run_binaries("unit", &unit, &opts)?;
        suite::run_doc_tests(&root, &mut result, &opts)?;
        announce(&mut suites, result);
    }
    for name in PACKAGE_SUITES {
        let selected: Vec<_> = bins
            .iter()
            .filter(|b| b.package == SUITES_PACKAGE && b.kind == "test" && b.target == name)
            .collect();
        if args.wants(name) && !selected.is_empty() {
            announce(&mut suites, suite::run_binaries(name, &selected, &opts)?);
        }
    }
    if args.wants("postgres")
        && let Some(result) = postgres::step(&root, &ws, &opts, args.require_postgres)?
    {
        announce(&mut suites, result);
    }
    if args.wants("lint") {
        announce(&mut suites, lint::run(&root)?);
    }
    if args.wants("showroom") && ws.bins.iter().any(|(_, bin)| bin == showroom::BIN) {
        announce(&mut suites, showroom::run(&root, &ws.target_dir, limit)?);
    }
    let instructions = if args.wants("instructions") {
        instructions::step(args, &root, &ws, previous.as_ref(), &mut suites)
    } else {
        None
    };
    let latency = if args.wants("latency") {
        latency_step(args, &root, &ws, &mut suites)
    } else {
        None
    };
    let measured = Measured {
        latency,
        instructions,
    };
    finish(args, &root, &places, previous, suites, measured, started)
}

/// The committed snapshot: the last complete run that passed, and the latency baseline.
const BASELINE: &str = "data/verify_snapshot.json";

/// Where a run may write its snapshot.
struct SnapshotPlaces {
    /// `--snapshot PATH`: always written there.
    explicit: Option<PathBuf>,
    /// The committed baseline ([`BASELINE`]).
    baseline: PathBuf,
    /// `<target dir>/verify/verify_snapshot.json`: every other run.
    scratch: PathBuf,
}

impl SnapshotPlaces {
    /// Invariant: only a complete run that passed the gate replaces the committed baseline. A
    /// partial or failing run must not leave the tree in a state where the contract tests on
    /// that file fail, nor make a run that measured less (or worse) the next baseline.
    fn choose(&self, complete: bool, gate_passed: bool) -> &Path {
        match &self.explicit {
            Some(path) => path,
            None if complete && gate_passed => &self.baseline,
            None => &self.scratch,
        }
    }
}

/// Runs the endpoint bench when the workspace has one; a failure becomes a failed `latency` suite.
fn latency_step(
    args: &VerifyArgs,
    root: &Path,
    ws: &build::Workspace,
    suites: &mut Vec<SuiteResult>,
) -> Option<Latency> {
    let (package, _) = ws.benches.iter().find(|(_, b)| b == latency::BENCH_NAME)?;
    let start = Instant::now();
    let settings = latency::Settings {
        requests: args.latency_requests,
        warm_up_s: 0.5,
    };
    match latency::measure(root, &ws.target_dir, package, settings) {
        Ok(measured) => {
            println!(
                "step  latency        ok: {} endpoints, {} requests each, {:.1}s",
                measured.0.len(),
                args.latency_requests,
                start.elapsed().as_secs_f64()
            );
            Some(measured)
        }
        Err(e) => {
            let mut failed = SuiteResult::new("latency");
            failed.check("criterion endpoint bench", false, &format!("{e:#}"));
            failed.duration_s = start.elapsed().as_secs_f64();
            announce(suites, failed);
            None
        }
    }
}

/// Prints a suite's line as it finishes and keeps its result.
fn announce(suites: &mut Vec<SuiteResult>, result: SuiteResult) {
    println!("{}", report::suite_line(&result));
    suites.push(result);
}

type Latency = (
    std::collections::BTreeMap<String, snapshot::EndpointLatency>,
    snapshot::LatencyMethod,
);

type Instructions = (
    std::collections::BTreeMap<String, u64>,
    instructions::InstructionsMethod,
    Vec<instructions::InstrChange>,
);

/// What the measuring steps produced (`None`: the step did not run or failed).
#[derive(Default)]
struct Measured {
    latency: Option<Latency>,
    instructions: Option<Instructions>,
}

/// Writes the snapshot and reports, prints the summary and the closing line.
fn finish(
    args: &VerifyArgs,
    root: &Path,
    places: &SnapshotPlaces,
    previous: Option<snapshot::Snapshot>,
    suites: Vec<SuiteResult>,
    measured: Measured,
    started: Instant,
) -> Result<bool> {
    let passed: u64 = suites.iter().map(|s| s.passed).sum();
    let failed: u64 = suites.iter().map(|s| s.failed).sum();
    let complete =
        args.is_complete() && measured.latency.is_some() && measured.instructions.is_some();
    let (endpoints, latency_method) = match measured.latency {
        Some((e, m)) => (e, Some(m)),
        None => Default::default(),
    };
    let (instructions, instructions_method, instr_changes) = match measured.instructions {
        Some((counts, method, changes)) => (counts, Some(method), changes),
        None => Default::default(),
    };
    let history = previous.as_ref().map(trend::references).unwrap_or_default();
    let changes = trend::compare(&history, &endpoints, trend::Thresholds::default());
    let regressions = changes.iter().filter(|c| c.regression).count();
    let nothing_ran = passed + failed == 0;
    let gate_passed = failed == 0 && !nothing_ran && !(args.fail_on_regression && regressions > 0);
    let snapshot_path = places.choose(complete, gate_passed);
    let snap = snapshot::Snapshot {
        schema_version: snapshot::SCHEMA_VERSION,
        timestamp: crate::timefmt::rfc3339(SystemTime::now()),
        orchestrator_version: git_version(root),
        endpoints,
        latency_method,
        latency_history: history,
        instructions,
        instructions_method,
        total_tests: passed + failed,
        passed,
        failed,
        duration_s: snapshot::round3(started.elapsed().as_secs_f64()),
        suites: suites.iter().map(snapshot::SuiteLine::from).collect(),
        host: snapshot::Host::current(),
    };
    snapshot::write(snapshot_path, &snap)?;
    if let Some(path) = &args.junit {
        std::fs::write(root.join(path), report::junit(&suites)?)
            .context("writing the JUnit report")?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(
            root.join(path),
            report::markdown(&suites, &snap, &changes, &instr_changes),
        )
        .context("writing the Markdown summary")?;
    }
    print!(
        "{}",
        report::summary(&suites, &snap, &changes, &instr_changes)
    );
    if regressions > 0 {
        let verdict = if args.fail_on_regression {
            "failing the gate (--fail-on-regression)"
        } else {
            "warning only"
        };
        println!(
            "verify: {regressions} latency regression(s) against the last {} complete run(s): {verdict}",
            snap.latency_history.len()
        );
    }
    let grown = instr_changes.iter().filter(|c| c.regression).count();
    if grown > 0 {
        let verdict = if args.accept_instructions {
            "accepted (--accept-instructions); a complete run that passes makes them the baseline"
        } else {
            "failing the gate; if intended (or a new compiler), re-run with --accept-instructions"
        };
        println!(
            "verify: {grown} bench(es) above the committed instruction counts by more than {:.0}%: {verdict}",
            instructions::THRESHOLD * 100.0
        );
    }
    println!("verify: snapshot written to {}", snapshot_path.display());
    if snapshot_path != places.baseline && places.explicit.is_none() {
        println!("verify: {BASELINE} left as it was: only a complete run that passes replaces it");
    }
    if nothing_ran {
        println!("verify: no test ran; that is a failure, not a pass");
    }
    println!("verify: {passed} passed, {failed} failed");
    Ok(gate_passed)
}

/// `git rev-parse --short HEAD`, `-dirty` when the tree has changes, `unknown` outside git.
fn git_version(root: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(sha) => {
            // The snapshot itself is rewritten by every run; it does not make the tree dirty.
            let dirty = git(&[
                "status",
                "--porcelain",
                "--",
                ".",
                ":!data/verify_snapshot.json",
            ])
            .is_some_and(|s| !s.is_empty());
            if dirty { format!("{sha}-dirty") } else { sha }
        }
        None => "unknown".to_string(),
    }
}

/// `cargo xtask showroom`: build the binaries, then run the showroom alone with its transcript.
pub fn showroom_only(root: &Path) -> Result<bool> {
    let ws = build::metadata(root)?;
    let sh = xshell::Shell::new()?;
    sh.change_dir(root);
    xshell::cmd!(sh, "cargo build --quiet --workspace --bins").run()?;
    showroom::run_interactive(root, &ws.target_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        verify: VerifyArgs,
    }

    fn args(flags: &[&str]) -> VerifyArgs {
        let argv = std::iter::once("verify").chain(flags.iter().copied());
        Cli::try_parse_from(argv).unwrap().verify
    }

    fn places(explicit: Option<&str>) -> SnapshotPlaces {
        SnapshotPlaces {
            explicit: explicit.map(PathBuf::from),
            baseline: PathBuf::from("/ws/data/verify_snapshot.json"),
            scratch: PathBuf::from("/target/verify/verify_snapshot.json"),
        }
    }

    #[test]
    fn only_a_complete_run_counts_as_complete() {
        assert!(args(&[]).is_complete());
        for partial in [
            &["--quick"][..],
            &["--no-latency"],
            &["--only", "unit"],
            &["--skip", "lint"],
            &["--no-instructions"],
        ] {
            assert!(!args(partial).is_complete(), "{partial:?}");
        }
    }

    #[test]
    fn quick_and_no_instructions_skip_the_instructions_step() {
        assert!(args(&[]).wants("instructions"));
        assert!(!args(&["--quick"]).wants("instructions"));
        assert!(!args(&["--no-instructions"]).wants("instructions"));
        assert!(args(&["--no-latency"]).wants("instructions"));
        assert!(args(&["--only", "instructions"]).wants("instructions"));
    }

    #[test]
    fn only_a_complete_passing_run_replaces_the_committed_baseline() {
        let p = places(None);
        assert_eq!(p.choose(true, true), p.baseline.as_path());
        assert_eq!(p.choose(true, false), p.scratch.as_path());
        assert_eq!(p.choose(false, true), p.scratch.as_path());
        assert_eq!(p.choose(false, false), p.scratch.as_path());
    }

    #[test]
    fn an_explicit_snapshot_path_is_always_written() {
        let p = places(Some("/elsewhere.json"));
        for (complete, passed) in [(true, true), (true, false), (false, true), (false, false)] {
            assert_eq!(p.choose(complete, passed), Path::new("/elsewhere.json"));
        }
    }
}
