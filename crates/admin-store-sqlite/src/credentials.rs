//! The `credentials` table: sealed secrets per module.

use crate::OrStorage;
use admin_store::{AdminError, Sealed, StoredCredential};
use rusqlite::{Connection, params};

const SELECT: &str = "SELECT module_id, name, nonce, ciphertext, updated_ms FROM credentials";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredCredential> {
    Ok(StoredCredential {
        module_id: r.get(0)?,
        name: r.get(1)?,
        sealed: Sealed {
            nonce: r.get(2)?,
            ciphertext: r.get(3)?,
        },
        updated_ms: r.get(4)?,
    })
}

/// The credentials of one module (`Some`) or of all (`None`), ordered by module and name.
pub fn list(
    conn: &Connection,
    module_id: Option<&str>,
) -> Result<Vec<StoredCredential>, AdminError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "{SELECT} WHERE ?1 IS NULL OR module_id = ?1 ORDER BY module_id, name"
        ))
        .or_storage()?;
    stmt.query_map([module_id], row)
        .or_storage()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .or_storage()
}

/// Sets or replaces one credential.
pub fn upsert(conn: &Connection, credential: &StoredCredential) -> Result<(), AdminError> {
    conn.execute(
        "INSERT INTO credentials (module_id, name, nonce, ciphertext, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (module_id, name) DO UPDATE
         SET nonce = excluded.nonce, ciphertext = excluded.ciphertext,
             updated_ms = excluded.updated_ms",
        params![
            credential.module_id,
            credential.name,
            credential.sealed.nonce,
            credential.sealed.ciphertext,
            credential.updated_ms
        ],
    )
    .or_storage()?;
    Ok(())
}

/// Deletes one credential (`Some` name) or all of them; returns how many.
pub fn delete(
    conn: &Connection,
    module_id: Option<&str>,
    name: Option<&str>,
) -> Result<usize, AdminError> {
    conn.execute(
        "DELETE FROM credentials WHERE (?1 IS NULL OR module_id = ?1) AND (?2 IS NULL OR name = ?2)",
        params![module_id, name],
    )
    .or_storage()
}
