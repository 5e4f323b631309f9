//! The policy store on PostgreSQL: [`PostgresPolicyStore`] implements [`PolicyBackend`] in one
//! schema (namespace) of a database that several admin-api replicas may share: the append-only
//! trajectory log, reward events, decisions and the checkpoints, in the SQLite backend's tables
//! (see `schema.rs`). The policy is the pure `otc-policy` crate's, exactly as for SQLite: every
//! trajectory is folded through `CombinationState::observe` in log order and each checkpoint is
//! stored as the bytes of `otc_policy::blob` (BYTEA), so both backends fed the same log hold the
//! same checkpoints and make the same decisions (the conformance suite checks it).
//!
//! # Correct across replicas
//!
//! Every write (ingest, decide, rebuild, prune, recording the config) is one READ COMMITTED
//! transaction whose first statement is `LOCK TABLE write_lock IN SHARE ROW EXCLUSIVE MODE`, the
//! admin store's rule: the lock conflicts with itself and not with plain reads, so the writers of
//! every replica run one at a time, as under SQLite's `BEGIN IMMEDIATE`, and each statement after
//! the lock sees every commit made before it. Hence: a trajectory retried on another replica
//! finds the first one's row and is a duplicate (or a conflict), compared inside the
//! transaction; the log order (`trajectory_log.id`, assigned under the lock) is the order in
//! which ingests folded the checkpoints, so a rebuild on one replica reproduces what ingests on
//! all of them computed and cannot interleave with them; a decision id is assigned and logged in
//! one transaction under the lock, so two replicas never give the same id. Reads never wait for
//! the lock; a read of several statements runs on one snapshot.
//!
//! # Big logs
//!
//! `trajectory_log`, `reward_events` and `decisions` are partitioned by month (schema v4);
//! [`PostgresPolicyStore::drop_log_before`] drops the months before a cut and keeps what the
//! policy needs (see `retention.rs` for the rule). A rebuild replays the log from one snapshot
//! without the writer lock and takes the lock only for the rows logged since and the write
//! (`rebuild.rs`), so a long log does not stall the other replicas' writers.
//!
//! # Advice from memory
//!
//! `recommend` holds its answers under the checkpoints' version (schema v5, `policy_epoch`,
//! bumped by a trigger); [`PolicyBackend::recommend_when_current`] serves one once a version
//! read begun after the call confirms it, a read shared by every request waiting for it
//! (`memory.rs`), so an answer from memory is never older than a write any replica
//! acknowledged before the call.
//!
//! # Errors
//!
//! `53100 disk_full` is [`PolicyError::StorageFull`], every other driver or postgres-kit failure
//! [`PolicyError::Storage`], the original kept as the `source()`: `postgres` types stop at this
//! crate's boundary.
#![deny(missing_docs)]

mod decide;
mod ids;
mod ingest;
mod memory;
mod read;
mod rebuild;
mod replay;
mod retention;
pub mod schema;

pub use retention::{RetentionError, RetentionReport};
pub use schema::MIGRATIONS;

use ids::IdCache;
use memory::AdviceMemory;
use otc_policy::{Checkpoint, Decision, PolicyConfig, Recommendation, Trajectory};
use policy_store::{
    BatchReport, CheckpointPage, IngestOutcome, PolicyBackend, PolicyError, RebuildReport,
    RewardEvent,
};
use postgres::Transaction;
use postgres_kit::partitions::MonthPartitions;
use postgres_kit::{Clock, ErrorClass, KitError, Options, Pool};
use std::sync::Arc;

/// The PostgreSQL schema the policy store uses unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "otc_policy";
/// What `pg_stat_activity` shows for the store's sessions (unless the URL names another).
pub const APPLICATION_NAME: &str = "otc-policy-store";

/// Takes the store's writer lock; the first statement of every write transaction.
const WRITE_LOCK: &str = "LOCK TABLE write_lock IN SHARE ROW EXCLUSIVE MODE";

/// A PostgreSQL failure as the store's error: a full disk apart, everything else internal.
fn storage(err: postgres::Error) -> PolicyError {
    match ErrorClass::of(&err) {
        ErrorClass::StorageFull => PolicyError::StorageFull(Box::new(err)),
        _ => PolicyError::Storage(Box::new(err)),
    }
}

/// A postgres-kit failure (connecting, pooling, migrating) as the store's error.
fn kit(err: KitError) -> PolicyError {
    match err {
        KitError::Postgres(e) => storage(e),
        other => PolicyError::Storage(Box::new(other)),
    }
}

