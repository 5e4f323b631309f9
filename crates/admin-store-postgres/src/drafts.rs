//! The `module_drafts` table: drafts of module manifests, editable until published.

use crate::{OrStorage, corrupt, to_json};
use admin_store::AdminError;
use admin_store::dev::{Draft, DraftState, unknown_draft};
use postgres::{GenericClient, Row};
use serde_json::Value;

const SELECT: &str = "SELECT id, revision, manifest, published_version, created_ms, updated_ms
                      FROM module_drafts";

fn to_draft(r: &Row) -> Result<Draft, AdminError> {
    let manifest: String = r.try_get(2).or_storage()?;
    let manifest: Value =
        serde_json::from_str(&manifest).map_err(corrupt("module_drafts.manifest"))?;
    Ok(Draft::new(
        r.try_get(0).or_storage()?,
        r.try_get(1).or_storage()?,
        manifest,
        r.try_get(3).or_storage()?,
        r.try_get(4).or_storage()?,
        r.try_get(5).or_storage()?,
    ))
}

/// Inserts a draft (revision 1) and returns its id.
pub fn insert(
    db: &mut impl GenericClient,
    manifest: &Value,
    now_ms: i64,
) -> Result<i64, AdminError> {
    let row = db
        .query_one(
            "INSERT INTO module_drafts (revision, manifest, created_ms, updated_ms)
             VALUES (1, $1, $2, $2) RETURNING id",
            &[&to_json(manifest)?, &now_ms],
        )
        .or_storage()?;
    row.try_get(0).or_storage()
}

/// One draft, or 404.
pub fn get(db: &mut impl GenericClient, id: i64) -> Result<Draft, AdminError> {
    let row = db
        .query_opt(&format!("{SELECT} WHERE id = $1"), &[&id])
        .or_storage()?
        .ok_or_else(|| unknown_draft(id))?;
    to_draft(&row)
}

/// Drafts by id, newest first, optionally of one state, and the total of that selection.
pub fn list(
    db: &mut impl GenericClient,
    state: Option<DraftState>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Draft>, i64), AdminError> {
    let filter = match state {
        None => "",
        Some(DraftState::Draft) => "WHERE published_version IS NULL",
        Some(DraftState::Published) => "WHERE published_version IS NOT NULL",
    };
    let total: i64 = db
        .query_one(&format!("SELECT COUNT(*) FROM module_drafts {filter}"), &[])
        .or_storage()?
        .try_get(0)
        .or_storage()?;
    let drafts = db
        .query(
            &format!("{SELECT} {filter} ORDER BY id DESC LIMIT $1 OFFSET $2"),
            &[&limit, &offset],
        )
        .or_storage()?
        .iter()
        .map(to_draft)
        .collect::<Result<_, _>>()?;
    Ok((drafts, total))
}

/// Replaces a draft's manifest (a new revision).
pub fn replace(
    db: &mut impl GenericClient,
    id: i64,
    manifest: &Value,
    now_ms: i64,
) -> Result<(), AdminError> {
    db.execute(
        "UPDATE module_drafts SET manifest = $2, revision = revision + 1, updated_ms = $3
         WHERE id = $1",
        &[&id, &to_json(manifest)?, &now_ms],
    )
    .or_storage()?;
    Ok(())
}

/// Marks a draft published as `version` (a new revision).
pub fn mark_published(
    db: &mut impl GenericClient,
    id: i64,
    version: i64,
    now_ms: i64,
) -> Result<(), AdminError> {
    db.execute(
        "UPDATE module_drafts SET published_version = $2, revision = revision + 1, updated_ms = $3
         WHERE id = $1",
        &[&id, &version, &now_ms],
    )
    .or_storage()?;
    Ok(())
}

/// Deletes a draft.
pub fn delete(db: &mut impl GenericClient, id: i64) -> Result<(), AdminError> {
    db.execute("DELETE FROM module_drafts WHERE id = $1", &[&id])
        .or_storage()?;
    Ok(())
}
