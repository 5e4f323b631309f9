//! The module catalogue's ids in memory, for a check that must not wait on I/O: metering checks
//! every event's module against the catalogue, on the async worker when it can (admin-api's
//! `billing`).
//!
//! Current across processes the way policy-store-sqlite's advice cache is:
//! [`sqlite_kit::ChangeWatch`] tells whether anything was committed to the file since the ids
//! were read (any write: a module, a credential, routing, a readiness probe's). The ids are
//! tagged with the version asked *before* they were read and answer only while the watch still
//! returns that version, so an answer never predates a commit that returned before the check.
//! A stale catalogue answers nothing; the next [`crate::SqliteAdminStore`] read of a module
//! (the caller's fallback) reads the ids again.

use crate::OrStorage;
use admin_store::AdminError;
use rusqlite::Connection;
use sqlite_kit::{ChangeWatch, Version};
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// The ids, and the version of the file they were read at.
#[derive(Debug)]
struct Held {
    version: Version,
    ids: HashSet<String>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct CatalogueCache {
    watch: ChangeWatch,
    held: Mutex<Option<Held>>,
}

impl CatalogueCache {
    /// Watches `path`, whose schema the store's connection already brought up to date.
    pub fn open(path: &Path) -> Result<Self, AdminError> {
        let watch = ChangeWatch::open(path, crate::schema::MIGRATIONS)
            .map_err(|e| AdminError::Storage(Box::new(e)))?;
        Ok(Self {
            watch,
            held: Mutex::new(None),
        })
    }

    /// Whether `id` is catalogued, if the ids held are current; `None` otherwise (also when
    /// the watch fails).
    pub fn contains(&self, id: &str) -> Option<bool> {
        let version = self.watch.version().ok()?;
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let held = held.as_ref().filter(|held| held.version == version)?;
        Some(held.ids.contains(id))
    }

    /// Reads the ids again through `conn` if what is held is not current. A failure leaves
    /// the catalogue unheld: it only costs the fast path.
    pub fn refresh_if_stale(&self, conn: &Connection) {
        let Ok(version) = self.watch.version() else {
            return;
        };
        let current = |held: &Option<Held>| held.as_ref().is_some_and(|h| h.version == version);
        if current(&self.held.lock().unwrap_or_else(PoisonError::into_inner)) {
            return;
        }
        // Read without holding the lock: `contains` runs on the async worker and must not
        // wait on this read. Two refreshes may race; whichever lands last is tagged with the
        // version asked before its own read, so neither can be served stale.
        let fresh = ids(conn).ok().map(|ids| Held { version, ids });
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
    }
}

fn ids(conn: &Connection) -> Result<HashSet<String>, AdminError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM modules").or_storage()?;
    let ids = stmt
        .query_map([], |row| row.get(0))
        .or_storage()?
        .collect::<rusqlite::Result<_>>()
        .or_storage()?;
    Ok(ids)
}
