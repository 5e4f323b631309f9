//! The `module_drafts` table: drafts of module manifests, editable until published.

use crate::{OrStorage, corrupt, to_json};
use admin_store::AdminError;
use admin_store::dev::{Draft, DraftState, unknown_draft};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

const SELECT: &str = "SELECT id, revision, manifest, published_version, created_ms, updated_ms
                      FROM module_drafts";

type Row = (i64, i64, String, Option<i64>, i64, i64);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn to_draft(
    (id, revision, manifest, published, created_ms, updated_ms): Row,
) -> Result<Draft, AdminError> {
    let manifest: Value =
        serde_json::from_str(&manifest).map_err(corrupt("module_drafts.manifest"))?;
    Ok(Draft::new(
        id, revision, manifest, published, created_ms, updated_ms,
    ))
}

/// Inserts a draft (revision 1) and returns its id.
pub fn insert(conn: &Connection, manifest: &Value, now_ms: i64) -> Result<i64, AdminError> {
    conn.execute(
        "INSERT INTO module_drafts (revision, manifest, created_ms, updated_ms) VALUES (1, ?1, ?2, ?2)",
        params![to_json(manifest)?, now_ms],
    )
    .or_storage()?;
    Ok(conn.last_insert_rowid())
}

/// One draft, or 404.
pub fn get(conn: &Connection, id: i64) -> Result<Draft, AdminError> {
    let row = conn
        .query_row(&format!("{SELECT} WHERE id = ?1"), [id], row)
        .optional()
        .or_storage()?
        .ok_or_else(|| unknown_draft(id))?;
    to_draft(row)
}

/// Drafts by id, newest first, optionally of one state, and the total of that selection.
pub fn list(
    conn: &Connection,
    state: Option<DraftState>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Draft>, i64), AdminError> {
    let filter = match state {
        None => "",
        Some(DraftState::Draft) => "WHERE published_version IS NULL",
        Some(DraftState::Published) => "WHERE published_version IS NOT NULL",
    };
    let total: i64 = conn
        .query_row(
            &format!("SELECT COUNT(*) FROM module_drafts {filter}"),
            [],
            |r| r.get(0),
        )
        .or_storage()?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "{SELECT} {filter} ORDER BY id DESC LIMIT ?1 OFFSET ?2"
        ))
        .or_storage()?;
    let rows = stmt
        .query_map([limit, offset], row)
        .or_storage()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_storage()?;
    let drafts = rows.into_iter().map(to_draft).collect::<Result<_, _>>()?;
    Ok((drafts, total))
}

/// Replaces a draft's manifest (a new revision).
pub fn replace(
    conn: &Connection,
    id: i64,
    manifest: &Value,
    now_ms: i64,
) -> Result<(), AdminError> {
    conn.execute(
        "UPDATE module_drafts SET manifest = ?2, revision = revision + 1, updated_ms = ?3 WHERE id = ?1",
        params![id, to_json(manifest)?, now_ms],
    )
    .or_storage()?;
    Ok(())
}

/// Marks a draft published as `version` (a new revision).
pub fn mark_published(
    conn: &Connection,
    id: i64,
    version: i64,
    now_ms: i64,
) -> Result<(), AdminError> {
    conn.execute(
        "UPDATE module_drafts SET published_version = ?2, revision = revision + 1, updated_ms = ?3
         WHERE id = ?1",
        params![id, version, now_ms],
    )
    .or_storage()?;
    Ok(())
}

/// Deletes a draft.
pub fn delete(conn: &Connection, id: i64) -> Result<(), AdminError> {
    conn.execute("DELETE FROM module_drafts WHERE id = ?1", [id])
        .or_storage()?;
    Ok(())
}
