//! The policy store on SQLite: [`SqlitePolicyStore`] implements [`PolicyBackend`] on one file
//! (`policy.db`): the append-only trajectory log, reward events, decisions and the checkpoints.
//! The policy is the pure `otc-policy` crate's; this crate reads and writes rows, and maps
//! SQLite's errors to the backend-neutral [`PolicyError`] (`SQLITE_FULL` is
//! [`PolicyError::StorageFull`], any other failure [`PolicyError::Storage`], the SQLite error
//! kept as the `source()`), so `rusqlite` types stop at this crate's boundary.
//!
//! # Connections
//!
//! One writer connection in a `sqlite_kit::GroupWriter` (SQLite has one writer at a time
//! anyway; queueing in-process avoids lock ping-pong) and a small pool of reader connections,
//! each behind its own `Mutex`; WAL lets the readers run while the writer commits. Single
//! trajectories ingested concurrently share one transaction (group commit: each in its own
//! savepoint, acknowledged only after the shared commit); batches, decisions, pruning and
//! rebuilds take a transaction of their own. All connections are opened by
//! `sqlite_kit::open`, the one place that states the settings (WAL, `synchronous = NORMAL`,
//! `busy_timeout`, foreign keys). `synchronous = NORMAL` is the durability choice: in WAL mode a
//! transaction whose commit returned survives a crash or `SIGKILL` of the process; only an OS
//! crash or power loss may drop the last commits, never corrupt the file. Another process
//! writing the same file (e.g. the `otc` CLI beside the server) waits in the busy handler, so
//! `SQLITE_BUSY` does not reach callers. Every write runs in a `BEGIN IMMEDIATE` transaction.
//! `recommend` is answered from memory while the file has not changed since it was computed
//! (`sqlite_kit::ChangeWatch` reads the WAL index's header; see `advice_cache`).
#![deny(missing_docs)]

mod advice_cache;
mod decide;
mod ingest;
mod read;
mod rebuild;
mod replay;
pub mod schema;

pub use advice_cache::{AdviceCacheStats, CAPACITY as ADVICE_CACHE_CAPACITY};
pub use schema::MIGRATIONS;

use otc_policy::{Checkpoint, Decision, PolicyConfig, Recommendation, Trajectory};
use policy_store::{
    BatchReport, CheckpointPage, IngestOutcome, PolicyBackend, PolicyError, QueuedIngest,
    RebuildReport, RewardEvent,
};
use rusqlite::{Connection, OptionalExtension};
use sqlite_kit::KitError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard, RwLock};

/// A SQLite failure as the store's error: a full disk is `StorageFull`, everything else
/// `Storage`; the SQLite error stays the `source()`.
fn storage(err: impl Into<KitError>) -> PolicyError {
    match err.into() {
        KitError::Sqlite(e) if sqlite_kit::is_disk_full(&e) => {
            PolicyError::StorageFull(Box::new(e))
        }
        KitError::Sqlite(e) => PolicyError::Storage(Box::new(e)),
        other => PolicyError::Storage(Box::new(other)),
    }
}

/// The error of the store's internals: a [`PolicyError`] that `?` can also make from SQLite's
/// errors, which `sqlite_kit::write_tx` requires of its body's error type. (The orphan rule
/// forbids `From<rusqlite::Error> for PolicyError` here.) It becomes a `PolicyError` at the
/// trait's boundary.
#[derive(Debug)]
struct Fail(PolicyError);

impl From<rusqlite::Error> for Fail {
    fn from(err: rusqlite::Error) -> Self {
        Self(storage(err))
    }
}

impl From<KitError> for Fail {
    fn from(err: KitError) -> Self {
        Self(storage(err))
    }
}

/// The pure crate's errors and the store's own, for `?` inside the store.
macro_rules! fail_from {
    ($($error:ty),*) => {
        $(
            impl From<$error> for Fail {
                fn from(err: $error) -> Self {
                    Self(err.into())
                }
            }
        )*
    };
}

fail_from!(
    PolicyError,
    otc_policy::ValidationError,
    otc_policy::RewardError,
    otc_policy::CostError,
    otc_policy::evaluate::EvaluateError
);

impl From<Fail> for PolicyError {
    fn from(fail: Fail) -> Self {
        fail.0
    }
}

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
pub struct SqlitePolicyStore {
    /// Shared with the group writer's jobs, which may run on another caller's thread.
    store: Arc<Store>,
}

/// The store's connections, config and id cache.
#[derive(Debug)]
struct Store {
    path: PathBuf,
    writer: sqlite_kit::GroupWriter,
    readers: sqlite_kit::ReaderPool,
    /// Recommendations computed since the file last changed (see `advice_cache`).
    advice: advice_cache::AdviceCache,
    config: PolicyConfig,
    config_id: i64,
    ids: RwLock<IdCache>,
}

impl SqlitePolicyStore {
    /// Opens (creating and migrating if needed) the store at `path` with `config`, which is
    /// recorded in `reward_configs` so reward events can point at it. A file from a newer build
    /// is refused (`Storage`, whose source says so).
    pub fn open(path: &Path, config: PolicyConfig) -> Result<Self, PolicyError> {
        Ok(Self::open_inner(path, config)?)
    }

