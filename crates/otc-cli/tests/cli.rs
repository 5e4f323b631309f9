//! The `otc` binary's store commands, run as a user would: import with bad lines (reported by
//! number, the rest imported), recommend, checkpoints as table and JSON, rebuild, export that
//! re-imports as all duplicates, the database path from `--db`, `OTC_DB` and the default, and
//! the review's CLI findings (missing run_units, conflicts, blank lines, mistyped --db, spaces
//! in --modules, negative numbers, partial configs, errors printed once), and `answered_at`
//! through import and export.

use otc_policy::Trajectory;
use otc_policy::synthetic::World;
use std::path::Path;
use std::process::Command;
use support::{otc, text};

mod support;

const T0: i64 = 1_700_000_000_000;

fn write_jsonl(path: &Path, trajectories: &[Trajectory], extra: &[&str]) {
    let mut body = String::new();
    for t in trajectories {
        body.push_str(&serde_json::to_string(t).unwrap());
        body.push('\n');
    }
    for line in extra {
        body.push_str(line);
        body.push('\n');
    }
    std::fs::write(path, body).unwrap();
}

#[test]
fn import_reports_bad_lines_by_number_and_imports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::standard(2);
    let good = world.trajectories(300, 1, "r", T0);
    write_jsonl(
        &dir.path().join("in.jsonl"),
        &good,
        &[
            "{not json",
            r#"{"request_id":"x","intent":"i","modules":["a"],"calls":[],"run_units":-1,"correct":true,"latency_ms":1,"timestamp_ms":0}"#,
            r#"{"request_id":"y","intent":"i","modules":["a"],"calls":[],"run_units":1,"correct":true,"latency_ms":1,"timestamp_ms":0,"extra":1}"#,
            "",
        ],
    );
    let out = otc(dir.path(), &["import", "in.jsonl", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "rejected lines make the exit code 1"
    );
    let stderr = text(&out.stderr);
    for line in [301, 302, 303] {
        assert!(
            stderr.contains(&format!("line {line}: rejected")),
            "{stderr}"
        );
    }
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({"lines": 304, "accepted": 300, "duplicate": 0, "rejected": 3, "skipped": 1})
    );
    assert!(
        dir.path().join("data/otc-policy.db").exists(),
        "default path under data/"
    );

    // Importing again only finds duplicates.
    let again = otc(dir.path(), &["import", "in.jsonl"]);
    assert!(
        text(&again.stdout)
            .contains("read 304 lines: 0 accepted, 300 duplicates, 3 rejected, 1 skipped (blank)"),
        "{}",
        text(&again.stdout)
    );
}

