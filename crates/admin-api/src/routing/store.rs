//! Routing versions in the admin database: read the current one, validate, append a new one
//! under an `If-Match` precondition. History is append-only; the highest version is current.

use super::model::RoutingConfig;
use crate::error::AppError;
use crate::modules::{load, valid_ident};
use crate::precondition::{Precondition, check_etag};
use crate::state::now_ms;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A routing version as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoutingView {
    /// Version number: 1 on first start, +1 per change.
    pub version: i64,
    /// The strong ETag of this version (also sent in the `ETag` header); send it back in
    /// `If-Match` to write.
    pub etag: String,
    /// What made this version: `initial`, `put`, `patch`, `delete-category`, `reload`, or
    /// `rollback:<n>`.
    pub source: String,
    /// For a rollback, the earlier version whose config this one copies (as in module
    /// versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<i64>,
    /// When it was made, Unix milliseconds UTC.
    pub created_ms: i64,
    /// The config.
    pub config: RoutingConfig,
}

/// The version a `rollback:<n>` source copies.
fn rollback_of(source: &str) -> Option<i64> {
    source.strip_prefix("rollback:")?.parse().ok()
}

/// The ETag of a version.
pub fn etag(version: i64) -> String {
    format!("\"routing-v{version}\"")
}

fn row_to_view(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, i64, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn to_view(
    (version, source, created_ms, config): (i64, String, i64, String),
) -> Result<RoutingView, AppError> {
    Ok(RoutingView {
        version,
        etag: etag(version),
        source_version: rollback_of(&source),
        source,
        created_ms,
        config: serde_json::from_str(&config)?,
    })
}

/// The current (highest) version.
pub fn current(conn: &Connection) -> Result<RoutingView, AppError> {
    let row = conn
        .query_row(
            "SELECT version, source, created_ms, config FROM routing_versions
             ORDER BY version DESC LIMIT 1",
            [],
            row_to_view,
        )
        .optional()?
        .ok_or_else(|| AppError::internal("routing_versions is empty"))?;
    to_view(row)
}

/// One version, or 404.
pub fn version(conn: &Connection, version: i64) -> Result<RoutingView, AppError> {
    let row = conn
        .query_row(
            "SELECT version, source, created_ms, config FROM routing_versions WHERE version = ?1",
            [version],
            row_to_view,
        )
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no routing version {version}")))?;
    to_view(row)
}

/// Checks a config against the module catalogue: names valid, every category has modules,
/// no duplicates, every module known and enabled, the default category present.
pub fn validate(conn: &Connection, config: &RoutingConfig) -> Result<(), AppError> {
    let bad = |msg: String| Err(AppError::Unprocessable(msg));
    for (name, category) in &config.categories {
        if !valid_ident(name) {
            return bad("category names are 1 to 64 characters of [A-Za-z0-9_.-]".into());
        }
        if category.modules.is_empty() {
            return bad(format!("category `{name}` routes to no module"));
        }
        for (i, id) in category.modules.iter().enumerate() {
            if category.modules[..i].contains(id) {
                return bad(format!("category `{name}` lists module `{id}` twice"));
            }
            match load(conn, id)? {
                None if valid_ident(id) => {
                    return bad(format!("category `{name}` routes to unknown module `{id}`"));
                }
                None => return bad(format!("category `{name}` routes to an unknown module")),
                Some(m) if !m.enabled => {
                    return bad(format!(
                        "category `{name}` routes to disabled module `{id}`"
                    ));
                }
                Some(_) => {}
            }
        }
    }
    if let Some(default) = &config.default_category
        && !config.categories.contains_key(default)
    {
        return bad("default_category names no category of this config".into());
    }
    Ok(())
}

/// Appends a new version made by `change` from the current config, atomically with the
/// precondition check: of two writers holding the same ETag exactly one succeeds. When
/// `change` returns the current config unchanged, nothing is appended and the current version
/// is returned.
pub fn write(
    conn: &mut Connection,
    if_match: Option<&str>,
    rule: Precondition,
    source: &str,
    change: impl FnOnce(&Connection, RoutingConfig) -> Result<RoutingConfig, AppError>,
) -> Result<RoutingView, AppError> {
    sqlite_kit::write_tx(conn, |tx| {
        let current = current(tx)?;
        check_etag(if_match, &etag(current.version), rule, "the routing config")?;
        let next = change(tx, current.config.clone())?;
        // A no-op write answers the current version and appends nothing, so the history
        // holds only real changes (see the module docs of `routing`).
        if next == current.config {
            return Ok(current);
        }
        validate(tx, &next)?;
        let version = current.version + 1;
        let created_ms = now_ms();
        tx.execute(
            "INSERT INTO routing_versions (version, config, source, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![version, serde_json::to_string(&next)?, source, created_ms],
        )?;
        Ok(RoutingView {
            version,
            etag: etag(version),
            source_version: rollback_of(source),
            source: source.to_owned(),
            created_ms,
            config: next,
        })
    })
}

/// One entry of the version history (without its config).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionSummary {
    /// Version number.
    pub version: i64,
    /// Its strong ETag (as the current version's, it is what `If-Match` must carry).
    pub etag: String,
    /// Whether this is the current version (always the highest), as in module version lists.
    pub current: bool,
    /// What made it (see [`RoutingView::source`]).
    pub source: String,
    /// For a rollback, the version it copies (see [`RoutingView::source_version`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<i64>,
    /// When it was made, Unix milliseconds UTC.
    pub created_ms: i64,
}

/// Versions newest first, `limit` from `offset`, and the total count.
pub fn list(
    conn: &Connection,
    offset: i64,
    limit: i64,
) -> Result<(Vec<VersionSummary>, i64), AppError> {
    let total: i64 = conn.query_row("SELECT COUNT(*) FROM routing_versions", [], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(
        "SELECT version, source, created_ms,
                version = (SELECT MAX(version) FROM routing_versions)
         FROM routing_versions ORDER BY version DESC LIMIT ?1 OFFSET ?2",
    )?;
    let versions = stmt
        .query_map([limit, offset], |r| {
            let version = r.get(0)?;
            let source: String = r.get(1)?;
            Ok(VersionSummary {
                version,
                etag: etag(version),
                current: r.get(3)?,
                source_version: rollback_of(&source),
                source,
                created_ms: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((versions, total))
}
