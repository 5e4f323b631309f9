//! `otc import` of trajectories that name decisions: a line naming a decision this database
//! never logged is rejected by its line number and the rest imported (it used to fail the whole
//! import), and an export of another database imports with `--unlink-decisions`.

use std::path::Path;
use std::process::Output;
use support::{otc, text};

mod support;

/// The time of every trajectory: recent, and the same in every line written for one id (a
/// retry with another time would be a conflict).
static NOW: std::sync::LazyLock<i64> =
    std::sync::LazyLock::new(|| jiff::Timestamp::now().as_millisecond());

/// One trajectory of (lookup, [calc, web]), answering `decision` if given.
fn line(id: &str, decision: Option<u64>) -> String {
    let now = *NOW;
    let mut t = serde_json::json!({
        "request_id": id, "intent": "lookup", "modules": ["web", "calc"], "calls": ["web"],
        "run_units": 1.0, "correct": true, "latency_ms": 5, "timestamp_ms": now - 1000,
    });
    if let Some(id) = decision {
        t["decision_id"] = id.into();
    }
    t.to_string()
}

fn decide(dir: &Path, db: &str) -> u64 {
    support::decide(dir, db)["decision_id"].as_u64().unwrap()
}

fn report_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out.stdout)))
}

#[test]
fn an_unknown_decision_rejects_its_line_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("first.jsonl"), line("a", None)).unwrap();
    let first = otc(dir.path(), &["import", "first.jsonl", "--db", "p.db"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let logged = decide(dir.path(), "p.db");
    let lines = [
        line("a", None),
        line("b", Some(logged)),
        line("c", Some(999)),
        line("d", None),
    ];
    std::fs::write(dir.path().join("in.jsonl"), lines.join("\n")).unwrap();
    let out = otc(
        dir.path(),
        &["import", "in.jsonl", "--db", "p.db", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 3: rejected: decision_id: no such decision was logged")
            && stderr.contains("--unlink-decisions"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let summary = report_of(&out);
    assert_eq!(
        (
            summary["accepted"].as_u64(),
            summary["duplicate"].as_u64(),
            summary["rejected"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );

    // The export names decision `logged`: into a database that never logged it, only
    // without its decisions.
    let export = otc(dir.path(), &["export", "--db", "p.db"]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    std::fs::write(dir.path().join("dump.jsonl"), &export.stdout).unwrap();
    let refused = otc(
        dir.path(),
        &[
            "import",
            "dump.jsonl",
            "--db",
            "other.db",
            "--format",
            "json",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    let refused = report_of(&refused);
    assert_eq!(
        (refused["accepted"].as_u64(), refused["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    let unlinked = otc(
        dir.path(),
        &[
            "import",
            "dump.jsonl",
            "--db",
            "third.db",
            "--unlink-decisions",
            "--format",
            "json",
        ],
    );
    assert!(unlinked.status.success(), "{}", text(&unlinked.stderr));
    assert_eq!(report_of(&unlinked)["accepted"].as_u64(), Some(3));
    // Into the database it came from, as it is: every line a duplicate.
    let again = otc(
        dir.path(),
        &["import", "dump.jsonl", "--db", "p.db", "--format", "json"],
    );
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(report_of(&again)["duplicate"].as_u64(), Some(3));
}

/// A line that is an array of a trajectory's fields is not read as the trajectory.
#[test]
fn an_array_line_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let now = *NOW;
    let fields = format!(r#"["x", "lookup", ["web"], [], 1.0, true, 5, {now}]"#);
    std::fs::write(
        dir.path().join("in.jsonl"),
        [line("a", None), fields].join("\n"),
    )
    .unwrap();
    let out = otc(
        dir.path(),
        &["import", "in.jsonl", "--db", "p.db", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("line 2: rejected: expected a trajectory object"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(report_of(&out)["accepted"].as_u64(), Some(1));
}
