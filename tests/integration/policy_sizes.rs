//! The policy store's footprint against the seed's targets, measured with SQLite's `dbstat` on
//! a real file holding 100k trajectories over 1000 (intent, module set) combinations: at most
//! ~150 B per trajectory and ~100 B per reward event (indexes included), and under 1 MB of
//! checkpoints. Slow in a debug build, so gated behind `OTC_SLOW_TESTS=1`.

use otc_policy::PolicyConfig;
use otc_policy::synthetic::World;
use policy_store::PolicyBackend;
use policy_store_sqlite::SqlitePolicyStore;

fn slow_tests_enabled() -> bool {
    std::env::var("OTC_SLOW_TESTS").is_ok_and(|v| v == "1")
}

/// Bytes on pages of `table` and its indexes, and its row count.
fn footprint(conn: &rusqlite::Connection, table: &str) -> (i64, i64) {
    let bytes = conn
        .query_row(
            "SELECT SUM(pgsize) FROM dbstat WHERE name = ?1 OR name IN
                 (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1)",
            [table],
            |r| r.get(0),
        )
        .unwrap();
    let rows = conn
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap();
    (bytes, rows)
}

#[test]
fn policy_rows_stay_within_the_seed_size_targets() {
    if !slow_tests_enabled() {
        eprintln!("skipped: set OTC_SLOW_TESTS=1 (the gate always does)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let store = SqlitePolicyStore::open(&path, PolicyConfig::default()).unwrap();
    let mut all = World::standard(1000).trajectories(100_000, 8, "s", 1_700_000_000_000);
    for (k, t) in all.iter_mut().enumerate() {
        // UUID-shaped ids, the size real request ids have.
        t.request_id = format!("00000000-0000-4000-8000-{k:012x}");
    }
    for chunk in all.chunks(10_000) {
        store.ingest_batch(chunk).unwrap();
    }
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("VACUUM").unwrap();
    let (traj_bytes, traj_rows) = footprint(&conn, "trajectory_log");
    let (event_bytes, event_rows) = footprint(&conn, "reward_events");
    let (cp_bytes, cp_rows) = footprint(&conn, "policy_checkpoints");
    assert_eq!((traj_rows, event_rows, cp_rows), (100_000, 100_000, 1000));
    let per_traj = traj_bytes as f64 / traj_rows as f64;
    let per_event = event_bytes as f64 / event_rows as f64;
    let per_cp = cp_bytes as f64 / cp_rows as f64;
    eprintln!(
        "B/row: trajectory {per_traj:.0}, reward event {per_event:.0}, checkpoint {per_cp:.0}"
    );
    assert!(per_traj <= 150.0, "trajectory_log: {per_traj:.0} B/row");
    assert!(per_event <= 100.0, "reward_events: {per_event:.0} B/row");
    assert!(
        cp_bytes < 1_000_000,
        "checkpoints: {cp_bytes} B for 1000 combinations"
    );
}
