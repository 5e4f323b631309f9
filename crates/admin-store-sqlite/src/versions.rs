//! The `module_versions` table: the append-only version history of each module's manifest.

use crate::{OrStorage, corrupt, to_json};
use admin_store::AdminError;
use admin_store::dev::{ModuleVersion, VersionSource, unknown_version, version_etag};
use admin_store::manifest::ModuleManifest;
use rusqlite::{Connection, OptionalExtension, params};

const SELECT: &str =
    "SELECT module_id, version, source, source_version, draft_id, created_ms, manifest,
        version = (SELECT MAX(version) FROM module_versions m WHERE m.module_id = v.module_id)
    FROM module_versions v";

/// A row with its manifest still as text.
struct Row {
    module_id: String,
    version: i64,
    source: String,
    source_version: Option<i64>,
    draft_id: Option<i64>,
    created_ms: i64,
    manifest: String,
    current: bool,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        module_id: r.get(0)?,
        version: r.get(1)?,
        source: r.get(2)?,
        source_version: r.get(3)?,
        draft_id: r.get(4)?,
        created_ms: r.get(5)?,
        manifest: r.get(6)?,
        current: r.get(7)?,
    })
}

fn to_version(row: Row) -> Result<ModuleVersion, AdminError> {
    Ok(ModuleVersion {
        etag: version_etag(&row.module_id, row.version),
        source: VersionSource::parse(&row.source).ok_or_else(|| {
            AdminError::Corrupt(format!("module_versions.source `{}`", row.source))
        })?,
        manifest: serde_json::from_str(&row.manifest)
            .map_err(corrupt("module_versions.manifest"))?,
        module_id: row.module_id,
        version: row.version,
        current: row.current,
        source_version: row.source_version,
        draft_id: row.draft_id,
        created_ms: row.created_ms,
    })
}

/// The highest version of a module, if any.
pub fn current_number(conn: &Connection, module_id: &str) -> Result<Option<i64>, AdminError> {
    conn.query_row(
        "SELECT MAX(version) FROM module_versions WHERE module_id = ?1",
        [module_id],
        |r| r.get(0),
    )
    .or_storage()
}

/// The current version of a module, if any.
pub fn current(conn: &Connection, module_id: &str) -> Result<Option<ModuleVersion>, AdminError> {
    current_number(conn, module_id)?
        .map(|v| get(conn, module_id, v))
        .transpose()
}

/// One version of a module, or 404.
pub fn get(conn: &Connection, module_id: &str, version: i64) -> Result<ModuleVersion, AdminError> {
    let row = conn
        .query_row(
            &format!("{SELECT} WHERE module_id = ?1 AND version = ?2"),
            params![module_id, version],
            row,
        )
        .optional()
        .or_storage()?
        .ok_or_else(|| unknown_version(module_id, version))?;
    to_version(row)
}

/// A module's versions, newest first, `limit` from `offset`, and the total count.
pub fn list(
    conn: &Connection,
    module_id: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ModuleVersion>, i64), AdminError> {
    let total: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM module_versions WHERE module_id = ?1",
            [module_id],
            |r| r.get(0),
        )
        .or_storage()?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "{SELECT} WHERE module_id = ?1 ORDER BY version DESC LIMIT ?2 OFFSET ?3"
        ))
        .or_storage()?;
    let rows = stmt
        .query_map(params![module_id, limit, offset], row)
        .or_storage()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_storage()?;
    let versions = rows.into_iter().map(to_version).collect::<Result<_, _>>()?;
    Ok((versions, total))
}

/// Appends `manifest` as the module's next version and returns its number.
pub fn append(
    conn: &Connection,
    manifest: &ModuleManifest,
    source: VersionSource,
    source_version: Option<i64>,
    draft_id: Option<i64>,
    now_ms: i64,
) -> Result<i64, AdminError> {
    let next = current_number(conn, &manifest.id)?.unwrap_or(0) + 1;
    conn.execute(
        "INSERT INTO module_versions
             (module_id, version, manifest, source, source_version, draft_id, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            manifest.id,
            next,
            to_json(manifest)?,
            source.as_str(),
            source_version,
            draft_id,
            now_ms
        ],
    )
    .or_storage()?;
    Ok(next)
}
