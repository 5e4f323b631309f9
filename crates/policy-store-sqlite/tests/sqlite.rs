//! What only the SQLite backend can show, on a real file: the store is shareable, a rebuild
//! reproduces the checkpoint BLOBs byte for byte, the logs are append-only in the database
//! itself (triggers), a schema upgrade from an older build, and SQLite's errors mapped to the
//! backend-neutral ones. Behaviour every backend shares is `policy_store::conformance`
//! (`tests/conformance.rs`).

use otc_policy::synthetic::World;
use otc_policy::{PolicyConfig, Trajectory};
use policy_store::{PolicyBackend, PolicyError};
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

/// The trait-level half is `conformance::rebuild_equals_the_incremental_result`; here the rows
/// themselves, BLOB bytes included.
#[test]
fn rebuild_reproduces_the_checkpoint_rows_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let store = SqlitePolicyStore::open(&path, PolicyConfig::default()).unwrap();
    let world = World::standard(4);
    let all = world.trajectories(3000, 11, "r", T0);
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