#[test]
fn recommend_checkpoints_rebuild_and_export_work_on_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::standard(2);
    write_jsonl(
        &dir.path().join("in.jsonl"),
        &world.trajectories(2000, 2, "r", T0),
        &[],
    );
    let db = dir.path().join("custom/p.db");
    let db = db.to_str().unwrap();
    assert!(
        otc(dir.path(), &["import", "in.jsonl", "--db", db])
            .status
            .success()
    );

    let spec = &world.intents[1];
    let modules = spec.module_names().join(",");
    let out = otc(
        dir.path(),
        &[
            "recommend",
            "--intent",
            &spec.name,
            "--modules",
            &modules,
            "--db",
            db,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // An imported log was not served by decisions: it teaches OTC's n (the scoring count) and
    // the module credit; the served budget is learnt in closed loop.
    assert_eq!(rec["optimal_n"], spec.optimal);
    assert_eq!(rec["ranked"][0]["module"], spec.best_module());

    // OTC_DB selects the same file.
    let table = Command::new(env!("CARGO_BIN_EXE_otc"))
        .current_dir(dir.path())
        .env("OTC_DB", db)
        .args(["checkpoints"])
        .output()
        .unwrap();
    let table = text(&table.stdout);
    assert!(table.starts_with("intent"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");
    let json = otc(dir.path(), &["checkpoints", "--format", "json", "--db", db]);
    let all: Vec<otc_policy::Checkpoint> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(all.iter().map(|c| c.samples).sum::<u64>(), 2000);

    let rebuilt = otc(dir.path(), &["rebuild", "--db", db]);
    let report: serde_json::Value = serde_json::from_slice(&rebuilt.stdout).unwrap();
    assert_eq!(report["trajectories"], 2000);

    let out = otc(dir.path(), &["export", "--out", "dump.jsonl", "--db", db]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dump = std::fs::read_to_string(dir.path().join("dump.jsonl")).unwrap();
    assert_eq!(dump.lines().count(), 2000);
    let fresh = otc(
        dir.path(),
        &["import", "dump.jsonl", "--db", "other.db", "--json"],
    );
    let summary: serde_json::Value = serde_json::from_slice(&fresh.stdout).unwrap();
    assert_eq!(
        summary["accepted"], 2000,
        "an export imports into a new store"
    );
    let json2 = otc(
        dir.path(),
        &["checkpoints", "--format", "json", "--db", "other.db"],
    );
    let copied: Vec<otc_policy::Checkpoint> = serde_json::from_slice(&json2.stdout).unwrap();
    assert_eq!(copied, all, "same log, same order, same checkpoints");
}

fn line(id: &str, intent: &str, correct: bool, run_units: Option<f64>) -> String {
    let mut t = serde_json::json!({
        "request_id": id, "intent": intent, "modules": ["web", "calc"], "calls": ["web"],
        "correct": correct, "latency_ms": 5, "timestamp_ms": T0,
    });
    if let Some(units) = run_units {
        t["run_units"] = units.into();
    }
    t.to_string()
}

/// `answered_at` goes through import and export as through the HTTP API: kept as written,
/// checked (a line naming a call that was not made is rejected by number), and compared on a
/// re-import (another value for a stored request id is a conflict).
#[test]
fn import_and_export_carry_answered_at() {
    let dir = tempfile::tempdir().unwrap();
    let with = |id: &str, answered_at: Option<u32>| {
        let mut t: serde_json::Value =
            serde_json::from_str(&line(id, "lookup", true, Some(1.0))).unwrap();
        if let Some(at) = answered_at {
            t["answered_at"] = at.into();
        }
        t.to_string()
    };
    let lines = [
        with("a", Some(1)),
        with("b", Some(0)),
        with("c", None),
        with("d", Some(2)),
        with("a", Some(0)),
    ];
    std::fs::write(dir.path().join("in.jsonl"), lines.join("\n") + "\n").unwrap();
    let out = otc(
        dir.path(),
        &["import", "in.jsonl", "--db", "p.db", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 4: rejected: answered_at: 2 is beyond the 1 calls made"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5: rejected (conflict)")
            && stderr.contains("(differs in: answered_at)"),
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({"lines": 5, "accepted": 3, "duplicate": 0, "rejected": 2, "skipped": 0})
    );
    let export = otc(dir.path(), &["export", "--db", "p.db"]);
    let exported: Vec<Trajectory> = text(&export.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        exported
            .iter()
            .map(|t| (t.request_id.as_str(), t.answered_at))
            .collect::<Vec<_>>(),
        [("a", Some(1)), ("b", Some(0)), ("c", None)]
    );
}

/// Regression: a line without `run_units` (valid over HTTP) failed with serde's bare "missing
/// field", a blank line was counted in `lines` but in no bucket, and the summary said
/// "1 lines" / "1 trajectories".
#[test]
fn import_explains_run_units_counts_blank_lines_and_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        line("a", "lookup", true, Some(1.0)),
        line("b", "lookup", true, None),
        String::new(),
        line("a", "lookup", true, Some(1.0)),
        line("a", "mail", false, Some(1.0)),
        line("c", "lookup", true, Some(2.0)),
        line("c", "lookup", true, Some(3.0)),
    ];
    std::fs::write(dir.path().join("in.jsonl"), lines.join("\n") + "\n").unwrap();
    let out = otc(dir.path(), &["import", "in.jsonl", "--db", "p.db"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "line 2: rejected: run_units is required when importing offline: the CLI has no meter"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "line 5: rejected (conflict): request id \"a\" is already stored with different content (differs in: intent, correct)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("line 7: rejected (conflict)"), "{stderr}");
    assert_eq!(
        text(&out.stdout).trim(),
        "read 7 lines: 2 accepted, 1 duplicate, 3 rejected, 1 skipped (blank)"
    );
    let export = otc(dir.path(), &["export", "--db", "p.db"]);
    assert_eq!(text(&export.stderr).trim(), "otc export: 2 trajectories");
    let exported: Vec<Trajectory> = text(&export.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        exported
            .iter()
            .map(|t| (t.intent.as_str(), t.run_units))
            .collect::<Vec<_>>(),
        [("lookup", 1.0), ("lookup", 2.0)],
        "the first version of a conflicting id stays"
    );
}

/// Regression: `recommend`, `checkpoints`, `export` and `rebuild` with a mistyped --db created
/// the directory and an empty database and answered from it.
#[test]
fn reading_commands_refuse_a_database_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let db = "typo/p.db";
    for args in [
        &["recommend", "--intent", "i", "--modules", "a", "--db", db][..],
        &["checkpoints", "--db", db],
        &["export", "--db", db],
        &["rebuild", "--db", db],
    ] {
        let out = otc(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("no policy database at typo/p.db"),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!dir.path().join("typo").exists(), "{args:?} created it");
    }
}

/// Regression: the "best module" column showed the first of the UCB ranking, often a module
/// never tried (pulls 0).
#[test]
fn checkpoints_name_the_best_tried_module() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        line("a", "lookup", true, Some(1.0)),
        line("b", "lookup", true, Some(1.0)),
    ];
    std::fs::write(dir.path().join("in.jsonl"), lines.join("\n")).unwrap();
    assert!(
        otc(dir.path(), &["import", "in.jsonl", "--db", "p.db"])
            .status
            .success()
    );
    let table = text(&otc(dir.path(), &["checkpoints", "--db", "p.db"]).stdout);
    let row = table.lines().nth(1).unwrap();
    assert!(row.ends_with("  web"), "calc was never called: {table}");
    let json = otc(
        dir.path(),
        &["checkpoints", "--db", "p.db", "--format", "json"],
    );
    let all: Vec<otc_policy::Checkpoint> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        all[0].arms[0].module, "web",
        "the module that answered ranks before the one never tried"
    );
}

