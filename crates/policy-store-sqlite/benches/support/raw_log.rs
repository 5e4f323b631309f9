//! The raw baseline of the policy store's ingest benches: the same trajectories as plain
//! prepared INSERTs into `trajectory_log` (log rows only: no reward events, no checkpoints), on
//! a file with the store's schema and settings.

use otc_policy::Trajectory;
use std::path::Path;

/// A file with the store's schema and one intent and module set for the rows to point at.
pub fn open(path: &Path) -> rusqlite::Connection {
    let conn = sqlite_kit::open(path, policy_store_sqlite::MIGRATIONS).unwrap();
    conn.execute_batch(
        "INSERT INTO intent_classes (id, name) VALUES (1, 'i');
         INSERT INTO module_sets (id, fingerprint, modules) VALUES (1, 1, 'a,b,c,d');",
    )
    .unwrap();
    conn
}

/// Inserts `rows` in one transaction.
pub fn insert(conn: &mut rusqlite::Connection, rows: &[Trajectory]) {
    let tx = conn.transaction().unwrap();
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO trajectory_log (request_id, intent_id, module_set_id, calls,
                     run_units, correct, latency_ms, timestamp_ms)
                 VALUES (?1, 1, 1, ?2, ?3, ?4, ?5, ?6)",
            )
            .unwrap();
        for t in rows {
            stmt.execute(rusqlite::params![
                t.request_id,
                vec![0u8; t.calls.len()],
                t.run_units,
                t.correct,
                t.latency_ms,
                t.timestamp_ms
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
}
