//! The `modules` table: the catalogue.

use crate::{OrStorage, corrupt, to_json};
use admin_store::AdminError;
use admin_store::module::{Module, unknown_module};
use postgres::{GenericClient, Row};

const SELECT: &str =
    "SELECT id, name, description, required_credentials, enabled, updated_ms FROM modules";

fn to_module(r: &Row) -> Result<Module, AdminError> {
    let required: String = r.try_get(3).or_storage()?;
    Ok(Module {
        required_credentials: serde_json::from_str(&required)
            .map_err(corrupt("modules.required_credentials"))?,
        id: r.try_get(0).or_storage()?,
        name: r.try_get(1).or_storage()?,
        description: r.try_get(2).or_storage()?,
        enabled: r.try_get(4).or_storage()?,
        updated_ms: r.try_get(5).or_storage()?,
    })
}

/// One module, `None` if unknown.
pub fn load(db: &mut impl GenericClient, id: &str) -> Result<Option<Module>, AdminError> {
    db.query_opt(&format!("{SELECT} WHERE id = $1"), &[&id])
        .or_storage()?
        .as_ref()
        .map(to_module)
        .transpose()
}

/// One module, or the 404 naming it.
pub fn require(db: &mut impl GenericClient, id: &str) -> Result<Module, AdminError> {
    load(db, id)?.ok_or_else(|| unknown_module(id))
}

/// Every module, ordered by id.
pub fn list(db: &mut impl GenericClient) -> Result<Vec<Module>, AdminError> {
    db.query(&format!("{SELECT} ORDER BY id"), &[])
        .or_storage()?
        .iter()
        .map(to_module)
        .collect()
}

/// Inserts a module.
pub fn insert(db: &mut impl GenericClient, m: &Module) -> Result<(), AdminError> {
    db.execute(
        "INSERT INTO modules (id, name, description, required_credentials, enabled, updated_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &m.id,
            &m.name,
            &m.description,
            &to_json(&m.required_credentials)?,
            &m.enabled,
            &m.updated_ms,
        ],
    )
    .or_storage()?;
    Ok(())
}

/// Sets a module's enabled flag.
pub fn set_enabled(
    db: &mut impl GenericClient,
    id: &str,
    enabled: bool,
    now_ms: i64,
) -> Result<(), AdminError> {
    db.execute(
        "UPDATE modules SET enabled = $2, updated_ms = $3 WHERE id = $1",
        &[&id, &enabled, &now_ms],
    )
    .or_storage()?;
    Ok(())
}

/// Makes the catalogue entry follow a manifest: an existing module keeps its enabled state,
/// a new one starts disabled.
pub fn follow_manifest(
    db: &mut impl GenericClient,
    manifest: &admin_store::manifest::ModuleManifest,
    now_ms: i64,
) -> Result<(), AdminError> {
    db.execute(
        "INSERT INTO modules (id, name, description, required_credentials, enabled, updated_ms)
         VALUES ($1, $2, $3, $4, FALSE, $5)
         ON CONFLICT (id) DO UPDATE
         SET name = excluded.name, description = excluded.description,
             required_credentials = excluded.required_credentials,
             updated_ms = excluded.updated_ms",
        &[
            &manifest.id,
            &manifest.name,
            &manifest.description,
            &to_json(&manifest.required_credentials)?,
            &now_ms,
        ],
    )
    .or_storage()?;
    Ok(())
}
