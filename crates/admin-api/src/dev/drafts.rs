//! Drafts of module manifests in the admin database (`module_drafts`): create, read, list,
//! replace under `If-Match`, delete. A draft holds any JSON object; publishing it (see
//! [`super::versions::publish`]) marks it read-only.
//!
//! Every write runs in one `BEGIN IMMEDIATE` transaction (`sqlite_kit::write_tx`) that also
//! checks its precondition, so of two writers holding the same ETag exactly one succeeds.

use super::check_etag;
use super::manifest::validate;
use crate::error::AppError;
use crate::error::ProblemItem;
use crate::precondition::Precondition;
use crate::state::now_ms;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Whether a draft can still be edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DraftState {
    /// Editable; can be published.
    Draft,
    /// Published: kept read-only as the record of what was published (it can be deleted).
    Published,
}

/// A draft as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Draft {
    /// Draft id, assigned by the server, never reused.
    pub id: i64,
    /// Revision, 1 on creation and +1 per change (edit or publish).
    pub revision: i64,
    /// Strong ETag of this revision (also in the `ETag` header); send it in `If-Match`.
    pub etag: String,
    /// `draft` or `published`.
    pub state: DraftState,
    /// The manifest's `id` when it is a string (for listing), else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_id: Option<String>,
    /// For a published draft, the module version it became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_version: Option<i64>,
    /// Created, Unix milliseconds UTC.
    pub created_ms: i64,
    /// Last changed, Unix milliseconds UTC.
    pub updated_ms: i64,
    /// The manifest as stored: any JSON object; validated fully only at publish.
    #[schema(value_type = Object)]
    pub manifest: Value,
}

/// The strong ETag of a draft revision.
pub fn draft_etag(id: i64, revision: i64) -> String {
    format!("\"draft-{id}-r{revision}\"")
}

const DRAFT_SELECT: &str =
    "SELECT id, revision, manifest, published_version, created_ms, updated_ms
                            FROM module_drafts";

fn row_to_draft(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(i64, i64, String, Option<i64>, i64, i64)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn to_draft(
    (id, revision, manifest, published_version, created_ms, updated_ms): (
        i64,
        i64,
        String,
        Option<i64>,
        i64,
        i64,
    ),
) -> Result<Draft, AppError> {
    let manifest: Value = serde_json::from_str(&manifest)?;
    Ok(Draft {
        id,
        revision,
        etag: draft_etag(id, revision),
        state: if published_version.is_some() {
            DraftState::Published
        } else {
            DraftState::Draft
        },
        module_id: manifest
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        published_version,
        created_ms,
        updated_ms,
        manifest,
    })
}

/// Creates a draft (revision 1).
pub fn create_draft(conn: &mut Connection, manifest: &Value) -> Result<Draft, AppError> {
    let text = serde_json::to_string(manifest)?;
    sqlite_kit::write_tx(conn, |tx| {
        let now = now_ms();
        tx.execute(
            "INSERT INTO module_drafts (revision, manifest, created_ms, updated_ms) VALUES (1, ?1, ?2, ?2)",
            params![text, now],
        )?;
        draft(tx, tx.last_insert_rowid())
    })
}

/// One draft, or 404.
pub fn draft(conn: &Connection, id: i64) -> Result<Draft, AppError> {
    let row = conn
        .query_row(&format!("{DRAFT_SELECT} WHERE id = ?1"), [id], row_to_draft)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no draft {id}")))?;
    to_draft(row)
}

/// Drafts by id, newest first, `limit` from `offset`, optionally of one state; and the total
/// count of that selection.
pub fn list_drafts(
    conn: &Connection,
    state: Option<DraftState>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Draft>, i64), AppError> {
    let filter = match state {
        None => "",
        Some(DraftState::Draft) => "WHERE published_version IS NULL",
        Some(DraftState::Published) => "WHERE published_version IS NOT NULL",
    };
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM module_drafts {filter}"),
        [],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "{DRAFT_SELECT} {filter} ORDER BY id DESC LIMIT ?1 OFFSET ?2"
    ))?;
    let rows = stmt
        .query_map([limit, offset], row_to_draft)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let drafts = rows.into_iter().map(to_draft).collect::<Result<_, _>>()?;
    Ok((drafts, total))
}

/// Loads a draft under a transaction and checks `If-Match` against its current revision.
pub(super) fn guarded(
    conn: &Connection,
    id: i64,
    if_match: Option<&str>,
    rule: Precondition,
) -> Result<Draft, AppError> {
    let current = draft(conn, id)?;
    check_etag(if_match, &current.etag, rule, &format!("draft {id}"))?;
    Ok(current)
}

pub(super) fn refuse_published(draft: &Draft) -> Result<(), AppError> {
    match draft.published_version {
        Some(version) => Err(AppError::Conflict(format!(
            "draft {} was published as version {version} and is read-only; create a new draft",
            draft.id
        ))),
        None => Ok(()),
    }
}

/// Replaces a draft's manifest (a new revision). `If-Match` is required; a published draft
/// is read-only (409).
pub fn replace_draft(
    conn: &mut Connection,
    id: i64,
    if_match: Option<&str>,
    manifest: &Value,
) -> Result<Draft, AppError> {
    let text = serde_json::to_string(manifest)?;
    sqlite_kit::write_tx(conn, |tx| {
        let current = guarded(tx, id, if_match, Precondition::Required)?;
        refuse_published(&current)?;
        tx.execute(
            "UPDATE module_drafts SET manifest = ?2, revision = revision + 1, updated_ms = ?3 WHERE id = ?1",
            params![id, text, now_ms()],
        )?;
        draft(tx, id)
    })
}

/// Deletes a draft (published or not; the versions it made stay). `If-Match` is honoured
/// when present.
pub fn delete_draft(
    conn: &mut Connection,
    id: i64,
    if_match: Option<&str>,
) -> Result<(), AppError> {
    sqlite_kit::write_tx(conn, |tx| {
        guarded(tx, id, if_match, Precondition::Optional)?;
        tx.execute("DELETE FROM module_drafts WHERE id = ?1", [id])?;
        Ok(())
    })
}

/// Validates a stored draft without publishing it: the problems publish would report.
pub fn problems(conn: &Connection, id: i64) -> Result<Vec<ProblemItem>, AppError> {
    let draft = draft(conn, id)?;
    Ok(validate(&draft.manifest).err().unwrap_or_default())
}