/// `otc simulate` runs the closed loop against the real store on a temporary file, prints the
/// table and the summary, writes the plot, and refuses to write into an existing database.
#[test]
fn simulate_prints_the_table_and_writes_the_plot() {
    let dir = tempfile::tempdir().unwrap();
    // A database the memory engine would not write is refused, not ignored.
    let out = otc(
        dir.path(),
        &["simulate", "--engine", "memory", "--db", "sim.db"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--db is for --engine store"));
    assert!(!dir.path().join("sim.db").exists());
    let out = otc(
        dir.path(),
        &[
            "simulate",
            "--agent",
            "over-caller",
            "--trajectories",
            "60",
            "--svg",
            "plot.svg",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for needle in [
        "scenario steady · agent over-caller",
        "legal [cases,statutes,web]",
        "oracle",
        "convergence (from then on",
    ] {
        assert!(table.contains(needle), "{needle}: {table}");
    }
    let svg = std::fs::read_to_string(dir.path().join("plot.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("polyline"), "{svg}");
    std::fs::write(dir.path().join("taken.db"), b"").unwrap();
    let out = otc(
        dir.path(),
        &["simulate", "--trajectories", "60", "--db", "taken.db"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("taken.db exists"),
        "{}",
        text(&out.stderr)
    );
}

/// `otc decide` logs a decision and prints it; `otc prune-decisions` removes it once old.
#[test]
fn decide_logs_a_decision() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.jsonl"),
        line("a", "lookup", true, Some(1.0)),
    )
    .unwrap();
    assert!(
        otc(dir.path(), &["import", "in.jsonl", "--db", "p.db"])
            .status
            .success()
    );
    let decision = support::decide(dir.path(), "p.db");
    assert_eq!(decision["decision_id"], 1);
    assert!(decision["propensity"].as_f64().unwrap() > 0.0);
    let out = otc(
        dir.path(),
        &["prune-decisions", "--older-than-days", "1", "--db", "p.db"],
    );
    assert_eq!(
        text(&out.stdout).trim(),
        "otc prune-decisions: 0 decisions deleted"
    );
}

/// Regression: `--modules ' web'` was rejected (the HTTP API trims), the error was printed
/// twice, `--optimal -1` was a clap parse error, and a config file had to spell out every
/// field.
#[test]
fn arguments_behave_like_the_http_api_and_errors_print_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.jsonl"),
        line("a", "lookup", true, Some(1.0)),
    )
    .unwrap();
    assert!(
        otc(dir.path(), &["import", "in.jsonl", "--db", "p.db"])
            .status
            .success()
    );
    let out = otc(
        dir.path(),
        &[
            "recommend",
            "--intent",
            "lookup",
            "--modules",
            " calc, web",
            "--db",
            "p.db",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["source"], "exact");

    let out = otc(
        dir.path(),
        &[
            "recommend",
            "--intent",
            "lookup",
            "--modules",
            "a b",
            "--db",
            "p.db",
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.matches("contains a character outside").count(),
        1,
        "{stderr}"
    );

    let out = otc(
        dir.path(),
        &["reward", "--calls", "1", "--optimal", "-1", "--correct"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("optimal tool-call count must be a finite number >= 0, got -1"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(dir.path().join("c.json"), r#"{"reward": {"beta": 0.5}}"#).unwrap();
    let out = otc(
        dir.path(),
        &["rebuild", "--db", "p.db", "--config", "c.json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&otc(dir.path(), &["import", "--help"]).stdout);
    for needle in [
        "`run_units` is required here",
        "\"estimator\"",
        "confidence_half",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}