/// The error of the store's internals: a [`PolicyError`] that `?` can also make from the
/// driver's errors, which `postgres_kit::write_tx` requires of its body's error type (the orphan
/// rule forbids `From<postgres::Error> for PolicyError` here). It becomes a `PolicyError` at the
/// trait's boundary.
#[derive(Debug)]
struct Fail(PolicyError);

impl From<postgres::Error> for Fail {
    fn from(err: postgres::Error) -> Self {
        Self(storage(err))
    }
}

impl From<KitError> for Fail {
    fn from(err: KitError) -> Self {
        Self(kit(err))
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

/// The policy store in one schema of a PostgreSQL database, with a small pool of sessions.
/// `Send + Sync`; share it in an `Arc`. Several handles (in one process or in several
/// replicas) may use the same schema at once.
#[derive(Debug)]
pub struct PostgresPolicyStore {
    pool: Arc<Pool>,
    config: PolicyConfig,
    config_id: i64,
    ids: IdCache,
    /// Months known to have their partitions (see `write_logged`).
    months: MonthPartitions,
    /// The store's clock (Unix ms): `logged_ms`, `decided_ms`, validation's "now".
    clock: Clock,
    /// Answers of `recommend`, served once the database confirms them (`memory.rs`).
    memory: AdviceMemory,
}

/// The store's partitioned tables (schema v4), each with a partition per UTC month.
const PARTITIONED: [&str; 3] = ["trajectory_log", "reward_events", "decisions"];

impl PostgresPolicyStore {
    /// Opens the store in `schema` of the database at `url` (creating the schema and its
    /// tables if needed) with `config`, which is recorded in `reward_configs` so reward events
    /// and decisions can point at it. A schema from a newer build is refused (`Storage`, whose
    /// source is `postgres_kit::KitError::NewerSchema`).
    pub fn open(url: &str, schema: &str, config: PolicyConfig) -> Result<Self, PolicyError> {
        Self::open_with(
            &Options::new(url, schema, APPLICATION_NAME).map_err(kit)?,
            config,
        )
    }

    /// [`PostgresPolicyStore::open`] with every connection option stated by the caller.
    pub fn open_with(options: &Options, config: PolicyConfig) -> Result<Self, PolicyError> {
        if let Some(problem) = config.problem() {
            return Err(PolicyError::InvalidConfig(problem));
        }
        let config_json = serde_json::to_string(&config)
            .map_err(|e| PolicyError::InvalidConfig(e.to_string()))?;
        let pool = Arc::new(postgres_kit::open(options, MIGRATIONS).map_err(kit)?);
        let mut conn = pool.get().map_err(kit)?;
        let config_id = write_tx(&mut conn, |tx| {
            tx.execute(
                "INSERT INTO reward_configs (config_json) VALUES ($1)
                 ON CONFLICT (config_json) DO NOTHING",
                &[&config_json],
            )?;
            let row = tx.query_one(
                "SELECT id FROM reward_configs WHERE config_json = $1",
                &[&config_json],
            )?;
            Ok(row.get(0))
        })?;
        let months = MonthPartitions::default();
        for parent in PARTITIONED {
            months
                .ensure_ahead(&mut conn, parent, now_ms())
                .map_err(storage)?;
        }
        drop(conn);
        // Unlike SQLite, no "rebuild if upgraded" step: this schema has never had an older
        // checkpoint format to drop.
        Ok(Self {
            memory: AdviceMemory::new(Arc::clone(&pool)),
            pool,
            config,
            config_id,
            ids: IdCache::default(),
            months,
            clock: Clock::default(),
        })
    }

    /// The configuration scores and checkpoints are computed with.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The store with another clock, for tests that log rows in months other than this one
    /// (retention). Not for production: the store's times must come from one real clock.
    #[doc(hidden)]
    pub fn with_clock(mut self, now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Clock::from_fn(now);
        self
    }

    /// Now, by the store's clock.
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The store's PostgreSQL schema.
    pub fn schema(&self) -> &str {
        self.pool.schema()
    }

    /// Runs `body` in one write transaction that holds the store's writer lock; any error
    /// rolls it back.
    fn write<T>(
        &self,
        body: impl FnOnce(&mut Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T, Fail> {
        let mut conn = self.pool.get()?;
        write_tx(&mut conn, body)
    }

    /// [`Self::write`] for a write that logs rows at `at_ms` into the partitioned `parents`:
    /// their partitions of that month are made sure of first, each by a statement of its own
    /// (a set lookup once this process has seen the month), so the write never creates one.
    fn write_logged<T>(
        &self,
        parents: &[&'static str],
        at_ms: i64,
        body: impl FnOnce(&mut Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T, Fail> {
        let mut conn = self.pool.get()?;
        for parent in parents {
            self.months.ensure(&mut conn, parent, at_ms)?;
        }
        write_tx(&mut conn, body)
    }

    /// Runs `body` on one snapshot (a read of several statements).
    fn read<T>(
        &self,
        body: impl FnOnce(&mut Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T, Fail> {
        let mut conn = self.pool.get()?;
        postgres_kit::read_tx(&mut conn, body)
    }
}

/// A write transaction on `conn` whose first statement takes the writer lock.
fn write_tx<T>(
    conn: &mut postgres::Client,
    body: impl FnOnce(&mut Transaction<'_>) -> Result<T, Fail>,
) -> Result<T, Fail> {
    postgres_kit::write_tx(conn, |tx| {
        tx.batch_execute(WRITE_LOCK)?;
        body(tx)
    })
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl PolicyBackend for PostgresPolicyStore {
    fn ingest(&self, trajectory: &Trajectory) -> Result<IngestOutcome, PolicyError> {
        BatchReport::into_single(self.ingest_batch(std::slice::from_ref(trajectory)))
    }

    fn ingest_batch(&self, trajectories: &[Trajectory]) -> Result<BatchReport, PolicyError> {
        Ok(ingest::ingest_batch(self, trajectories)?)
    }

    fn recommend(&self, intent: &str, modules: &[String]) -> Result<Recommendation, PolicyError> {
        Ok(read::recommend(self, intent, modules)?)
    }

    fn recommend_when_current(
        &self,
        intent: &str,
        modules: &[String],
    ) -> Option<policy_store::CurrentAdvice> {
        otc_policy::trajectory::check_names(intent, modules).ok()?;
        self.memory.when_current(intent, modules)
    }

    fn decide(&self, intent: &str, modules: &[String]) -> Result<Decision, PolicyError> {
        Ok(decide::decide(self, intent, modules)?)
    }

    fn prune_decisions(&self, before_ms: i64) -> Result<u64, PolicyError> {
        Ok(decide::prune(self, before_ms)?)
    }

    fn reward_event(&self, request_id: &str) -> Result<Option<RewardEvent>, PolicyError> {
        Ok(read::reward_event(self, request_id)?)
    }

    fn stored_run_units(&self, request_id: &str) -> Result<Option<f64>, PolicyError> {
        let mut conn = self.pool.get().map_err(kit)?;
        let row = conn
            .query_opt(
                "SELECT t.run_units FROM trajectory_keys k
                 JOIN trajectory_log t ON t.id = k.trajectory_id AND t.logged_ms = k.logged_ms
                 WHERE k.request_id = $1",
                &[&request_id],
            )
            .map_err(storage)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn checkpoint_page(
        &self,
        intent: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<CheckpointPage, PolicyError> {
        Ok(read::checkpoint_page(self, intent, offset, limit)?)
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, PolicyError> {
        Ok(read::checkpoint_page(self, None, 0, u64::MAX)?.checkpoints)
    }

    fn rebuild(&self) -> Result<RebuildReport, PolicyError> {
        Ok(rebuild::rebuild(self)?)
    }

    fn export(
        &self,
        visit: &mut dyn FnMut(&Trajectory) -> Result<(), PolicyError>,
    ) -> Result<u64, PolicyError> {
        Ok(read::export(self, visit)?)
    }

    fn replay_log(
        &self,
        replay: &mut otc_policy::evaluate::Replay,
        until_ms: Option<i64>,
    ) -> Result<(), PolicyError> {
        policy_store::replay::run(replay, |emit| Ok(replay::read_log(self, until_ms, emit)?))
    }

    fn check_ready(&self) -> Result<(), PolicyError> {
        // One index read of the migrations table, however large the log; nothing written.
        let mut conn = self.pool.get().map_err(kit)?;
        postgres_kit::schema_version(&mut *conn)
            .map(drop)
            .map_err(kit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kit_errors_are_storage_errors_with_their_source() {
        let newer = kit(KitError::NewerSchema {
            schema: DEFAULT_SCHEMA.into(),
            found: 3,
            known: 1,
        });
        let PolicyError::Storage(source) = &newer else {
            panic!("expected Storage, got {newer:?}");
        };
        assert!(source.to_string().contains("newer than this build"));
    }

    #[test]
    fn a_malformed_url_is_a_storage_error() {
        let err = PostgresPolicyStore::open(
            "postgres://h:notaport/db",
            DEFAULT_SCHEMA,
            PolicyConfig::default(),
        )
        .unwrap_err();
        assert!(matches!(err, PolicyError::Storage(_)), "{err:?}");
    }

    #[test]
    fn the_store_is_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<PostgresPolicyStore>();
    }
}
