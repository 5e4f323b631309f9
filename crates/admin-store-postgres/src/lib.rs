//! The admin store on PostgreSQL: the module catalogue, sealed credentials, the routing
//! versions and dev-mode drafts and module versions, in one schema (namespace) of a database
//! that several admin-api replicas may share.
//!
//! [`PostgresAdminStore`] implements [`admin_store::AdminBackend`]. The rules are the trait
//! crate's; this crate reads and writes rows. How replicas stay correct: every write is one
//! READ COMMITTED transaction whose first statement is
//! `LOCK TABLE write_lock IN SHARE ROW EXCLUSIVE MODE`, a lock that conflicts with itself and
//! not with plain reads. So writers of every replica run one at a time, as under SQLite's
//! `BEGIN IMMEDIATE`, and each statement after the lock sees every write committed before it:
//! the rules and the `If-Match` check read the current state, and of two writers holding the
//! same ETag exactly one succeeds. One lock for the whole store (not row locks) also orders
//! writes that read one table and write another (disabling a module reads the routing;
//! a routing write reads the modules), which row locks would let interleave.
#![deny(missing_docs)]

mod backend;
mod credentials;
mod drafts;
mod modules;
mod routing;
pub mod schema;
mod versions;

use admin_store::AdminError;
use postgres::Transaction;
use postgres_kit::{ErrorClass, KitError, Options, Pool};

/// The PostgreSQL schema the admin store uses unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "otc_admin";
/// What `pg_stat_activity` shows for the store's sessions (unless the URL names another).
pub const APPLICATION_NAME: &str = "otc-admin-store";

/// Takes the store's writer lock; the first statement of every write transaction.
const WRITE_LOCK: &str = "LOCK TABLE write_lock IN SHARE ROW EXCLUSIVE MODE";

/// The admin store in one schema of a PostgreSQL database, with a small pool of sessions.
#[derive(Debug)]
pub struct PostgresAdminStore {
    pool: Pool,
}

impl PostgresAdminStore {
    /// Opens the store in `schema` of the database at `url` (creating the schema and its
    /// tables if needed) with the default pool; a schema from a newer build is refused (a
    /// storage error whose source is `postgres_kit::KitError::NewerSchema`).
    pub fn open(url: &str, schema: &str) -> Result<Self, AdminError> {
        Self::open_with(&Options::new(url, schema, APPLICATION_NAME).map_err(kit)?)
    }

    /// [`PostgresAdminStore::open`] with every connection option stated by the caller.
    pub fn open_with(options: &Options) -> Result<Self, AdminError> {
        let pool = postgres_kit::open(options, schema::MIGRATIONS).map_err(kit)?;
        Ok(Self { pool })
    }

    /// Runs `body` in one write transaction that holds the store's writer lock; any error
    /// rolls it back.
    fn write<T>(
        &self,
        body: impl FnOnce(&mut Transaction<'_>) -> Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        let mut conn = self.pool.get().map_err(kit)?;
        postgres_kit::write_tx(&mut conn, |tx| {
            tx.batch_execute(WRITE_LOCK)?;
            body(tx).map_err(Failed)
        })
        .map_err(|Failed(e)| e)
    }

    /// Runs `body` on one snapshot (a read of several statements: a page and its total).
    fn read<T>(
        &self,
        body: impl FnOnce(&mut Transaction<'_>) -> Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        let mut conn = self.pool.get().map_err(kit)?;
        postgres_kit::read_tx(&mut conn, |tx| body(tx).map_err(Failed)).map_err(|Failed(e)| e)
    }

    /// Runs a one-statement read on a pooled session (no transaction needed).
    fn read_one<T>(
        &self,
        body: impl FnOnce(&mut postgres::Client) -> Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        body(&mut *self.pool.get().map_err(kit)?)
    }
}

/// An [`AdminError`] that `postgres_kit`'s transactions can carry (they need
/// `From<postgres::Error>`, which the orphan rule forbids for `AdminError` here).
struct Failed(AdminError);

impl From<postgres::Error> for Failed {
    fn from(err: postgres::Error) -> Self {
        Self(storage(err))
    }
}

/// A PostgreSQL failure as the store's error: a full disk apart, everything else internal.
fn storage(err: postgres::Error) -> AdminError {
    match ErrorClass::of(&err) {
        ErrorClass::StorageFull => AdminError::StorageFull(Box::new(err)),
        _ => AdminError::Storage(Box::new(err)),
    }
}

/// A postgres-kit failure (connecting, pooling, migrating) as the store's error.
fn kit(err: KitError) -> AdminError {
    match err {
        KitError::Postgres(e) => storage(e),
        other => AdminError::Storage(Box::new(other)),
    }
}

/// `?` on driver results inside this crate (a foreign `From` impl is not allowed here).
trait OrStorage<T> {
    fn or_storage(self) -> Result<T, AdminError>;
}

impl<T> OrStorage<T> for Result<T, postgres::Error> {
    fn or_storage(self) -> Result<T, AdminError> {
        self.map_err(storage)
    }
}

/// A JSON column that does not decode: the row was edited by hand or damaged.
fn corrupt(what: &str) -> impl FnOnce(serde_json::Error) -> AdminError + '_ {
    move |e| AdminError::Corrupt(format!("{what}: {e}"))
}

/// A value as a JSON column.
fn to_json(value: &impl serde::Serialize) -> Result<String, AdminError> {
    serde_json::to_string(value).map_err(|e| AdminError::Corrupt(format!("to JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kit_errors_are_storage_errors_with_their_source() {
        let newer = kit(KitError::NewerSchema {
            schema: "otc_admin".into(),
            found: 3,
            known: 1,
        });
        let AdminError::Storage(source) = &newer else {
            panic!("expected Storage, got {newer:?}");
        };
        assert!(source.to_string().contains("newer than this build"));
    }

    #[test]
    fn a_malformed_url_is_a_storage_error() {
        let err = PostgresAdminStore::open("postgres://h:notaport/db", DEFAULT_SCHEMA).unwrap_err();
        assert!(matches!(err, AdminError::Storage(_)), "{err:?}");
    }
}
