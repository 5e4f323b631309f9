//! The `module_versions` table: the append-only version history of each module's manifest.

use crate::{OrStorage, corrupt, to_json};
use admin_store::AdminError;
use admin_store::dev::{ModuleVersion, VersionSource, unknown_version, version_etag};
use admin_store::manifest::ModuleManifest;
use postgres::{GenericClient, Row};

const SELECT: &str =
    "SELECT module_id, version, source, source_version, draft_id, created_ms, manifest,
        version = (SELECT MAX(version) FROM module_versions m WHERE m.module_id = v.module_id)
    FROM module_versions v";

fn to_version(r: &Row) -> Result<ModuleVersion, AdminError> {
    let module_id: String = r.try_get(0).or_storage()?;
    let version: i64 = r.try_get(1).or_storage()?;
    let source: String = r.try_get(2).or_storage()?;
    let manifest: String = r.try_get(6).or_storage()?;
    Ok(ModuleVersion {
        etag: version_etag(&module_id, version),
        source: VersionSource::parse(&source)
            .ok_or_else(|| AdminError::Corrupt(format!("module_versions.source `{source}`")))?,
        manifest: serde_json::from_str(&manifest).map_err(corrupt("module_versions.manifest"))?,
        module_id,
        version,
        current: r.try_get(7).or_storage()?,
        source_version: r.try_get(3).or_storage()?,
        draft_id: r.try_get(4).or_storage()?,
        created_ms: r.try_get(5).or_storage()?,
    })
}

/// The highest version of a module, if any.
pub fn current_number(
    db: &mut impl GenericClient,
    module_id: &str,
) -> Result<Option<i64>, AdminError> {
    db.query_one(
        "SELECT MAX(version) FROM module_versions WHERE module_id = $1",
        &[&module_id],
    )
    .or_storage()?
    .try_get(0)
    .or_storage()
}

/// The current version of a module, if any.
pub fn current(
    db: &mut impl GenericClient,
    module_id: &str,
) -> Result<Option<ModuleVersion>, AdminError> {
    current_number(db, module_id)?
        .map(|v| get(db, module_id, v))
        .transpose()
}

/// One version of a module, or 404.
pub fn get(
    db: &mut impl GenericClient,
    module_id: &str,
    version: i64,
) -> Result<ModuleVersion, AdminError> {
    let row = db
        .query_opt(
            &format!("{SELECT} WHERE module_id = $1 AND version = $2"),
            &[&module_id, &version],
        )
        .or_storage()?
        .ok_or_else(|| unknown_version(module_id, version))?;
    to_version(&row)
}

/// A module's versions, newest first, `limit` from `offset`, and the total count.
pub fn list(
    db: &mut impl GenericClient,
    module_id: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ModuleVersion>, i64), AdminError> {
    let total: i64 = db
        .query_one(
            "SELECT COUNT(*) FROM module_versions WHERE module_id = $1",
            &[&module_id],
        )
        .or_storage()?
        .try_get(0)
        .or_storage()?;
    let versions = db
        .query(
            &format!("{SELECT} WHERE module_id = $1 ORDER BY version DESC LIMIT $2 OFFSET $3"),
            &[&module_id, &limit, &offset],
        )
        .or_storage()?
        .iter()
        .map(to_version)
        .collect::<Result<_, _>>()?;
    Ok((versions, total))
}

/// Appends `manifest` as the module's next version and returns its number.
pub fn append(
    db: &mut impl GenericClient,
    manifest: &ModuleManifest,
    source: VersionSource,
    source_version: Option<i64>,
    draft_id: Option<i64>,
    now_ms: i64,
) -> Result<i64, AdminError> {
    let next = current_number(db, &manifest.id)?.unwrap_or(0) + 1;
    db.execute(
        "INSERT INTO module_versions
             (module_id, version, manifest, source, source_version, draft_id, created_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &manifest.id,
            &next,
            &to_json(manifest)?,
            &source.as_str(),
            &source_version,
            &draft_id,
            &now_ms,
        ],
    )
    .or_storage()?;
    Ok(next)
}
