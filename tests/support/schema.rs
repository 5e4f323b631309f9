//! The schema of a SQLite file as JSON, for the contract suite's schema snapshots.

use serde_json::{Value, json};
use std::path::Path;

/// Every table, index and trigger of the database at `path` (name, type and SQL, in a stable
/// order) and its `user_version`, as `{"user_version": N, "objects": [...]}`.
pub fn schema_of(path: &Path) -> Value {
    let conn = rusqlite::Connection::open(path).expect("the database opens");
    let mut stmt = conn
        .prepare(
            "SELECT type, name, sql FROM sqlite_master
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .expect("sqlite_master is readable");
    let objects: Vec<Value> = stmt
        .query_map([], |r| {
            Ok(json!({
                "type": r.get::<_, String>(0)?,
                "name": r.get::<_, String>(1)?,
                "sql": r.get::<_, Option<String>>(2)?,
            }))
        })
        .and_then(|rows| rows.collect())
        .expect("sqlite_master rows decode");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version is readable");
    json!({ "user_version": version, "objects": objects })
}
