//! The admin store on SQLite: one file (`admin.db`) holding the module catalogue, sealed
//! credentials, the routing versions and dev-mode drafts and module versions.
//!
//! [`SqliteAdminStore`] implements [`admin_store::AdminBackend`]. The rules are the trait
//! crate's; this crate reads and writes rows, and runs every write in one `BEGIN IMMEDIATE`
//! transaction (`sqlite_kit::write_tx`) that also checks the write's rules and precondition,
//! so of two writers holding the same ETag exactly one succeeds, in this process or another.
#![deny(missing_docs)]

mod backend;
mod catalogue;
mod credentials;
mod drafts;
mod modules;
mod routing;
pub mod schema;
mod versions;

use admin_store::AdminError;
use rusqlite::{Connection, Transaction};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The admin store on one SQLite file. Admin traffic is light, so one connection behind a
/// mutex serves reads and writes alike.
#[derive(Debug)]
pub struct SqliteAdminStore {
    conn: Mutex<Connection>,
    /// The module ids, for [`admin_store::AdminBackend::module_catalogued_from_memory`].
    catalogue: catalogue::CatalogueCache,
}

impl SqliteAdminStore {
    /// Opens (creating if needed) `path` and brings its schema up to date; a file from a newer
    /// build is refused (a storage error whose source says so).
    pub fn open(path: &Path) -> Result<Self, AdminError> {
        let conn = sqlite_kit::open(path, schema::MIGRATIONS).map_err(|e| match e {
            sqlite_kit::KitError::Sqlite(e) => storage(e),
            other => AdminError::Storage(Box::new(other)),
        })?;
        Ok(Self {
            conn: Mutex::new(conn),
            catalogue: catalogue::CatalogueCache::open(path)?,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `body` in one write transaction (`BEGIN IMMEDIATE`); any error rolls it back.
    fn write<T>(
        &self,
        body: impl FnOnce(&Transaction<'_>) -> Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        let mut conn = self.conn();
        sqlite_kit::write_tx(&mut conn, |tx| body(tx).map_err(Failed)).map_err(|Failed(e)| e)
    }
}

/// An [`AdminError`] that `sqlite_kit::write_tx` can carry (it needs `From<rusqlite::Error>`).
struct Failed(AdminError);

impl From<rusqlite::Error> for Failed {
    fn from(err: rusqlite::Error) -> Self {
        Self(storage(err))
    }
}

/// A SQLite failure as the store's error: a full disk apart, everything else internal.
fn storage(err: rusqlite::Error) -> AdminError {
    if sqlite_kit::is_disk_full(&err) {
        AdminError::StorageFull(Box::new(err))
    } else {
        AdminError::Storage(Box::new(err))
    }
}

/// `?` on SQLite results inside this crate (a foreign `From` impl is not allowed here).
trait OrStorage<T> {
    fn or_storage(self) -> Result<T, AdminError>;
}

impl<T> OrStorage<T> for rusqlite::Result<T> {
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
