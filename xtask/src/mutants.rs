//! `cargo xtask mutants`: mutation testing of the hot decision and write paths with
//! cargo-mutants. Finds (or installs) cargo-mutants, mutates the chosen files, runs the tests
//! against every mutant, then prints the score and every surviving mutant.
//!
//! Not part of `verify` (it rebuilds the workspace once per mutant: tens of minutes on two
//! cores). Run it after changing one of the mutated files or their tests.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The files mutated by default: the optimal-`n` estimator, the per-combination policy state,
/// and the usage store's write path (idempotency, quotas, roll-ups).
const DEFAULT_FILES: [&str; 3] = [
    "crates/otc-policy/src/estimate.rs",
    "crates/otc-policy/src/state.rs",
    "crates/usage-store-sqlite/src/write.rs",
];

/// Flags of `cargo xtask mutants`.
#[derive(Debug, Args)]
pub struct MutantsArgs {
    /// Files to mutate (repeatable; default: the estimator, the policy state, the SQLite usage
    /// store's write path).
    #[arg(long = "file", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Test each mutant with its own crate's tests only (faster) instead of the workspace's.
    #[arg(long)]
    crate_tests: bool,
    /// Fail (exit 1) when fewer than this percentage of viable mutants are caught.
    #[arg(long, default_value_t = 90.0)]
    min_score: f64,
    /// Parallel builds (`cargo mutants --jobs`); each needs a copy of the tree and a target dir.
    #[arg(long, default_value_t = 1)]
    jobs: u32,
    /// Do not install cargo-mutants when it is missing; fail instead.
    #[arg(long)]
    no_install: bool,
}

/// The outcome counts of one run, read from `mutants.out/*.txt`.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    /// Mutants some test failed on.
    pub caught: Vec<String>,
    /// Mutants every test passed on: the tests' blind spots.
    pub missed: Vec<String>,
    /// Mutants the tests hung on (they noticed: counted as caught in the score).
    pub timeout: Vec<String>,
    /// Mutants that do not build (not counted).
    pub unviable: Vec<String>,
}

impl Outcome {
    /// Mutants that built.
    pub fn viable(&self) -> usize {
        self.caught.len() + self.missed.len() + self.timeout.len()
    }

    /// Percentage of viable mutants caught (a timeout counts as caught); `None` when none built.
    pub fn score(&self) -> Option<f64> {
        let viable = self.viable();
        (viable > 0)
            .then(|| 100.0 * (self.caught.len() + self.timeout.len()) as f64 / viable as f64)
    }

    /// Reads the outcome lists cargo-mutants wrote into `dir` (`…/mutants.out`).
    pub fn read(dir: &Path) -> Result<Self> {
        let list = |name: &str| -> Result<Vec<String>> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
            }
        };
        Ok(Self {
            caught: list("caught.txt")?,
            missed: list("missed.txt")?,
            timeout: list("timeout.txt")?,
            unviable: list("unviable.txt")?,
        })
    }
}

/// Runs cargo-mutants; `Ok(true)` when the score reaches `--min-score`.
pub fn run(root: &Path, args: &MutantsArgs) -> Result<bool> {
    ensure_cargo_mutants(!args.no_install)?;
    let files: Vec<PathBuf> = if args.files.is_empty() {
        DEFAULT_FILES.iter().map(PathBuf::from).collect()
    } else {
        args.files.clone()
    };
    for file in &files {
        if !root.join(file).is_file() {
            bail!("{} is not a file of this workspace", file.display());
        }
    }
    let out_dir = root.join("target").join("mutants");
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root)
        .args(["mutants", "--no-shuffle", "--output"])
        .arg(&out_dir)
        .arg("--jobs")
        .arg(args.jobs.to_string())
        .arg(format!("--test-workspace={}", !args.crate_tests));
    for file in &files {
        cmd.arg("--file").arg(file);
    }
    // The slow simulations stay off: they add minutes per mutant and test the same code.
    cmd.env_remove("OTC_SLOW_TESTS");
    println!("mutants: {cmd:?}");
    let status = cmd.status().context("running cargo mutants")?;
    // cargo-mutants exits 2 when mutants were missed and 3 on timeouts: results, not errors.
    // Anything else non-zero (1 usage, 4 the unmutated tree fails its tests) is an error.
    if !matches!(status.code(), Some(0 | 2 | 3)) {
        bail!("cargo mutants failed ({status}); see {}", out_dir.display());
    }
    let outcome = Outcome::read(&out_dir.join("mutants.out"))?;
    print!("{}", report(&outcome, args.min_score));
    Ok(outcome.score().is_some_and(|s| s >= args.min_score))
}

