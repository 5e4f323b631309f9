//! The usage store on PostgreSQL: [`PostgresUsageStore`] implements
//! [`usage_store::UsageBackend`] with the SQLite backend's tables (an append-only event log,
//! hourly and daily roll-ups, quotas; see [`schema`]) in one schema (namespace) of a database
//! that several replicas share, opened through `postgres-kit`.
//!
//! How replicas stay exact: every write of a tenant is one READ COMMITTED transaction whose
//! first statement is `pg_advisory_xact_lock` on the tenant's key ([`tenant_lock_key`]), so
//! the writers of one tenant, on every replica, run one at a time, and every statement after
//! the lock sees every write committed before it. The idempotency check, the quota check
//! (`used + requested <= limit` in integer micro-units), the append and the roll-ups are then
//! one atomic step. A batch locks all its tenants first, in ascending key order, so two
//! batches can never wait for each other in a circle.
//!
//! The rules are the trait crate's (`MeterEvent::validate`, `Quota::limit_micros`,
//! `HistoryQuery::range`); this crate reads and writes rows. A full database (`53100`) is
//! `UsageError::StorageFull`, any other failure `UsageError::Storage`, the driver's (or
//! postgres-kit's) error as the `source()`.
//!
//! The event log is partitioned by month of recording; idempotency keys live in their own
//! table, and old months are dropped whole by [`PostgresUsageStore::drop_events_before`]
//! (the rule, and what it loses, is in [`retention`]).
#![deny(missing_docs)]

mod backend;
mod batch;
mod error;
mod query;
pub mod retention;
pub mod schema;
mod write;

pub use retention::{DroppedPartition, EventRetention};

use error::{Fail, kit, storage};
use postgres::Transaction;
use postgres_kit::partitions::MonthPartitions;
use postgres_kit::{Clock, Options, Pool};
use usage_store::{DEFAULT_MAX_FUTURE_SKEW_MS, UsageError};

/// The PostgreSQL schema the usage store uses unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "otc_usage";
/// What `pg_stat_activity` shows for the store's sessions (unless the URL names another).
pub const APPLICATION_NAME: &str = "otc-usage-store";
/// The partitioned event log (see [`schema`]).
const EVENTS: &str = "meter_events";

/// The usage store in one schema of a PostgreSQL database, with a small pool of sessions.
/// `Send + Sync`: share it in an `Arc`. Each handle is, to the others, another replica.
#[derive(Debug)]
pub struct PostgresUsageStore {
    pool: Pool,
    max_future_skew_ms: i64,
    /// The months of the event log this handle knows to have a partition.
    partitions: MonthPartitions,
    clock: Clock,
}

impl PostgresUsageStore {
    /// Opens the store in `schema` of the database at `url` (creating the schema and its tables
    /// if needed) with the default pool; a schema from a newer build is refused (a storage
    /// error whose source is `postgres_kit::KitError::NewerSchema`).
    pub fn open(url: &str, schema: &str) -> Result<Self, UsageError> {
        Self::open_with(&Options::new(url, schema, APPLICATION_NAME).map_err(kit)?)
    }

    /// [`PostgresUsageStore::open`] with every connection option stated by the caller.
    pub fn open_with(options: &Options) -> Result<Self, UsageError> {
        let pool = postgres_kit::open(options, schema::MIGRATIONS).map_err(kit)?;
        let store = Self {
            pool,
            max_future_skew_ms: DEFAULT_MAX_FUTURE_SKEW_MS,
            partitions: MonthPartitions::default(),
            clock: Clock::default(),
        };
        // This month and the next, so writers seldom create a partition (and take the log's
        // lock to do it) at the turn of a month.
        let mut conn = store.pool.get().map_err(kit)?;
        store
            .partitions
            .ensure_ahead(&mut conn, EVENTS, store.clock.now_ms())
            .map_err(storage)?;
        drop(conn);
        Ok(store)
    }

    /// Sets how far past the store's clock an event's `timestamp_ms` may be (default
    /// [`DEFAULT_MAX_FUTURE_SKEW_MS`]).
    pub fn with_max_future_skew_ms(mut self, skew_ms: i64) -> Self {
        self.max_future_skew_ms = skew_ms;
        self
    }

    /// Replaces the store's clock (the time events are recorded at, and the "now" of input
    /// checks and retention) with `now`. For tests that record events in several months.
    #[doc(hidden)]
    pub fn with_clock(mut self, now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Clock::from_fn(now);
        self
    }

