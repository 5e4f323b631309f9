//! [`PolicyStore`]: the SQLite implementation of [`PolicyBackend`].
//!
//! # Connections
//!
//! One writer connection behind a `Mutex` (SQLite has one writer at a time anyway; queueing
//! in-process avoids lock ping-pong) and a small pool of reader connections, each behind its own
//! `Mutex`; WAL lets the readers run while the writer commits. All connections are opened by
//! `sqlite_kit::open`, the one place that states the settings (WAL, `synchronous = NORMAL`,
//! `busy_timeout`, foreign keys). `synchronous = NORMAL` is the durability choice: in WAL mode a
//! transaction whose commit returned survives a crash or `SIGKILL` of the process; only an OS
//! crash or power loss may drop the last commits, never corrupt the file. Another process
//! writing the same file (e.g. the `otc` CLI beside the server) waits in the busy handler, so
//! `SQLITE_BUSY` does not reach callers. Every write runs in a `BEGIN IMMEDIATE` transaction.

mod blob;
mod decide;
mod ingest;
mod read;
mod rebuild;
mod schema;

pub use blob::{BLOB_VERSION, BlobError, Decoded, decode as decode_blob, encode as encode_blob};
pub use schema::MIGRATIONS;

use crate::advice::Decision;
use crate::backend::{BatchReport, IngestOutcome, PolicyBackend, RebuildReport, RewardEvent};
use crate::config::PolicyConfig;
use crate::error::PolicyError;
use crate::state::{Checkpoint, Recommendation};
use crate::trajectory::Trajectory;
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};

/// Reader connections per store.
pub const READERS: usize = 4;

/// Ids of intents and module sets already committed. Ids never change once committed, so the
/// cache can only be stale by missing entries, which fall back to a lookup.
#[derive(Debug, Default)]
struct IdCache {
    intents: HashMap<String, i64>,
    sets: HashMap<i64, i64>,
}

