//! Parser for the human output of Rust's built-in test harness (libtest), the only format that is
//! stable without nightly: per-test lines, captured output of failures, and the summary line.

use serde::Serialize;

/// Outcome of one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// `test x ... ok`
    Passed,
    /// `test x ... FAILED`
    Failed,
    /// `test x ... ignored`
    Ignored,
}

/// One test case as reported by libtest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// Full test path, e.g. `reward::tests::reference_values_match_the_paper`.
    pub name: String,
    /// Its outcome.
    pub outcome: Outcome,
    /// The captured output of a failed test (empty otherwise).
    pub output: String,
}

/// Everything read from one run of one test binary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Run {
    /// Every test line seen, in order.
    pub cases: Vec<Case>,
    /// The `test result:` summary line was present (absent means the binary died mid-run).
    pub summary_seen: bool,
    /// Counts from the summary line(s): passed, failed, ignored.
    pub summary: (u64, u64, u64),
}

impl Run {
    /// Counts of passed, failed and ignored cases, from the per-test lines.
    pub fn counts(&self) -> (u64, u64, u64) {
        let count = |o| self.cases.iter().filter(|c| c.outcome == o).count() as u64;
        (
            count(Outcome::Passed),
            count(Outcome::Failed),
            count(Outcome::Ignored),
        )
    }
}

/// Parses libtest's stdout. Doc-test runs print several blocks; all are merged.
pub fn parse(stdout: &str) -> Run {
    let mut run = Run::default();
    let mut lines = stdout.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("test ")
            && let Some(case) = parse_case_line(rest)
        {
            run.cases.push(case);
            continue;
        }
        if let Some(rest) = line.strip_prefix("test result: ") {
            run.summary_seen = true;
            let (p, f, i) = parse_summary(rest);
            run.summary = (run.summary.0 + p, run.summary.1 + f, run.summary.2 + i);
            continue;
        }
        // Captured output of a failure: "---- name stdout ----" up to the next header or the
        // "failures:" list that closes the section.
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            let mut output = String::new();
            while let Some(next) = lines.peek() {
                if next.starts_with("---- ") || *next == "failures:" {
                    break;
                }
                output.push_str(next);
                output.push('\n');
                lines.next();
            }
            if let Some(case) = run.cases.iter_mut().rev().find(|c| c.name == name) {
                case.output = output.trim_end().to_string();
            }
        }
    }
    run
}

/// `name ... ok` (also `name - should panic ... ok` and doc-test names with spaces).
fn parse_case_line(rest: &str) -> Option<Case> {
    let (name, status) = rest.rsplit_once(" ... ")?;
    let outcome = match status.trim() {
        "ok" => Outcome::Passed,
        "FAILED" => Outcome::Failed,
        s if s.starts_with("ignored") => Outcome::Ignored,
        _ => return None,
    };
    Some(Case {
        name: name.to_string(),
        outcome,
        output: String::new(),
    })
}

/// `ok. 5 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s`
fn parse_summary(rest: &str) -> (u64, u64, u64) {
    let mut counts = (0, 0, 0);
    for part in rest.split(';') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let (Some(number), Some(label)) = (words.iter().rev().nth(1), words.last()) else {
            continue;
        };
        let Ok(n) = number.parse::<u64>() else {
            continue;
        };
        match *label {
            "passed" => counts.0 = n,
            "failed" => counts.1 = n,
            "ignored" => counts.2 = n,
            _ => {}
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILING: &str = "\
running 3 tests
test a::works ... ok
test a::skipped ... ignored, slow
test a::breaks ... FAILED

failures:

---- a::breaks stdout ----

thread 'a::breaks' panicked at src/lib.rs:9:5:
assertion `left == right` failed
  left: 1
 right: 2

failures:
    a::breaks

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s
";

    #[test]
    fn failing_run_names_the_test_and_keeps_its_output() {
        let run = parse(FAILING);
        assert!(run.summary_seen);
        assert_eq!(run.summary, (1, 1, 1));
        assert_eq!(run.counts(), (1, 1, 1));
        let failed = run
            .cases
            .iter()
            .find(|c| c.outcome == Outcome::Failed)
            .unwrap();
        assert_eq!(failed.name, "a::breaks");
        assert!(failed.output.contains("assertion `left == right` failed"));
        assert!(!failed.output.contains("failures:"));
    }

    #[test]
    fn a_crashed_binary_has_no_summary() {
        let run = parse("running 2 tests\ntest a::one ... ok\n");
        assert!(!run.summary_seen);
        assert_eq!(run.counts(), (1, 0, 0));
    }

    #[test]
    fn doc_test_blocks_are_merged() {
        let out = "\
running 1 test
test crates/x/src/lib.rs - f (line 3) ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.1s

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.0s
";
        let run = parse(out);
        assert_eq!(run.cases[0].name, "crates/x/src/lib.rs - f (line 3)");
        assert_eq!(run.summary, (1, 0, 0));
    }

    #[test]
    fn unrelated_lines_are_not_tests() {
        let run = parse("test harness says hello\nrunning 0 tests\n");
        assert!(run.cases.is_empty());
    }
}
