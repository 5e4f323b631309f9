//! The SQLite implementation of [`UsageBackend`].
//!
//! Concurrency: one write connection in a `sqlite_kit::GroupWriter`, and a small pool of read
//! connections. Every write runs in a `BEGIN IMMEDIATE` transaction, which takes SQLite's write
//! lock before the first read, so this process's writers queue in-process without contention
//! on SQLite's lock, and the lock serialises writers of other processes (or other
//! `SqliteUsageStore`s on the same file). Single events metered concurrently share one
//! transaction (group commit: each in its own savepoint, acknowledged after the shared commit),
//! so the quota and idempotency checks are exactly as with one transaction per event; batches
//! and quota changes take a transaction of their own. In WAL mode readers see the last
//! committed state and never wait for the writer, so history and usage queries are not slowed
//! by metering.

use crate::error::{Fail, storage};
use crate::schema::MIGRATIONS;
use crate::{query, write};
use rusqlite::Connection;
use sqlite_kit::{GroupStats, GroupWriter, ReaderPool};
use std::path::{Path, PathBuf};

use usage_store::model::check_name;
use usage_store::{
    DEFAULT_MAX_FUTURE_SKEW_MS, HistoryPage, HistoryQuery, MAX_BATCH_EVENTS, MeterEvent,
    MeterOutcome, QueuedMeter, Quota, RequestUsage, Usage, UsageBackend, UsageError, ValidEvent,
};

/// Tunables of a [`SqliteUsageStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How far past the store's clock an event's `timestamp_ms` may be before it is rejected.
    pub max_future_skew_ms: i64,
    /// Read-only connections of the reader pool (`sqlite_kit::ReaderPool`).
    pub readers: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            max_future_skew_ms: DEFAULT_MAX_FUTURE_SKEW_MS,
            readers: 4,
        }
    }
}

/// The SQLite usage store. `Send + Sync`: share it in an `Arc`.
#[derive(Debug)]
pub struct SqliteUsageStore {
    path: PathBuf,
    options: SqliteOptions,
    writer: GroupWriter,
    readers: ReaderPool,
}

impl SqliteUsageStore {
    /// Opens (creating and migrating if needed) the store at `path` with default options.
    /// The path must be a file: every connection must see the same database.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, UsageError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens the store at `path` with `options`.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, UsageError> {
        let path = path.as_ref().to_path_buf();
        let writer = sqlite_kit::open(&path, &MIGRATIONS).map_err(storage)?;
        let readers = ReaderPool::open(&path, &MIGRATIONS, options.readers).map_err(storage)?;
        Ok(Self {
            path,
            options,
            writer: GroupWriter::new(writer),
            readers,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, UsageError> {
        sqlite_kit::schema_version(&self.readers.get()).map_err(storage)
    }

    /// How well concurrent single events were grouped into shared commits.
    pub fn group_stats(&self) -> GroupStats {
        self.writer.stats()
    }

    fn read<T>(&self, body: impl FnOnce(&Connection) -> Result<T, Fail>) -> Result<T, UsageError> {
        Ok(body(&self.readers.get())?)
    }

    fn write<T>(
        &self,
        body: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T, UsageError> {
        Ok(self.writer.write_tx(body)?)
    }
}

/// One event's write, for the group writer: the job may run on another caller's thread (or
/// the writer's leader thread), so it owns its event.
fn meter_job(
    event: MeterEvent,
    micros: i64,
    now: i64,
) -> impl FnMut(&Connection) -> Result<MeterOutcome, Fail> + Send + 'static {
    move |conn| {
        let valid = ValidEvent {
            event: &event,
            micros,
        };
        write::meter_one(conn, &valid, now)
    }
}

impl UsageBackend for SqliteUsageStore {
    fn meter(&self, event: &MeterEvent) -> Result<MeterOutcome, UsageError> {
        let now = jiff::Timestamp::now().as_millisecond();
        let micros = event.validate(now, self.options.max_future_skew_ms)?.micros;
        Ok(self.writer.submit(meter_job(event.clone(), micros, now))?)
    }

    fn meter_queued(&self, event: &MeterEvent) -> Option<QueuedMeter> {
        let now = jiff::Timestamp::now().as_millisecond();
        let micros = match event.validate(now, self.options.max_future_skew_ms) {
            Ok(valid) => valid.micros,
            Err(invalid) => return Some(Box::pin(std::future::ready(Err(invalid)))),
        };
        let queued = self
            .writer
            .submit_async(meter_job(event.clone(), micros, now));
        Some(Box::pin(async move { Ok(queued.await?) }))
    }

    fn meter_batch(&self, events: &[MeterEvent]) -> Result<Vec<MeterOutcome>, UsageError> {
        if events.len() > MAX_BATCH_EVENTS {
            return Err(UsageError::BatchTooLarge {
                len: events.len(),
                max: MAX_BATCH_EVENTS,
            });
        }
        let now = jiff::Timestamp::now().as_millisecond();
        let valid = events
            .iter()
            .map(|e| e.validate(now, self.options.max_future_skew_ms))
            .collect::<Result<Vec<_>, _>>()?;
        self.write(|tx| valid.iter().map(|v| write::meter_one(tx, v, now)).collect())
    }

    fn usage(&self, tenant: &str, at_ms: i64) -> Result<Usage, UsageError> {
        self.read(|conn| query::usage(conn, tenant, at_ms))
    }

    fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, UsageError> {
        self.read(|conn| query::history(conn, query))
    }

    fn request_usage(&self, request_id: &str) -> Result<Option<RequestUsage>, UsageError> {
        self.read(|conn| query::request_usage(conn, request_id))
    }

    fn set_quota(&self, tenant: &str, quota: &Quota) -> Result<(), UsageError> {
        check_name("tenant", tenant)?;
        let limit = quota.limit_micros()?;
        self.write(|tx| {
            write::store_quota(
                tx,
                tenant,
                quota,
                limit,
                jiff::Timestamp::now().as_millisecond(),
            )
        })
    }

    fn quota(&self, tenant: &str) -> Result<Option<Quota>, UsageError> {
        check_name("tenant", tenant)?;
        self.read(|conn| Ok(write::load_quota(conn, tenant)?.map(|(q, _)| q)))
    }

    fn delete_quota(&self, tenant: &str) -> Result<bool, UsageError> {
        check_name("tenant", tenant)?;
        self.write(|tx| Ok(tx.execute("DELETE FROM quotas WHERE tenant = ?1", [tenant])? > 0))
    }

    fn check_ready(&self) -> Result<(), UsageError> {
        // On a read connection, so a long batch holding the writer does not delay the probe.
        self.read(|conn| Ok(sqlite_kit::schema_version(conn).map(drop)?))
    }
}
