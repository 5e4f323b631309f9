//! `otc evaluate` run as a user would, on a SQLite file written through the store by the
//! closed-loop simulator (decisions logged, trajectories naming them): the table and the JSON
//! of a candidate, a refusal (exit 1, the reason on stderr), and a bad candidate file (exit 2,
//! naming the file and the JSON problem).

use otc_policy::PolicyConfig;
use otc_policy::simulate::{self, Agent, Scenario};
use policy_store::BackendAdvisor;
use policy_store_sqlite::SqlitePolicyStore;
use std::path::Path;
use support::{otc, text};

mod support;

/// A log of `per_combo` requests per combination of the steady world, in `dir/policy.db`.
fn logged_store(dir: &Path, per_combo: usize) -> usize {
    logged_store_under(dir, per_combo, PolicyConfig::default())
}

/// The same, decided under `config`.
fn logged_store_under(dir: &Path, per_combo: usize, config: PolicyConfig) -> usize {
    let store = SqlitePolicyStore::open(&dir.join("policy.db"), config).unwrap();
    let scenario = Scenario::steady(Agent::Efficient, per_combo);
    simulate::run(&scenario, 5, &mut BackendAdvisor(&store)).unwrap();
    scenario.combos.len() * per_combo
}

/// `otc evaluate` of a candidate capped at one call (written to `dir/capped.json`) on
/// `dir/policy.db`: refused wherever the log served more.
fn evaluate_capped(dir: &Path) -> std::process::Output {
    std::fs::write(dir.join("capped.json"), r#"{"budget": {"max_budget": 1}}"#).unwrap();
    otc(
        dir,
        &["evaluate", "--db", "policy.db", "--config", "capped.json"],
    )
}

#[test]
fn a_candidate_is_evaluated_as_a_table_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let decisions = logged_store(dir.path(), 30);
    std::fs::write(
        dir.path().join("candidate.json"),
        r#"{"budget": {"explore_up": 0.02, "explore_order": 0.01}}"#,
    )
    .unwrap();
    let args = [
        "evaluate",
        "--db",
        "policy.db",
        "--config",
        "candidate.json",
    ];
    let out = otc(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    for (line, start) in [(0, ""), (1, "reward "), (2, "accuracy "), (3, "calls ")] {
        assert!(lines[line].starts_with(start), "{table}");
    }
    for header in [
        "logged [95% CI]",
        "SNIPS [95% CI]",
        "DR [95% CI]",
        "IPS [95% CI]",
    ] {
        assert!(lines[0].contains(header), "{table}");
    }
    for fact in [
        format!("rounds                 {decisions}"),
        format!("decisions              {decisions}"),
        "unanswered             0".to_owned(),
        "replay mismatches      0".to_owned(),
    ] {
        assert!(lines.contains(&fact.as_str()), "{fact:?} in\n{table}");
    }
    assert!(table.contains("effective sample size  "), "{table}");

    let out = otc(
        dir.path(),
        &[&args[..], &["--json", "--intent", "math"]].concat(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["decisions"], 30, "{report}");
    assert_eq!(report["rounds"], 30, "{report}");
    let snips = report["outcomes"]["reward"]["candidate"]["snips"]["value"]
        .as_f64()
        .unwrap();
    assert!(snips.is_finite(), "{report}");
}

#[test]
fn a_refusal_and_a_bad_candidate_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    logged_store(dir.path(), 30);
    let out = evaluate_capped(dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(
            "otc evaluate: no estimate for capped.json: the log does not support the candidate"
        ),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "one sentence, no debug dump: {stderr}"
    );

    let out = otc(
        dir.path(),
        &[
            "evaluate",
            "--db",
            "policy.db",
            "--config",
            "capped.json",
            "--intent",
            "nobody",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no logged decision in scope has a trajectory to evaluate on (the log holds none, or the scope leaves them all out)"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(
        dir.path().join("typo.json"),
        r#"{"budget": {"tolerence": 0.2}}"#,
    )
    .unwrap();
    let out = otc(
        dir.path(),
        &["evaluate", "--db", "policy.db", "--config", "typo.json"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("typo.json") && stderr.contains("`budget.tolerence`: unknown field"),
        "{stderr}"
    );
    // A value of the wrong type, or one no f64 holds, names its member too.
    for (file, body, want) in [
        (
            "string.json",
            r#"{"budget": {"explore_up": "x"}}"#,
            "`budget.explore_up`: invalid type: string",
        ),
        (
            "huge.json",
            r#"{"budget": {"explore_up": 1e999}}"#,
            "`budget.explore_up`: number out of range",
        ),
        ("broken.json", "{", "EOF while parsing"),
    ] {
        std::fs::write(dir.path().join(file), body).unwrap();
        let out = otc(
            dir.path(),
            &["evaluate", "--db", "policy.db", "--config", file],
        );
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(file) && stderr.contains(want), "{stderr}");
    }
    std::fs::write(
        dir.path().join("wide.json"),
        r#"{"budget": {"tolerance": 0.9}}"#,
    )
    .unwrap();
    let out = otc(
        dir.path(),
        &["evaluate", "--db", "policy.db", "--config", "wide.json"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("wide.json: invalid policy config"),
        "{}",
        text(&out.stderr)
    );
    let out = otc(
        dir.path(),
        &["evaluate", "--db", "policy.db", "--config", "missing.json"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("reading missing.json"),
        "{}",
        text(&out.stderr)
    );
}

/// A new user's trial: on a log decided under `probe_after` 10, evaluating a candidate listed
/// `probe_after 25 -> 25` among the knobs it changed. Opening the file registers the config it
/// is opened with (the defaults here), and the refusal compared the candidate with that one
/// instead of the config the decisions were taken under.
#[test]
fn a_refusal_compares_the_candidate_with_the_config_the_log_was_decided_under() {
    let dir = tempfile::tempdir().unwrap();
    let mut logging = PolicyConfig::default();
    logging.budget.probe_after = 10;
    logging.budget.explore_order = 0.05;
    logged_store_under(dir.path(), 30, logging);
    let out = evaluate_capped(dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "differ from the logging config's: explore_order 0.05 -> 0.03, max_budget 16 -> 1, \
             probe_after 10 -> 25 (a knob a candidate leaves out takes its default"
        ),
        "{stderr}"
    );
}