/// The summary: counts, score, and every surviving mutant.
pub fn report(outcome: &Outcome, min_score: f64) -> String {
    let mut out = format!(
        "\nmutants: {} viable ({} caught, {} timed out, {} missed), {} unviable\n",
        outcome.viable(),
        outcome.caught.len(),
        outcome.timeout.len(),
        outcome.missed.len(),
        outcome.unviable.len()
    );
    if !outcome.missed.is_empty() {
        out.push_str("survivors (no test noticed these changes):\n");
        for m in &outcome.missed {
            out.push_str(&format!("  {m}\n"));
        }
    }
    match outcome.score() {
        Some(score) => out.push_str(&format!(
            "mutants: score {score:.1}% (goal {min_score:.0}%): {}\n",
            if score >= min_score { "met" } else { "NOT met" }
        )),
        None => out.push_str("mutants: no viable mutant; nothing was measured\n"),
    }
    out
}

/// Finds `cargo mutants`, installing it with `cargo install --locked` when allowed.
fn ensure_cargo_mutants(install: bool) -> Result<()> {
    let found = Command::new("cargo")
        .args(["mutants", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Ok(());
    }
    if !install {
        bail!("cargo-mutants is not installed: `cargo install --locked cargo-mutants`");
    }
    println!(
        "mutants: cargo-mutants not found; installing it (cargo install --locked cargo-mutants)"
    );
    let status = Command::new("cargo")
        .args(["install", "--locked", "cargo-mutants"])
        .status()
        .context("running cargo install")?;
    if !status.success() {
        bail!("installing cargo-mutants failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize, tag: &str) -> Vec<String> {
        (0..n).map(|i| format!("src/x.rs:{i}:1: {tag}")).collect()
    }

    #[test]
    fn timeouts_count_as_caught_and_unviable_mutants_do_not_count() {
        let outcome = Outcome {
            caught: lines(80, "caught"),
            missed: lines(10, "missed"),
            timeout: lines(10, "timeout"),
            unviable: lines(50, "unviable"),
        };
        assert_eq!(outcome.viable(), 100);
        assert_eq!(outcome.score(), Some(90.0));
        let text = report(&outcome, 90.0);
        assert!(text.contains("score 90.0% (goal 90%): met"), "{text}");
        assert!(text.contains("src/x.rs:9:1: missed"), "{text}");
        assert!(report(&outcome, 95.0).contains("NOT met"));
        assert_eq!(Outcome::default().score(), None);
    }

    #[test]
    fn outcome_lists_are_read_and_a_missing_list_is_empty() {
        let dir = std::env::temp_dir().join(format!("xtask-mutants-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("caught.txt"), "a.rs:1:1: one\na.rs:2:1: two\n\n").unwrap();
        std::fs::write(dir.join("missed.txt"), "a.rs:3:1: three\n").unwrap();
        let outcome = Outcome::read(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(outcome.caught.len(), 2);
        assert_eq!(outcome.missed, vec!["a.rs:3:1: three".to_string()]);
        assert!(outcome.timeout.is_empty() && outcome.unviable.is_empty());
    }
}
