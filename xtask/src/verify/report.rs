//! What verify prints and the optional reports for CI systems (JUnit XML, Markdown).

use std::fmt::Write;

use super::instructions::{InstrChange, THRESHOLD};
use super::snapshot::Snapshot;
use super::suite::SuiteResult;
use super::trend::Change;
use crate::libtest::Outcome;

/// The line printed as each suite finishes.
pub fn suite_line(s: &SuiteResult) -> String {
    let status = if s.failed == 0 { "ok" } else { "FAILED" };
    format!(
        "suite {:<12} {:>6}: {:>4} passed, {:>3} failed, {:>3} ignored, {:>7.1}s",
        s.name, status, s.passed, s.failed, s.ignored, s.duration_s
    )
}

/// The closing table, instruction counts, latency, and the failures by suite and test with
/// their first lines.
pub fn summary(
    suites: &[SuiteResult],
    snap: &Snapshot,
    changes: &[Change],
    instr: &[InstrChange],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<14} {:>7} {:>7} {:>8} {:>9}",
        "suite", "passed", "failed", "ignored", "seconds"
    );
    for s in suites {
        let _ = writeln!(
            out,
            "{:<14} {:>7} {:>7} {:>8} {:>9.1}",
            s.name, s.passed, s.failed, s.ignored, s.duration_s
        );
    }
    if !instr.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<42} {:>12} {:>12} {:>9}",
            "bench (instructions, callgrind Ir)", "baseline", "this run", "change"
        );
        for c in instr {
            let before = c.before.map_or("-".to_string(), |b| b.to_string());
            let change = c
                .relative
                .map_or("new".to_string(), |r| format!("{:+.2}%", r * 100.0));
            let flag = if c.regression {
                format!("  REGRESSION (> +{:.0}%)", THRESHOLD * 100.0)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "{:<42} {before:>12} {:>12} {change:>9}{flag}",
                c.bench, c.after
            );
        }
    }
    if !snap.endpoints.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<42} {:>9} {:>9} {:>9} {:>9}",
            "endpoint", "p50 ms", "p95 ms", "p99 ms", "requests"
        );
        for (name, l) in &snap.endpoints {
            let _ = writeln!(
                out,
                "{name:<42} {:>9.3} {:>9.3} {:>9.3} {:>9}",
                l.p50_ms, l.p95_ms, l.p99_ms, l.requests
            );
        }
    }
    if !changes.is_empty() {
        let _ = writeln!(
            out,
            "\nlatency against the median of the last {} complete run(s) (p50; each endpoint relative to the liveness route, which is shown raw):",
            snap.latency_history.len()
        );
        for c in changes {
            let flag = if c.regression { "  REGRESSION" } else { "" };
            let _ = writeln!(
                out,
                "  {:<42} {:>8.3} -> {:>8.3} ms ({:+.0}%){flag}",
                c.endpoint,
                c.p50_ms.0,
                c.p50_ms.1,
                c.relative * 100.0
            );
        }
    }
    let failing: Vec<&SuiteResult> = suites.iter().filter(|s| !s.failures.is_empty()).collect();
    if !failing.is_empty() {
        let _ = writeln!(out, "\nfailures:");
        for s in failing {
            for f in &s.failures {
                let _ = writeln!(out, "  [{}] {}", s.name, f.test);
                for line in f.detail.lines() {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
    }
    out
}

/// JUnit XML (quick-junit, as nextest writes it): one `<testsuite>` per suite, one
/// `<testcase>` per test or check; a failure carries the first lines of its output.
pub fn junit(suites: &[SuiteResult]) -> anyhow::Result<String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("verify");
    for s in suites {
        let mut suite = TestSuite::new(s.name.as_str());
        suite.set_time(std::time::Duration::from_secs_f64(s.duration_s.max(0.0)));
        for case in &s.cases {
            let status = match case.outcome {
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Ignored => TestCaseStatus::skipped(),
                Outcome::Failed => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message("failed");
                    if let Some(f) = s.failures.iter().find(|f| f.test == case.name) {
                        status.set_description(f.detail.as_str());
                    }
                    status
                }
            };
            let mut test = TestCase::new(case.name.as_str(), status);
            test.set_classname(s.name.as_str());
            suite.add_test_case(test);
        }
        report.add_test_suite(suite);
    }
    Ok(report.to_string()?)
}

/// A Markdown summary (e.g. for a CI job summary page).
pub fn markdown(
    suites: &[SuiteResult],
    snap: &Snapshot,
    changes: &[Change],
    instr: &[InstrChange],
) -> String {
    let verdict = if snap.failed == 0 { "passed" } else { "FAILED" };
    let mut out = format!(
        "# verify {verdict}: {} passed, {} failed\n\nversion `{}`, {}, {:.1} s\n\n",
        snap.passed, snap.failed, snap.orchestrator_version, snap.timestamp, snap.duration_s
    );
    out.push_str("| suite | passed | failed | ignored | seconds |\n|---|---:|---:|---:|---:|\n");
    for s in suites {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} |",
            s.name, s.passed, s.failed, s.ignored, s.duration_s
        );
    }
    if !instr.is_empty() {
        out.push_str("\n| bench | instructions | baseline | change |\n|---|---:|---:|---:|\n");
        for c in instr {
            let before = c.before.map_or("-".to_string(), |b| b.to_string());
            let change = c.relative.map_or("new".to_string(), |r| {
                format!("{:+.2}%{}", r * 100.0, if c.regression { " ⚠" } else { "" })
            });
            let _ = writeln!(out, "| `{}` | {} | {before} | {change} |", c.bench, c.after);
        }
    }
    if !snap.endpoints.is_empty() {
        out.push_str("\n| endpoint | p50 ms | p95 ms | p99 ms | requests | change (p50) |\n|---|---:|---:|---:|---:|---:|\n");
        for (name, l) in &snap.endpoints {
            let change =
                changes
                    .iter()
                    .find(|c| &c.endpoint == name)
                    .map_or(String::from("new"), |c| {
                        format!(
                            "{:+.0}%{}",
                            c.relative * 100.0,
                            if c.regression { " ⚠" } else { "" }
                        )
                    });
            let _ = writeln!(
                out,
                "| `{name}` | {:.3} | {:.3} | {:.3} | {} | {change} |",
                l.p50_ms, l.p95_ms, l.p99_ms, l.requests
            );
        }
    }
    for s in suites.iter().filter(|s| !s.failures.is_empty()) {
        for f in &s.failures {
            let _ = writeln!(
                out,
                "\n### {} — `{}`\n\n```\n{}\n```",
                s.name, f.test, f.detail
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes_and_counts() {
        let mut s = SuiteResult::new("unit");
        s.check("a<b>", true, "");
        s.check("c&d", false, "boom \"quoted\"");
        s.check("e", false, "\u{1b}[31mred\u{1b}[0m and a NUL \u{0} byte");
        let xml = junit(&[s]).expect("serializes");
        assert!(xml.starts_with("<?xml"), "{xml}");
        for want in [
            "tests=\"3\"",
            "failures=\"2\"",
            "name=\"a&lt;b&gt;\"",
            "boom &quot;quoted&quot;",
        ] {
            assert!(xml.contains(want), "{want} in {xml}");
        }
        // Terminal colours and characters XML 1.0 cannot hold never reach the report.
        assert!(xml.contains("red and a NUL"), "{xml}");
        assert!(!xml.contains('\u{1b}') && !xml.contains('\u{0}'), "{xml}");
    }
}
