//! The append-only version history of each module's manifest (`module_versions`) and the
//! module catalogue (`modules`) following it: publish a draft, roll back, list.
//!
//! Versions are never updated or deleted: the highest version of a module is current, and a
//! version number is never reused. Publish and rollback each run in one `BEGIN IMMEDIATE`
//! transaction covering the precondition, the new version and the catalogue row.

use super::check_etag;
use super::drafts::{Draft, draft, guarded, refuse_published};
use super::manifest::{ModuleManifest, validate};
use crate::error::AppError;
use crate::modules::{self, Module};
use crate::precondition::Precondition;
use crate::state::now_ms;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionSource {
    /// Published from a draft.
    Publish,
    /// A copy of an earlier version's manifest, made current by a rollback.
    Rollback,
}

impl VersionSource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Rollback => "rollback",
        }
    }
}

/// One version of a module's manifest.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModuleVersion {
    /// The module.
    pub module_id: String,
    /// Version number: 1 for the first publish, +1 per publish or rollback, never reused.
    pub version: i64,
    /// Strong ETag of this version; as the current version's ETag it guards a rollback.
    pub etag: String,
    /// Whether this is the module's current version (always the highest).
    pub current: bool,
    /// `publish` or `rollback`.
    pub source: VersionSource,
    /// For a rollback, the earlier version whose manifest this one copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<i64>,
    /// For a publish, the draft it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_id: Option<i64>,
    /// Made, Unix milliseconds UTC.
    pub created_ms: i64,
    /// The manifest (validated).
    pub manifest: ModuleManifest,
}

/// The strong ETag of a module version.
pub fn version_etag(module_id: &str, version: i64) -> String {
    format!("\"module-{module_id}-v{version}\"")
}

/// What a publish or rollback made.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Published {
    /// The new current version.
    pub version: ModuleVersion,
    /// The catalogue entry as it now is.
    pub module: Module,
    /// For a publish, the draft, now in state `published`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<Draft>,
}

/// Publishes a draft: validates its manifest fully (422 with every problem), appends it as
/// the module's new current version and updates the catalogue; the draft becomes read-only
/// state `published`. `If-Match` (the draft's ETag) is honoured when present. A manifest
/// identical to the module's current version is 409 and publishes nothing.
pub fn publish(
    conn: &mut Connection,
    id: i64,
    if_match: Option<&str>,
) -> Result<Published, AppError> {
    sqlite_kit::write_tx(conn, |tx| {
        let current = guarded(tx, id, if_match, Precondition::Optional)?;
        refuse_published(&current)?;
        let manifest = validate(&current.manifest).map_err(AppError::InvalidItems)?;
        // Publishing the current version's manifest again would append an identical version:
        // refused, and the draft stays editable.
        if let Some(now) = current_version(tx, &manifest.id)?
            && version(tx, &manifest.id, now)?.manifest == manifest
        {
            return Err(AppError::Conflict(format!(
                "the manifest is identical to version {now} of module `{}`, which is current; nothing was published",
                manifest.id
            )));
        }
        let (version, module) = append(tx, &manifest, VersionSource::Publish, None, Some(id))?;
        tx.execute(
            "UPDATE module_drafts SET published_version = ?2, revision = revision + 1, updated_ms = ?3
             WHERE id = ?1",
            params![id, version.version, now_ms()],
        )?;
        Ok(Published {
            version,
            module,
            draft: Some(draft(tx, id)?),
        })
    })
}

/// Makes version `to_version` of a module current again as a new version; history is never
/// rewritten. 404 for an unknown module or version, 409 when `to_version` is already current
/// or its manifest equals the current version's.
/// `If-Match` (the current version's ETag) is honoured when present.
pub fn rollback(
    conn: &mut Connection,
    module_id: &str,
    to_version: i64,
    if_match: Option<&str>,
) -> Result<Published, AppError> {
    sqlite_kit::write_tx(conn, |tx| {
        modules::require(tx, module_id)?;
        let current = current_version(tx, module_id)?.ok_or_else(|| {
            AppError::NotFound(format!("module `{module_id}` has no published versions"))
        })?;
        check_etag(
            if_match,
            &version_etag(module_id, current),
            Precondition::Optional,
            &format!("module `{module_id}`"),
        )?;
        let target = version(tx, module_id, to_version)?;
        if to_version == current {
            return Err(AppError::Conflict(format!(
                "version {to_version} of module `{module_id}` is already current"
            )));
        }
        // Same content under another number (e.g. a second rollback to the same version) is
        // refused too: a version identical to the current one would only blur the history.
        if version(tx, module_id, current)?.manifest == target.manifest {
            return Err(AppError::Conflict(format!(
                "version {to_version}'s content is already current (module `{module_id}` version {current})"
            )));
        }
        let (version, module) = append(
            tx,
            &target.manifest,
            VersionSource::Rollback,
            Some(to_version),
            None,
        )?;
        Ok(Published {
            version,
            module,
            draft: None,
        })
    })
}