    /// The store's PostgreSQL schema.
    pub fn schema(&self) -> &str {
        self.pool.schema()
    }

    /// The store's time now, in Unix ms.
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// [`Self::write`] for a write that appends events recorded at `recorded_ms`: first makes
    /// sure the log has that month's partition, as a statement of its own on the same session
    /// (a set lookup after the first time). Should the partition be gone anyway (dropped behind
    /// this handle's back), the insert fails, nothing is written, and this handle forgets the
    /// months it knew, so the next write makes the partition again.
    fn write_events<'t, T>(
        &self,
        recorded_ms: i64,
        tenants: impl IntoIterator<Item = &'t str>,
        body: impl FnOnce(&mut Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T, UsageError> {
        let mut conn = self.pool.get().map_err(kit)?;
        self.partitions
            .ensure(&mut conn, EVENTS, recorded_ms)
            .map_err(storage)?;
        let result = self.write_on(&mut conn, tenants, body);
        if result.as_ref().is_err_and(error::no_partition) {
            self.partitions.forget();
        }
        result
    }

    /// Runs `body` in one write transaction that first holds the lock of every tenant in
    /// `tenants` (see the crate docs); any error rolls it back.
    fn write<'t, T>(
        &self,
        tenants: impl IntoIterator<Item = &'t str>,
        body: impl FnOnce(&mut Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T, UsageError> {
        self.write_on(&mut *self.pool.get().map_err(kit)?, tenants, body)
    }

    /// [`Self::write`] on a session already taken from the pool.
    fn write_on<'t, T>(
        &self,
        conn: &mut postgres::Client,
        tenants: impl IntoIterator<Item = &'t str>,
        body: impl FnOnce(&mut Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T, UsageError> {
        let mut keys: Vec<i64> = tenants
            .into_iter()
            .map(|tenant| tenant_lock_key(self.schema(), tenant))
            .collect();
        // One fixed order for every writer: no two transactions wait for each other in a circle.
        keys.sort_unstable();
        keys.dedup();
        // Integers only, so the keys are written into the SQL and all of them are taken in one
        // round trip (a simple-protocol batch runs its statements in order).
        let lock: String = keys
            .iter()
            .map(|key| format!("SELECT pg_advisory_xact_lock({key});"))
            .collect();
        Ok(postgres_kit::write_tx(conn, |tx| {
            if !lock.is_empty() {
                tx.batch_execute(&lock)?;
            }
            body(tx)
        })?)
    }

    /// Runs `body` on one snapshot (a read of several statements: a quota and its usage).
    fn read<T>(
        &self,
        body: impl FnOnce(&mut Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T, UsageError> {
        let mut conn = self.pool.get().map_err(kit)?;
        Ok(postgres_kit::read_tx(&mut conn, body)?)
    }

    /// Runs a one-statement read on a pooled session (no transaction needed).
    fn read_one<T>(
        &self,
        body: impl FnOnce(&mut postgres::Client) -> Result<T, Fail>,
    ) -> Result<T, UsageError> {
        Ok(body(&mut *self.pool.get().map_err(kit)?)?)
    }
}

/// The advisory lock key of a tenant's writes in the store's `schema`. The schema is part of
/// the name because advisory locks are database-wide: two stores (or test schemas) in one
/// database must not wait for each other's tenants.
pub fn tenant_lock_key(schema: &str, tenant: &str) -> i64 {
    // Schema names hold no space (postgres-kit checks them), so the name is unambiguous.
    postgres_kit::advisory_lock_key(&format!("usage-store tenant {schema} {tenant}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_lock_keys_are_stable_and_per_schema_and_tenant() {
        let key = tenant_lock_key("otc_usage", "acme");
        assert_eq!(key, tenant_lock_key("otc_usage", "acme"));
        assert_ne!(key, tenant_lock_key("otc_usage", "acme2"));
        assert_ne!(key, tenant_lock_key("otc_test_1", "acme"));
        // Pinned: replicas of different builds must agree on the key.
        assert_eq!(
            key,
            postgres_kit::advisory_lock_key("usage-store tenant otc_usage acme")
        );
    }

    #[test]
    fn a_malformed_url_is_a_storage_error() {
        let err = PostgresUsageStore::open("postgres://h:notaport/db", DEFAULT_SCHEMA).unwrap_err();
        assert!(matches!(err, UsageError::Storage(_)), "{err:?}");
    }
}
