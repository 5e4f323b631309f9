//! What only the SQLite backend can show, on a real file: the store is shareable, a rebuild
//! reproduces the checkpoint BLOBs byte for byte, the logs are append-only in the database
//! itself (triggers), schema upgrades from older builds, a hand-edited row refused by rebuild,
//! and SQLite's errors mapped to the backend-neutral ones. Behaviour every backend shares is `policy_store::conformance`
//! (`tests/conformance.rs`).

use otc_policy::synthetic::World;
use otc_policy::{PolicyConfig, Trajectory};
use policy_store::{IngestOutcome, PolicyBackend, PolicyError};
use policy_store_sqlite::SqlitePolicyStore;
use std::path::Path;

const T0: i64 = 1_700_000_000_000;

fn traj(id: &str, calls: &[&str], correct: bool) -> Trajectory {
    Trajectory {
        request_id: id.into(),
        intent: "search".into(),
        modules: vec!["web".into(), "calc".into(), "mail".into()],
        calls: calls.iter().map(|c| (*c).into()).collect(),
        run_units: 2.0,
        correct,
        latency_ms: 80.0,
        timestamp_ms: T0,
        decision_id: None,
        answered_by: None,
        answered_at: None,
    }
}

/// One raw checkpoint row: ids, optimal_n, samples, confidence, BLOB bytes, updated_ms.
type RawCheckpoint = (i64, i64, Option<i64>, i64, f64, Vec<u8>, i64);

/// Raw checkpoint rows, BLOB bytes included, for exact comparisons.
fn raw_checkpoints(path: &Path) -> Vec<RawCheckpoint> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT intent_id, module_set_id, optimal_n, samples, confidence, arm_weights,
                    updated_ms
             FROM policy_checkpoints ORDER BY intent_id, module_set_id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn the_store_is_send_and_sync() {
    fn assert_shareable<T: Send + Sync + 'static>() {}
    assert_shareable::<SqlitePolicyStore>();
    assert_shareable::<std::sync::Arc<dyn PolicyBackend>>();
}

/// Says which call answered on three trajectories in four (the last, the first, none) and
/// nothing on the fourth, as the conformance suite's mixed log does.
fn say_which_call_answered(log: &mut [Trajectory]) {
    for (i, t) in log.iter_mut().enumerate() {
        let calls = t.calls.len() as u32;
        t.answered_at = [Some(calls), Some(calls.min(1)), Some(0), None][i % 4];
    }
}

/// The trait-level half is `conformance::rebuild_equals_the_incremental_result`; here the rows
/// themselves, BLOB bytes included, with a log in which some trajectories say which call
/// answered (`answered_at`) and others do not.
#[test]
fn rebuild_reproduces_the_checkpoint_rows_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let store = SqlitePolicyStore::open(&path, PolicyConfig::default()).unwrap();
    let world = World::standard(4);
    let mut all = world.trajectories(3000, 11, "r", T0);
    say_which_call_answered(&mut all);
    for t in &all[..200] {
        store.ingest(t).unwrap();
    }
    for chunk in all[150..].chunks(700) {
        store.ingest_batch(chunk).unwrap();
    }
    let incremental = raw_checkpoints(&path);
    assert_eq!(incremental.len(), 4);
    store.rebuild().unwrap();
    assert_eq!(raw_checkpoints(&path), incremental);
}

#[test]
fn a_database_from_the_first_schema_version_opens_and_upgrades() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let old = sqlite_kit_open_v1(&path);
    old.execute(
        "INSERT INTO intent_classes (id, name) VALUES (1, 'legacy')",
        [],
    )
    .unwrap();
    drop(old);
    let store = SqlitePolicyStore::open(&path, PolicyConfig::default()).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, policy_store_sqlite::MIGRATIONS.len() as i64);
    assert_eq!(
        store.table_counts().unwrap()[0],
        ("intent_classes".to_owned(), 1)
    );
    store.ingest(&traj("r1", &["web"], true)).unwrap();
    let err = conn.execute("DELETE FROM trajectory_log", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

/// A file the previous build wrote (schema 3: its tables, holding the rows a store wrote,
/// checkpoints included) opens at schema 4: the checkpoints are kept byte for byte (no rebuild
/// is needed, a row without `answered_at` folds as before), the old rows read back with
/// `answered_at` unset, and a trajectory that says which call answered is stored and compared.
#[test]
fn a_schema_three_file_upgrades_keeping_its_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (current, old) = (dir.path().join("current.db"), dir.path().join("old.db"));
    let log = [
        traj("r1", &["web", "calc"], true),
        Trajectory {
            answered_by: Some("web".into()),
            ..traj("r2", &["web", "calc"], true)
        },
        traj("r3", &["mail"], false),
    ];
    let store = SqlitePolicyStore::open(&current, PolicyConfig::default()).unwrap();
    store.ingest_batch(&log).unwrap();
    let exported = |store: &SqlitePolicyStore| {
        let mut out = Vec::new();
        store
            .export(&mut |t| {
                out.push(t.clone());
                Ok(())
            })
            .unwrap();
        out
    };
    let log_then = exported(&store);
    drop(store);
    {
        let conn = rusqlite::Connection::open(&old).unwrap();
        sqlite_kit::migrate(&conn, &policy_store_sqlite::MIGRATIONS[..3]).unwrap();
        conn.execute("ATTACH DATABASE ?1 AS current", [current.to_str().unwrap()])
            .unwrap();
        conn.execute_batch(
            "INSERT INTO intent_classes SELECT * FROM current.intent_classes;
             INSERT INTO module_sets SELECT * FROM current.module_sets;
             INSERT INTO reward_configs SELECT * FROM current.reward_configs;
             INSERT INTO trajectory_log (id, request_id, intent_id, module_set_id, calls,
                 run_units, correct, latency_ms, timestamp_ms, decision_id, served,
                 policy_budget, order_explored, answered)
             SELECT id, request_id, intent_id, module_set_id, calls, run_units, correct,
                 latency_ms, timestamp_ms, decision_id, served, policy_budget, order_explored,
                 answered
             FROM current.trajectory_log;
             INSERT INTO reward_events SELECT * FROM current.reward_events;
             INSERT INTO policy_checkpoints SELECT * FROM current.policy_checkpoints;",
        )
        .unwrap();
    }
    let checkpoints = raw_checkpoints(&current);
    assert_eq!(raw_checkpoints(&old), checkpoints);

    let store = SqlitePolicyStore::open(&old, PolicyConfig::default()).unwrap();
    let version: i64 = rusqlite::Connection::open(&old)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, policy_store_sqlite::MIGRATIONS.len() as i64);
    assert_eq!(raw_checkpoints(&old), checkpoints, "kept by the upgrade");
    assert_eq!(exported(&store), log_then);
    assert!(log_then.iter().all(|t| t.answered_at.is_none()));
    store.rebuild().unwrap();
    assert_eq!(
        raw_checkpoints(&old),
        checkpoints,
        "an old row folds as one that does not say which call answered"
    );
    let new = Trajectory {
        answered_at: Some(1),
        ..traj("r4", &["web", "calc"], true)
    };
    assert!(matches!(
        store.ingest(&new).unwrap(),
        IngestOutcome::Accepted { .. }
    ));
    let mut sorted = new.clone();
    sorted.modules.sort();
    assert_eq!(exported(&store).last(), Some(&sorted));
    let said_now = Trajectory {
        answered_at: Some(1),
        ..log[0].clone()
    };
    assert!(matches!(
        store.ingest(&said_now),
        Err(PolicyError::Conflict(item)) if item.fields == ["answered_at"]
    ));
}

