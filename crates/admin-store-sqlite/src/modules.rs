//! The `modules` table: the catalogue.

use crate::{OrStorage, corrupt, to_json};
use admin_store::AdminError;
use admin_store::module::{Module, unknown_module};
use rusqlite::{Connection, OptionalExtension, params};

const SELECT: &str =
    "SELECT id, name, description, required_credentials, enabled, updated_ms FROM modules";

type Row = (String, String, String, String, bool, i64);

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

fn to_module(
    (id, name, description, required, enabled, updated_ms): Row,
) -> Result<Module, AdminError> {
    Ok(Module {
        required_credentials: serde_json::from_str(&required)
            .map_err(corrupt("modules.required_credentials"))?,
        id,
        name,
        description,
        enabled,
        updated_ms,
    })
}

/// One module, `None` if unknown.
pub fn load(conn: &Connection, id: &str) -> Result<Option<Module>, AdminError> {
    conn.query_row(&format!("{SELECT} WHERE id = ?1"), [id], row)
        .optional()
        .or_storage()?
        .map(to_module)
        .transpose()
}

/// One module, or the 404 naming it.
pub fn require(conn: &Connection, id: &str) -> Result<Module, AdminError> {
    load(conn, id)?.ok_or_else(|| unknown_module(id))
}

/// Every module, ordered by id.
pub fn list(conn: &Connection) -> Result<Vec<Module>, AdminError> {
    let mut stmt = conn
        .prepare_cached(&format!("{SELECT} ORDER BY id"))
        .or_storage()?;
    let rows = stmt
        .query_map([], row)
        .or_storage()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_storage()?;
    rows.into_iter().map(to_module).collect()
}

/// Inserts a module.
pub fn insert(conn: &Connection, m: &Module) -> Result<(), AdminError> {
    conn.execute(
        "INSERT INTO modules (id, name, description, required_credentials, enabled, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            m.id,
            m.name,
            m.description,
            to_json(&m.required_credentials)?,
            m.enabled,
            m.updated_ms
        ],
    )
    .or_storage()?;
    Ok(())
}

/// Sets a module's enabled flag.
pub fn set_enabled(
    conn: &Connection,
    id: &str,
    enabled: bool,
    now_ms: i64,
) -> Result<(), AdminError> {
    conn.execute(
        "UPDATE modules SET enabled = ?2, updated_ms = ?3 WHERE id = ?1",
        params![id, enabled, now_ms],
    )
    .or_storage()?;
    Ok(())
}

/// Makes the catalogue entry follow a manifest: an existing module keeps its enabled state,
/// a new one starts disabled.
pub fn follow_manifest(
    conn: &Connection,
    manifest: &admin_store::manifest::ModuleManifest,
    now_ms: i64,
) -> Result<(), AdminError> {
    let credentials = to_json(&manifest.required_credentials)?;
    let changed = conn
        .execute(
            "UPDATE modules SET name = ?2, description = ?3, required_credentials = ?4, updated_ms = ?5
             WHERE id = ?1",
            params![manifest.id, manifest.name, manifest.description, credentials, now_ms],
        )
        .or_storage()?;
    if changed == 0 {
        conn.execute(
            "INSERT INTO modules (id, name, description, required_credentials, enabled, updated_ms)
             VALUES (?1, ?2, ?3, ?4, 0, ?5)",
            params![
                manifest.id,
                manifest.name,
                manifest.description,
                credentials,
                now_ms
            ],
        )
        .or_storage()?;
    }
    Ok(())
}
