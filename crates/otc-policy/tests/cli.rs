//! The `otc` binary's store commands, run as a user would: import with bad lines (reported by
//! number, the rest imported), recommend, checkpoints as table and JSON, rebuild, export that
//! re-imports as all duplicates, and the database path from `--db`, `OTC_DB` and the default.

use otc_policy::Trajectory;
use otc_policy::synthetic::World;
use std::path::Path;
use std::process::{Command, Output};

const T0: i64 = 1_700_000_000_000;

fn otc(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otc"))
        .current_dir(cwd)
        .env_remove("OTC_DB")
        .env_remove("OTC_POLICY_CONFIG")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

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
    let out = otc(dir.path(), &["import", "in.jsonl", "--json"]);
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
        serde_json::json!({"lines": 304, "accepted": 300, "duplicate": 0, "rejected": 3})
    );
    assert!(
        dir.path().join("data/otc-policy.db").exists(),
        "default path under data/"
    );

    // Importing again only finds duplicates.
    let again = otc(dir.path(), &["import", "in.jsonl"]);
    assert!(
        text(&again.stdout).contains("0 accepted, 300 duplicate, 3 rejected"),
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
    assert_eq!(rec["budget"], spec.optimal);
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