/// The SQLite policy store. `Send + Sync`; share it in an `Arc`.
#[derive(Debug)]
pub struct PolicyStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    config: PolicyConfig,
    config_id: i64,
    ids: RwLock<IdCache>,
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding a connection leaves no open transaction behind (it rolls back on
    // drop), so the connection is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PolicyStore {
    /// Opens (creating and migrating if needed) the store at `path` with `config`, which is
    /// recorded in `reward_configs` so reward events can point at it.
    pub fn open(path: &Path, config: PolicyConfig) -> Result<Self, PolicyError> {
        if let Some(problem) = config.problem() {
            return Err(PolicyError::InvalidConfig(problem));
        }
        let mut writer = sqlite_kit::open(path, MIGRATIONS)?;
        let config_json = serde_json::to_string(&config)
            .map_err(|e| PolicyError::InvalidConfig(e.to_string()))?;
        let config_id = sqlite_kit::write_tx(&mut writer, |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO reward_configs (config_json) VALUES (?1)",
                [&config_json],
            )?;
            tx.query_row(
                "SELECT id FROM reward_configs WHERE config_json = ?1",
                [&config_json],
                |row| row.get(0),
            )
        })?;
        let readers = (0..READERS)
            .map(|_| sqlite_kit::open(path, MIGRATIONS).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        let store = Self {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            config,
            config_id,
            ids: RwLock::new(IdCache::default()),
        };
        store.rebuild_if_upgraded()?;
        Ok(store)
    }

    /// The upgrade to schema 3 drops checkpoints written in the old BLOB format; rebuild them
    /// from the log once (a no-op for a new file or one whose checkpoints are there).
    fn rebuild_if_upgraded(&self) -> Result<(), PolicyError> {
        let conn = self.reader();
        let needs: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM trajectory_log)
                AND NOT EXISTS (SELECT 1 FROM policy_checkpoints)",
            [],
            |row| row.get(0),
        )?;
        drop(conn);
        if needs {
            self.rebuild()?;
        }
        Ok(())
    }

    /// Deletes decisions made before `before_ms` (Unix milliseconds) that no trajectory refers
    /// to: requests that never reported back. Decisions a trajectory refers to are kept for
    /// good, like the trajectory itself. Returns how many were deleted.
    pub fn prune_decisions(&self, before_ms: i64) -> Result<u64, PolicyError> {
        decide::prune(self, before_ms)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration scores and checkpoints are computed with.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        lock(&self.writer)
    }

    /// A free reader if there is one, else waits for the next in turn.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for offset in 0..self.readers.len() {
            let slot = &self.readers[(start + offset) % self.readers.len()];
            if let Ok(guard) = slot.try_lock() {
                return guard;
            }
        }
        lock(&self.readers[start % self.readers.len()])
    }

    fn cached_intent(&self, name: &str) -> Option<i64> {
        let ids = self
            .ids
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ids.intents.get(name).copied()
    }

    fn cached_set(&self, fingerprint: i64) -> Option<i64> {
        let ids = self
            .ids
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ids.sets.get(&fingerprint).copied()
    }

    fn remember(&self, intents: HashMap<String, i64>, sets: HashMap<i64, i64>) {
        if intents.is_empty() && sets.is_empty() {
            return;
        }
        let mut ids = self
            .ids
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ids.intents.extend(intents);
        ids.sets.extend(sets);
    }

    /// `PRAGMA integrity_check` of the file: `Ok("ok")` when healthy.
    pub fn integrity_check(&self) -> Result<String, PolicyError> {
        let conn = self.reader();
        Ok(conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?)
    }

    /// Rows per table, for inspection and tests.
    pub fn table_counts(&self) -> Result<Vec<(String, u64)>, PolicyError> {
        let conn = self.reader();
        let mut counts = Vec::new();
        for table in [
            "intent_classes",
            "module_sets",
            "reward_configs",
            "trajectory_log",
            "reward_events",
            "policy_checkpoints",
            "decisions",
        ] {
            let n: i64 =
                conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
            counts.push((table.to_owned(), u64::try_from(n).unwrap_or(0)));
        }
        Ok(counts)
    }

    /// The run-units the stored trajectory with this request id was scored with, if one is
    /// stored. Lets a caller that fills in omitted run-units from metering resolve a retry to
    /// the stored value, so metering that arrived since cannot make the retry a conflict.
    pub fn stored_run_units(&self, request_id: &str) -> Result<Option<f64>, PolicyError> {
        let conn = self.reader();
        Ok(conn
            .prepare_cached("SELECT run_units FROM trajectory_log WHERE request_id = ?1")?
            .query_row([request_id], |row| row.get(0))
            .optional()?)
    }

    /// Whether a trajectory with this request id is stored.
    pub fn contains(&self, request_id: &str) -> Result<bool, PolicyError> {
        let conn = self.reader();
        Ok(conn
            .query_row(
                "SELECT 1 FROM trajectory_log WHERE request_id = ?1",
                [request_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }
}

impl PolicyBackend for PolicyStore {
    fn ingest(&self, trajectory: &Trajectory) -> Result<IngestOutcome, PolicyError> {
        match self.ingest_batch(std::slice::from_ref(trajectory)) {
            Ok(mut report) => Ok(report.items.remove(0)),
            Err(PolicyError::InvalidBatch(mut errors)) => {
                Err(PolicyError::Invalid(errors.remove(0).error))
            }
            Err(PolicyError::ConflictBatch(mut conflicts)) => {
                Err(PolicyError::Conflict(conflicts.remove(0)))
            }
            Err(other) => Err(other),
        }
    }

    fn ingest_batch(&self, trajectories: &[Trajectory]) -> Result<BatchReport, PolicyError> {
        ingest::ingest_batch(self, trajectories)
    }

    fn recommend(&self, intent: &str, modules: &[String]) -> Result<Recommendation, PolicyError> {
        read::recommend(self, intent, modules)
    }

    fn decide(&self, intent: &str, modules: &[String]) -> Result<Decision, PolicyError> {
        decide::decide(self, intent, modules)
    }

    fn reward_event(&self, request_id: &str) -> Result<Option<RewardEvent>, PolicyError> {
        read::reward_event(self, request_id)
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, PolicyError> {
        read::checkpoints(self)
    }

    fn rebuild(&self) -> Result<RebuildReport, PolicyError> {
        rebuild::rebuild(self)
    }

    fn export(
        &self,
        visit: &mut dyn FnMut(&Trajectory) -> Result<(), PolicyError>,
    ) -> Result<u64, PolicyError> {
        read::export(self, visit)
    }
}

/// The store as the simulator's policy: decisions and ingest go through the real database.
impl crate::simulate::Advisor for PolicyStore {
    fn decide(&mut self, intent: &str, modules: &[String]) -> Result<Decision, PolicyError> {
        PolicyBackend::decide(self, intent, modules)
    }

    fn report(&mut self, trajectory: &Trajectory) -> Result<(), PolicyError> {
        self.ingest(trajectory).map(drop)
    }
}
