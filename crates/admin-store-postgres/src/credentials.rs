//! The `credentials` table: sealed secrets per module.

use crate::OrStorage;
use admin_store::{AdminError, Sealed, StoredCredential};
use postgres::{GenericClient, Row};

fn to_credential(r: &Row) -> Result<StoredCredential, AdminError> {
    Ok(StoredCredential {
        module_id: r.try_get(0).or_storage()?,
        name: r.try_get(1).or_storage()?,
        sealed: Sealed {
            nonce: r.try_get(2).or_storage()?,
            ciphertext: r.try_get(3).or_storage()?,
        },
        updated_ms: r.try_get(4).or_storage()?,
    })
}

/// The credentials of one module (`Some`) or of all (`None`), ordered by module and name.
pub fn list(
    db: &mut impl GenericClient,
    module_id: Option<&str>,
) -> Result<Vec<StoredCredential>, AdminError> {
    db.query(
        "SELECT module_id, name, nonce, ciphertext, updated_ms FROM credentials
         WHERE $1::TEXT IS NULL OR module_id = $1::TEXT ORDER BY module_id, name",
        &[&module_id],
    )
    .or_storage()?
    .iter()
    .map(to_credential)
    .collect()
}

/// Sets or replaces one credential.
pub fn upsert(db: &mut impl GenericClient, c: &StoredCredential) -> Result<(), AdminError> {
    db.execute(
        "INSERT INTO credentials (module_id, name, nonce, ciphertext, updated_ms)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (module_id, name) DO UPDATE
         SET nonce = excluded.nonce, ciphertext = excluded.ciphertext,
             updated_ms = excluded.updated_ms",
        &[
            &c.module_id,
            &c.name,
            &c.sealed.nonce,
            &c.sealed.ciphertext,
            &c.updated_ms,
        ],
    )
    .or_storage()?;
    Ok(())
}

/// Deletes one credential (`Some` name) or all of them; returns how many.
pub fn delete(
    db: &mut impl GenericClient,
    module_id: Option<&str>,
    name: Option<&str>,
) -> Result<usize, AdminError> {
    let deleted = db
        .execute(
            "DELETE FROM credentials
             WHERE ($1::TEXT IS NULL OR module_id = $1::TEXT) AND ($2::TEXT IS NULL OR name = $2::TEXT)",
            &[&module_id, &name],
        )
        .or_storage()?;
    Ok(deleted as usize)
}
