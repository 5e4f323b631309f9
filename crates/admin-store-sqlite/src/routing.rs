//! The `routing_versions` table: the append-only routing history; the highest version is
//! current.

use crate::{OrStorage, corrupt, to_json};
use admin_store::AdminError;
use admin_store::routing::{RoutingConfig, RoutingView, VersionPage, VersionSummary};
use rusqlite::{Connection, OptionalExtension, params};

type Row = (i64, String, i64, String);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_view((version, source, created_ms, config): Row) -> Result<RoutingView, AdminError> {
    let config = serde_json::from_str(&config).map_err(corrupt("routing_versions.config"))?;
    Ok(RoutingView::new(version, source, created_ms, config))
}

/// The current (highest) version.
pub fn current(conn: &Connection) -> Result<RoutingView, AdminError> {
    let row = conn
        .query_row(
            "SELECT version, source, created_ms, config FROM routing_versions
             ORDER BY version DESC LIMIT 1",
            [],
            row,
        )
        .optional()
        .or_storage()?
        .ok_or_else(|| AdminError::Corrupt("routing_versions is empty".into()))?;
    to_view(row)
}

/// One version, or 404.
pub fn version(conn: &Connection, version: i64) -> Result<RoutingView, AdminError> {
    let row = conn
        .query_row(
            "SELECT version, source, created_ms, config FROM routing_versions WHERE version = ?1",
            [version],
            row,
        )
        .optional()
        .or_storage()?
        .ok_or_else(|| AdminError::NotFound(format!("no routing version {version}")))?;
    to_view(row)
}

/// Appends a version.
pub fn append(
    conn: &Connection,
    version: i64,
    config: &RoutingConfig,
    source: &str,
    created_ms: i64,
) -> Result<(), AdminError> {
    conn.execute(
        "INSERT INTO routing_versions (version, config, source, created_ms) VALUES (?1, ?2, ?3, ?4)",
        params![version, to_json(config)?, source, created_ms],
    )
    .or_storage()?;
    Ok(())
}

/// Versions newest first, `limit` from `offset`, with the total and the current version.
pub fn list(conn: &Connection, offset: i64, limit: i64) -> Result<VersionPage, AdminError> {
    let (total, current): (i64, Option<i64>) = conn
        .query_row(
            "SELECT COUNT(*), MAX(version) FROM routing_versions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .or_storage()?;
    let current = current.ok_or_else(|| AdminError::Corrupt("routing_versions is empty".into()))?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT version, source, created_ms FROM routing_versions
             ORDER BY version DESC LIMIT ?1 OFFSET ?2",
        )
        .or_storage()?;
    let versions = stmt
        .query_map([limit, offset], |r| {
            let version = r.get(0)?;
            Ok(VersionSummary::new(
                version,
                r.get(1)?,
                r.get(2)?,
                version == current,
            ))
        })
        .or_storage()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_storage()?;
    Ok(VersionPage {
        current,
        total,
        versions,
    })
}