    fn open_inner(path: &Path, config: PolicyConfig) -> Result<Self, Fail> {
        if let Some(problem) = config.problem() {
            return Err(PolicyError::InvalidConfig(problem).into());
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
        let readers = sqlite_kit::ReaderPool::open(path, MIGRATIONS, READERS)?;
        let advice = advice_cache::AdviceCache::open(path, MIGRATIONS)?;
        let store = Self {
            store: Arc::new(Store {
                path: path.to_owned(),
                writer: sqlite_kit::GroupWriter::new(writer),
                readers,
                advice,
                config,
                config_id,
                ids: RwLock::new(IdCache::default()),
            }),
        };
        store.rebuild_if_upgraded()?;
        Ok(store)
    }

    /// The upgrade to schema 3 drops checkpoints written in the old BLOB format; rebuild them
    /// from the log once (a no-op for a new file or one whose checkpoints are there).
    fn rebuild_if_upgraded(&self) -> Result<(), Fail> {
        let conn = self.store.reader();
        let needs: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM trajectory_log)
                AND NOT EXISTS (SELECT 1 FROM policy_checkpoints)",
            [],
            |row| row.get(0),
        )?;
        drop(conn);
        if needs {
            rebuild::rebuild(&self.store)?;
        }
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.store.path
    }

    /// The configuration scores and checkpoints are computed with.
    pub fn config(&self) -> &PolicyConfig {
        &self.store.config
    }

    /// How well concurrent single ingests were grouped into shared commits.
    pub fn group_stats(&self) -> sqlite_kit::GroupStats {
        self.store.writer.stats()
    }

    /// How often `recommend` was answered from memory and how often it read the file.
    pub fn advice_cache_stats(&self) -> AdviceCacheStats {
        self.store.advice.stats()
    }

    /// `PRAGMA integrity_check` of the file: `Ok("ok")` when healthy.
    pub fn integrity_check(&self) -> Result<String, PolicyError> {
        let conn = self.store.reader();
        conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .map_err(storage)
    }

    /// Rows per table, for inspection and tests.
    pub fn table_counts(&self) -> Result<Vec<(String, u64)>, PolicyError> {
        let conn = self.store.reader();
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
            let n: i64 = conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .map_err(storage)?;
            counts.push((table.to_owned(), u64::try_from(n).unwrap_or(0)));
        }
        Ok(counts)
    }
}

impl Store {
    /// The write connection for a transaction of its own (single ingests go through
    /// [`sqlite_kit::GroupWriter::submit`] instead).
    fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.connection()
    }

    /// A free reader if there is one, else waits for the next in turn.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        self.readers.get()
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
}

impl PolicyBackend for SqlitePolicyStore {
    fn ingest(&self, trajectory: &Trajectory) -> Result<IngestOutcome, PolicyError> {
        BatchReport::into_single(
            ingest::ingest_single(&self.store, trajectory).map_err(PolicyError::from),
        )
    }

    fn ingest_queued(&self, trajectory: &Trajectory) -> Option<QueuedIngest> {
        let queued = ingest::ingest_single_queued(&self.store, trajectory);
        Some(Box::pin(async move {
            BatchReport::into_single(queued.await.map_err(PolicyError::from))
        }))
    }

    fn ingest_batch(&self, trajectories: &[Trajectory]) -> Result<BatchReport, PolicyError> {
        Ok(ingest::ingest_batch(&self.store, trajectories)?)
    }

    fn recommend(&self, intent: &str, modules: &[String]) -> Result<Recommendation, PolicyError> {
        Ok(read::recommend(&self.store, intent, modules)?)
    }

    fn recommend_from_memory(&self, intent: &str, modules: &[String]) -> Option<Recommendation> {
        read::recommend_from_memory(&self.store, intent, modules)
    }

    fn decide(&self, intent: &str, modules: &[String]) -> Result<Decision, PolicyError> {
        Ok(decide::decide(&self.store, intent, modules)?)
    }

    fn prune_decisions(&self, before_ms: i64) -> Result<u64, PolicyError> {
        Ok(decide::prune(&self.store, before_ms)?)
    }

    fn reward_event(&self, request_id: &str) -> Result<Option<RewardEvent>, PolicyError> {
        Ok(read::reward_event(&self.store, request_id)?)
    }

    fn stored_run_units(&self, request_id: &str) -> Result<Option<f64>, PolicyError> {
        let conn = self.store.reader();
        conn.prepare_cached("SELECT run_units FROM trajectory_log WHERE request_id = ?1")
            .and_then(|mut stmt| stmt.query_row([request_id], |row| row.get(0)).optional())
            .map_err(storage)
    }

    fn checkpoint_page(
        &self,
        intent: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<CheckpointPage, PolicyError> {
        Ok(read::checkpoint_page(&self.store, intent, offset, limit)?)
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, PolicyError> {
        Ok(read::checkpoint_page(&self.store, None, 0, u64::MAX)?.checkpoints)
    }

    fn rebuild(&self) -> Result<RebuildReport, PolicyError> {
        Ok(rebuild::rebuild(&self.store)?)
    }

    fn export(
        &self,
        visit: &mut dyn FnMut(&Trajectory) -> Result<(), PolicyError>,
    ) -> Result<u64, PolicyError> {
        Ok(read::export(&self.store, visit)?)
    }

    fn replay_log(
        &self,
        replay: &mut otc_policy::evaluate::Replay,
        until_ms: Option<i64>,
    ) -> Result<(), PolicyError> {
        policy_store::replay::run(replay, |emit| {
            Ok(replay::read_log(&self.store, until_ms, emit)?)
        })
    }

    fn check_ready(&self) -> Result<(), PolicyError> {
        // On a reader, so a long batch holding the writer does not delay the probe; the schema
        // version is one page read, however large the log.
        let conn = self.store.reader();
        sqlite_kit::schema_version(&conn).map(drop).map_err(storage)
    }
}