/// The highest version of a module, if any.
pub fn current_version(conn: &Connection, module_id: &str) -> Result<Option<i64>, AppError> {
    Ok(conn.query_row(
        "SELECT MAX(version) FROM module_versions WHERE module_id = ?1",
        [module_id],
        |r| r.get(0),
    )?)
}

/// Appends `manifest` as the module's next version and makes the catalogue follow it: an
/// existing module keeps its enabled state; a new module starts disabled.
fn append(
    tx: &Connection,
    manifest: &ModuleManifest,
    source: VersionSource,
    source_version: Option<i64>,
    draft_id: Option<i64>,
) -> Result<(ModuleVersion, Module), AppError> {
    let now = now_ms();
    let credentials = serde_json::to_string(&manifest.required_credentials)?;
    let changed = tx.execute(
        "UPDATE modules SET name = ?2, description = ?3, required_credentials = ?4, updated_ms = ?5
         WHERE id = ?1",
        params![
            manifest.id,
            manifest.name,
            manifest.description,
            credentials,
            now
        ],
    )?;
    if changed == 0 {
        tx.execute(
            "INSERT INTO modules (id, name, description, required_credentials, enabled, updated_ms)
             VALUES (?1, ?2, ?3, ?4, 0, ?5)",
            params![
                manifest.id,
                manifest.name,
                manifest.description,
                credentials,
                now
            ],
        )?;
    }
    let next = current_version(tx, &manifest.id)?.unwrap_or(0) + 1;
    tx.execute(
        "INSERT INTO module_versions
             (module_id, version, manifest, source, source_version, draft_id, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            manifest.id,
            next,
            serde_json::to_string(manifest)?,
            source.as_str(),
            source_version,
            draft_id,
            now
        ],
    )?;
    let version = version(tx, &manifest.id, next)?;
    Ok((version, modules::require(tx, &manifest.id)?))
}

const VERSION_SELECT: &str =
    "SELECT module_id, version, source, source_version, draft_id, created_ms, manifest,
        version = (SELECT MAX(version) FROM module_versions m WHERE m.module_id = v.module_id)
    FROM module_versions v";

/// A `module_versions` row with its manifest still as text.
struct VersionRow {
    module_id: String,
    version: i64,
    source: String,
    source_version: Option<i64>,
    draft_id: Option<i64>,
    created_ms: i64,
    manifest: String,
    current: bool,
}

fn row_to_version(row: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRow> {
    Ok(VersionRow {
        module_id: row.get(0)?,
        version: row.get(1)?,
        source: row.get(2)?,
        source_version: row.get(3)?,
        draft_id: row.get(4)?,
        created_ms: row.get(5)?,
        manifest: row.get(6)?,
        current: row.get(7)?,
    })
}

fn to_version(row: VersionRow) -> Result<ModuleVersion, AppError> {
    Ok(ModuleVersion {
        etag: version_etag(&row.module_id, row.version),
        module_id: row.module_id,
        version: row.version,
        current: row.current,
        source: if row.source == "rollback" {
            VersionSource::Rollback
        } else {
            VersionSource::Publish
        },
        source_version: row.source_version,
        draft_id: row.draft_id,
        created_ms: row.created_ms,
        manifest: serde_json::from_str(&row.manifest)?,
    })
}

/// One version of a module, or 404.
pub fn version(
    conn: &Connection,
    module_id: &str,
    version: i64,
) -> Result<ModuleVersion, AppError> {
    let row = conn
        .query_row(
            &format!("{VERSION_SELECT} WHERE module_id = ?1 AND version = ?2"),
            params![module_id, version],
            row_to_version,
        )
        .optional()?
        .ok_or_else(|| {
            AppError::NotFound(format!("module `{module_id}` has no version {version}"))
        })?;
    to_version(row)
}

/// A module's versions, newest first, `limit` from `offset`, and the total count. 404 when
/// the module is not in the catalogue; a catalogue module never published has none.
pub fn versions(
    conn: &Connection,
    module_id: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ModuleVersion>, i64), AppError> {
    modules::require(conn, module_id)?;
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM module_versions WHERE module_id = ?1",
        [module_id],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "{VERSION_SELECT} WHERE module_id = ?1 ORDER BY version DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = stmt
        .query_map(params![module_id, limit, offset], row_to_version)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let versions = rows.into_iter().map(to_version).collect::<Result<_, _>>()?;
    Ok((versions, total))
}
