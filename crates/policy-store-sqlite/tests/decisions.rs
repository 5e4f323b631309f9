//! Decisions in the SQLite file: the rows they are logged as, what a trajectory's row keeps
//! of the decision it answers, the bytes a rebuild reproduces after a closed loop, pruning and
//! the append-only trigger, the upgrade from schema 2, and an exhausted id counter. The
//! behaviour every backend shares (numbering, one request per decision, probes, borrowed
//! rankings, the same decisions as the in-memory policy) is `policy_store::conformance`.

use otc_policy::simulate::{self, Agent, Scenario};
use otc_policy::{PolicyConfig, Trajectory};
use policy_store::{BackendAdvisor, IngestOutcome, PolicyBackend, PolicyError};
use policy_store_sqlite::SqlitePolicyStore;
use std::path::Path;

const T0: i64 = 1_700_000_000_000;

fn open(path: &Path) -> SqlitePolicyStore {
    SqlitePolicyStore::open(path, PolicyConfig::default()).unwrap()
}

fn modules() -> Vec<String> {
    vec!["web".into(), "calc".into()]
}

fn traj(id: &str, decision: Option<u64>, calls: &[&str], correct: bool) -> Trajectory {
    Trajectory {
        request_id: id.into(),
        intent: "search".into(),
        modules: modules(),
        calls: calls.iter().map(|c| (*c).into()).collect(),
        run_units: 1.0,
        correct,
        latency_ms: 10.0,
        timestamp_ms: T0,
        decision_id: decision,
        answered_by: None,
        answered_at: None,
    }
}

fn count(path: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_decision_is_logged_and_its_trajectory_keeps_what_it_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let store = open(&path);
    let first = store.decide("search", &modules()).unwrap();
    let second = store.decide("search", &modules()).unwrap();
    assert_eq!((first.decision_id, second.decision_id), (1, 2));
    assert!(first.propensity > 0.0 && first.propensity <= 1.0);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM decisions"), 2);
    let outcome = store
        .ingest(&traj("r1", Some(first.decision_id), &[], false))
        .unwrap();
    assert!(matches!(outcome, IngestOutcome::Accepted { .. }));
    let served = count(
        &path,
        "SELECT served FROM trajectory_log WHERE request_id = 'r1'",
    );
    assert_eq!(served, i64::from(first.budget));
    // The identical retry is a duplicate, not a second use of the decision.
    let retry = store
        .ingest(&traj("r1", Some(first.decision_id), &[], false))
        .unwrap();
    assert!(matches!(retry, IngestOutcome::Duplicate { .. }));
}

/// After a closed loop (decisions, module credit and probes in play), a rebuild reproduces the
/// checkpoint rows down to the BLOB bytes. (That the store decides as the in-memory policy does
/// is `conformance::backend_and_memory_decide_alike_and_rebuild_reproduces_the_checkpoints`.)
#[test]
fn store_and_memory_decide_alike_and_rebuild_reproduces_the_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let store = open(&path);
    let scenario = Scenario::steady(Agent::OverCaller, 120);
    simulate::run(&scenario, 7, &mut BackendAdvisor(&store)).unwrap();
    let raw = |p: &Path| -> Vec<(i64, i64, Vec<u8>)> {
        let conn = rusqlite::Connection::open(p).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT intent_id, module_set_id, arm_weights FROM policy_checkpoints
                 ORDER BY intent_id, module_set_id",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let incremental = (raw(&path), store.checkpoints().unwrap());
    store.rebuild().unwrap();
    assert_eq!((raw(&path), store.checkpoints().unwrap()), incremental);
}

#[test]
fn orphan_decisions_are_pruned_and_answered_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let store = open(&path);
    let answered = store.decide("search", &modules()).unwrap();
    let _orphan = store.decide("search", &modules()).unwrap();
    store
        .ingest(&traj("r1", Some(answered.decision_id), &[], false))
        .unwrap();
    assert_eq!(store.prune_decisions(0).unwrap(), 0, "none older than 1970");
    assert_eq!(store.prune_decisions(i64::MAX).unwrap(), 1);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM decisions"), 1);
    // Ids are never reused, even after the newest row was pruned.
    assert_eq!(store.decide("search", &modules()).unwrap().decision_id, 3);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let err = conn
        .execute("UPDATE decisions SET budget = 9", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

/// A file written before the closed-loop policy (schema 2, checkpoints in the old BLOB
/// format) opens, upgrades and rebuilds its checkpoints from the log.
#[test]
fn a_schema_two_file_upgrades_and_rebuilds_its_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        sqlite_kit::migrate(&conn, &policy_store_sqlite::MIGRATIONS[..2]).unwrap();
        conn.execute_batch(
            "INSERT INTO intent_classes (id, name) VALUES (1, 'search');
             INSERT INTO module_sets (id, fingerprint, modules) VALUES (1, 42, 'calc,web');
             INSERT INTO reward_configs (id, config_json) VALUES (1, '{}');
             INSERT INTO trajectory_log (request_id, intent_id, module_set_id, calls, run_units,
                 correct, latency_ms, timestamp_ms) VALUES ('old', 1, 1, x'0101', 1.0, 1, 5.0, 1);
             INSERT INTO policy_checkpoints VALUES (1, 1, 2, 1, 1, 0.1, x'9401cb00', 1);",
        )
        .unwrap();
    }
    let store = open(&path);
    let checkpoints = store.checkpoints().unwrap();
    assert_eq!(checkpoints.len(), 1);
    assert_eq!((checkpoints[0].samples, checkpoints[0].budget), (1, 2));
}

#[test]
fn an_exhausted_decision_counter_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let store = open(&path);
    store.decide("search", &modules()).unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'decisions'",
            [i64::MAX],
        )
        .unwrap();
    assert!(matches!(
        store.decide("search", &modules()),
        Err(PolicyError::DecisionIdsExhausted)
    ));
}