/// A stored `answered_at` past its row's calls (written by hand: ingest validates it) is a
/// corrupt trajectory to rebuild, not a checkpoint no ingest could have produced.
#[test]
fn rebuild_refuses_a_hand_written_answered_at_beyond_the_calls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let store = SqlitePolicyStore::open(&path, PolicyConfig::default()).unwrap();
    store.ingest(&traj("r1", &["web"], true)).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TRIGGER trajectory_log_no_update;
         UPDATE trajectory_log SET answered_at = 2 WHERE request_id = 'r1';",
    )
    .unwrap();
    match store.rebuild() {
        Err(PolicyError::CorruptTrajectory { request_id, reason }) => {
            assert_eq!(request_id, "r1");
            assert!(reason.contains("answered_at"), "{reason}");
        }
        other => panic!("expected CorruptTrajectory, got {other:?}"),
    }
    // An evaluation replays the log the same way, and refuses it the same way.
    match store.evaluate(
        &PolicyConfig::default(),
        &otc_policy::evaluate::Scope::default(),
    ) {
        Err(PolicyError::Evaluation(otc_policy::evaluate::EvaluateError::Inconsistent(why))) => {
            assert!(why.contains("beyond its calls"), "{why}");
        }
        other => panic!("expected an inconsistent log, got {other:?}"),
    }
}

/// Decisions logged before schema 5 have no `log_position`: each is replayed just before its
/// own trajectory, which for an orchestrator that reports before it asks again is exactly
/// where it was (the replay reproduces every logged propensity); one that never got a
/// trajectory is left out.
#[test]
fn decisions_from_before_schema_five_replay_before_their_own_trajectory() {
    use otc_policy::evaluate::Scope;
    use otc_policy::simulate::{self, Agent, Scenario};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let store = SqlitePolicyStore::open(&path, PolicyConfig::default()).unwrap();
    let scenario = Scenario::steady(Agent::Efficient, 40);
    simulate::run(&scenario, 2, &mut policy_store::BackendAdvisor(&store)).unwrap();
    store.decide("orphan", &["web".to_owned()]).unwrap();
    let current = store
        .evaluate(&PolicyConfig::default(), &Scope::default())
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let nulled = conn
        .execute_batch(
            "DROP TRIGGER decisions_no_update;
             UPDATE decisions SET log_position = NULL;",
        )
        .and_then(|()| {
            conn.query_row(
                "SELECT COUNT(*) FROM decisions WHERE log_position IS NULL",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .unwrap();
    assert_eq!(nulled as u64, current.decisions);
    assert_eq!(current.unanswered, 1, "the orphan");
    let legacy = store
        .evaluate(&PolicyConfig::default(), &Scope::default())
        .unwrap();
    assert_eq!(legacy.replay_mismatches, 0);
    assert_eq!(
        (legacy.decisions, legacy.unanswered),
        (current.decisions - 1, 0)
    );
    assert_eq!(legacy.outcomes, current.outcomes);
}

fn sqlite_kit_open_v1(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    sqlite_kit::migrate(&conn, &policy_store_sqlite::MIGRATIONS[..1]).unwrap();
    conn
}

/// A file written by a newer build is refused as a storage failure whose source says why, and
/// a file that is not a database is one too: no SQLite type in the error, nothing written.
#[test]
fn sqlite_failures_become_backend_neutral_storage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.db");
    {
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
    }
    let err = SqlitePolicyStore::open(&newer, PolicyConfig::default()).unwrap_err();
    let PolicyError::Storage(source) = &err else {
        panic!("expected Storage, got {err:?}");
    };
    assert!(source.to_string().contains("newer"), "{source}");
    assert_eq!(err.to_string(), "policy storage failed");

    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    assert!(matches!(
        SqlitePolicyStore::open(&junk, PolicyConfig::default()),
        Err(PolicyError::Storage(_))
    ));
}
