//! The `routing_versions` table: the append-only routing history; the highest version is
//! current.

use crate::{OrStorage, corrupt, to_json};
use admin_store::AdminError;
use admin_store::routing::{RoutingConfig, RoutingView, VersionPage, VersionSummary};
use postgres::{GenericClient, Row};

const SELECT: &str = "SELECT version, source, created_ms, config FROM routing_versions";

fn to_view(r: &Row) -> Result<RoutingView, AdminError> {
    let config: String = r.try_get(3).or_storage()?;
    let config = serde_json::from_str(&config).map_err(corrupt("routing_versions.config"))?;
    Ok(RoutingView::new(
        r.try_get(0).or_storage()?,
        r.try_get(1).or_storage()?,
        r.try_get(2).or_storage()?,
        config,
    ))
}

/// The current (highest) version.
pub fn current(db: &mut impl GenericClient) -> Result<RoutingView, AdminError> {
    let row = db
        .query_opt(&format!("{SELECT} ORDER BY version DESC LIMIT 1"), &[])
        .or_storage()?
        .ok_or_else(|| AdminError::Corrupt("routing_versions is empty".into()))?;
    to_view(&row)
}

/// One version, or 404.
pub fn version(db: &mut impl GenericClient, version: i64) -> Result<RoutingView, AdminError> {
    let row = db
        .query_opt(&format!("{SELECT} WHERE version = $1"), &[&version])
        .or_storage()?
        .ok_or_else(|| AdminError::NotFound(format!("no routing version {version}")))?;
    to_view(&row)
}

/// Appends a version.
pub fn append(
    db: &mut impl GenericClient,
    version: i64,
    config: &RoutingConfig,
    source: &str,
    created_ms: i64,
) -> Result<(), AdminError> {
    db.execute(
        "INSERT INTO routing_versions (version, config, source, created_ms) VALUES ($1, $2, $3, $4)",
        &[&version, &to_json(config)?, &source, &created_ms],
    )
    .or_storage()?;
    Ok(())
}

/// Versions newest first, `limit` from `offset`, with the total and the current version.
pub fn list(
    db: &mut impl GenericClient,
    offset: i64,
    limit: i64,
) -> Result<VersionPage, AdminError> {
    let row = db
        .query_one("SELECT COUNT(*), MAX(version) FROM routing_versions", &[])
        .or_storage()?;
    let total: i64 = row.try_get(0).or_storage()?;
    let current: Option<i64> = row.try_get(1).or_storage()?;
    let current = current.ok_or_else(|| AdminError::Corrupt("routing_versions is empty".into()))?;
    let versions = db
        .query(
            "SELECT version, source, created_ms FROM routing_versions
             ORDER BY version DESC LIMIT $1 OFFSET $2",
            &[&limit, &offset],
        )
        .or_storage()?
        .iter()
        .map(|r| {
            let version = r.try_get(0).or_storage()?;
            Ok(VersionSummary::new(
                version,
                r.try_get(1).or_storage()?,
                r.try_get(2).or_storage()?,
                version == current,
            ))
        })
        .collect::<Result<Vec<_>, AdminError>>()?;
    Ok(VersionPage {
        current,
        total,
        versions,
    })
}
