//! Shared PostgreSQL plumbing for the stores of this workspace: the counterpart of `sqlite-kit`.
//!
//! Everything about *how* a PostgreSQL database is used lives here, once:
//! * [`open`] parses a URL, states every session setting ([`Options`], [`session_setup`]),
//!   creates the store's schema, brings it up to date with ordered embedded migrations
//!   ([`Migration`], versioned in the schema's own `schema_migrations` table) and returns a
//!   small connection [`Pool`].
//! * Each store lives in its own PostgreSQL schema (namespace), set as the `search_path` of
//!   every connection, so several stores share one database, and tests use a fresh schema each.
//! * [`partitions`]: monthly time partitions of the big logs (made ahead, dropped whole by
//!   retention).
//! * [`ErrorClass`] sorts the server's errors for the stores' error types (a full disk, a
//!   unique violation, a conflict worth retrying).
//!
//! Knows nothing of the stores' tables.
#![deny(missing_docs)]

mod classify;
mod clock;
mod migrate;
pub mod partitions;
mod pool;
#[cfg(feature = "testing")]
pub mod testing;

pub use classify::ErrorClass;
pub use clock::Clock;
pub use migrate::{MIGRATIONS_TABLE, Migration, schema_version};
pub use pool::{CHECK_IDLE_AFTER, Conn, Pool};

use std::time::Duration;

/// A statement running longer than this is cancelled by the server. The stores' statements are
/// short; one this slow is stuck, and must not hold a pooled connection (and its locks) forever.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a statement waits for a lock held by another transaction (another replica's writer)
/// before failing; the counterpart of sqlite-kit's `BUSY_TIMEOUT`. Writers hold locks for one
/// short transaction, so hitting this means something is stuck.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// A session left idle inside an open transaction (a client that died between statements) is
/// closed by the server after this, which releases its locks.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long opening a connection may take (an unreachable server fails fast).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Pool::get`] waits for a free connection when all are in use.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per pool unless [`Options::pool_size`] says otherwise: the stores' calls are
/// short and run on tokio's blocking pool; a few connections per store and replica keep the
/// server's `max_connections` (100 by default) enough for many replicas.
pub const DEFAULT_POOL_SIZE: usize = 4;

/// Errors from connecting, pooling or migrating.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// The server (or the connection to it) reported an error; [`ErrorClass::of`] sorts it.
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    /// The database URL does not parse. The URL itself is not repeated: it may hold a password.
    #[error("the database URL is malformed")]
    BadUrl(#[source] postgres::Error),
    /// A schema name that is not a plain lower-case identifier (see [`check_schema_name`]).
    #[error("schema name {0:?} must be 1 to 63 of a-z, 0-9 and _, not starting with a digit")]
    BadSchemaName(String),
    /// The store's schema was written by a newer build whose migrations this build lacks.
    #[error(
        "database schema `{schema}` is at version {found}, newer than this build knows ({known}); upgrade the binary"
    )]
    NewerSchema {
        /// The PostgreSQL schema (namespace) of the store.
        schema: String,
        /// Highest version recorded in its `schema_migrations` table.
        found: i64,
        /// Highest version this build's migrations reach.
        known: i64,
    },
    /// The migration list itself is malformed (versions must be 1, 2, 3, ... in order).
    #[error("migration list is malformed: expected version {expected}, found {found}")]
    BadMigrationList {
        /// Version expected at this position.
        expected: i64,
        /// Version found.
        found: i64,
    },
    /// Every connection of the pool stayed in use for [`ACQUIRE_TIMEOUT`].
    #[error("no free database connection within {0:?} (all {1} in use)")]
    PoolExhausted(Duration, usize),
}

impl KitError {
    /// How the server's error, if this is one, should be reported ([`ErrorClass::Other`] for
    /// every error that is not the server's).
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Postgres(e) => ErrorClass::of(e),
            _ => ErrorClass::Other,
        }
    }
}

/// Where and how a store connects.
#[derive(Debug, Clone)]
pub struct Options {
    config: postgres::Config,
    schema: String,
    pool_size: usize,
    acquire_timeout: Duration,
}

impl Options {
    /// A store in `schema` of the database at `url` (`postgres://user@host:port/db`, or the
    /// `key=value` form), with [`DEFAULT_POOL_SIZE`] connections. `application_name` is what
    /// `pg_stat_activity` shows for these sessions unless the URL names one.
    pub fn new(url: &str, schema: &str, application_name: &str) -> Result<Self, KitError> {
        check_schema_name(schema)?;
        let mut config: postgres::Config = url.parse().map_err(KitError::BadUrl)?;
        if config.get_application_name().is_none() {
            config.application_name(application_name);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        Ok(Self {
            config,
            schema: schema.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            acquire_timeout: ACQUIRE_TIMEOUT,
        })
    }

    /// Sets the most connections the pool opens (at least 1).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// Sets how long [`Pool::get`] waits for a free session (default [`ACQUIRE_TIMEOUT`]).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The store's PostgreSQL schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The parsed connection settings (`Debug` hides the password).
    pub fn config(&self) -> &postgres::Config {
        &self.config
    }
}

/// Refuses a schema name that is not a plain lower-case identifier of at most 63 bytes
/// (PostgreSQL's limit), so it can be written into SQL (always quoted) without escaping rules.
pub fn check_schema_name(schema: &str) -> Result<(), KitError> {
    let plain = (1..=63).contains(&schema.len())
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit();
    if plain {
        Ok(())
    } else {
        Err(KitError::BadSchemaName(schema.to_owned()))
    }
}

/// The statements every new connection runs before it is used, stated once:
/// * `search_path` is the store's schema alone: its tables need no prefix, a table of another
///   store (or of `public`) cannot be reached by mistake, and built-ins stay visible
///   (`pg_catalog` is always searched).
/// * `statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout`: see
///   [`STATEMENT_TIMEOUT`], [`LOCK_TIMEOUT`] and [`IDLE_IN_TRANSACTION_TIMEOUT`].
/// * `default_transaction_isolation = 'read committed'`, whatever the server's default: the
///   stores' write transactions serialize themselves with explicit locks (see the admin
///   store), and under READ COMMITTED each statement after a lock sees every commit made
///   before the lock was granted.
/// * `TimeZone = 'UTC'`: times are stored as integer milliseconds, but `now()` and logs in
///   the server's session then read the same on every replica.
///
/// `synchronous_commit` is left at the server's setting (on by default: a commit that
/// returned survives a server crash), which is the operator's durability choice.
pub fn session_setup(schema: &str) -> Result<String, KitError> {
    check_schema_name(schema)?;
    Ok(format!(
        "SET search_path TO \"{schema}\";
         SET statement_timeout = {};
         SET lock_timeout = {};
         SET idle_in_transaction_session_timeout = {};
         SET default_transaction_isolation = 'read committed';
         SET TimeZone = 'UTC';",
        STATEMENT_TIMEOUT.as_millis(),
        LOCK_TIMEOUT.as_millis(),
        IDLE_IN_TRANSACTION_TIMEOUT.as_millis(),
    ))
}

/// Opens a pool on the store's schema and brings the schema up to date: creates it if
/// needed, applies every migration newer than its `schema_migrations` version (see
/// [`Migration`]) and refuses a schema from a newer build ([`KitError::NewerSchema`]).
/// Several replicas may open the same store at once; migrations are serialized between them.
pub fn open(options: &Options, migrations: &[Migration]) -> Result<Pool, KitError> {
    migrate::check_list(migrations)?;
    let pool = Pool::new(options)?;
    migrate::migrate(&mut *pool.get()?, &options.schema, migrations)?;
    Ok(pool)
}

/// Runs `body` in one READ COMMITTED transaction and commits it if `body` succeeds; any error
/// (or a panic) rolls it back.
pub fn write_tx<T, E>(
    conn: &mut postgres::Client,
    body: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<postgres::Error>,
{
    let mut tx = conn.transaction()?;
    let value = body(&mut tx)?;
    tx.commit()?;
    Ok(value)
}

/// Runs `body` in one `REPEATABLE READ, READ ONLY` transaction: every statement of a read that
/// takes several (a page and its total) sees the same snapshot, and a read path cannot write.
pub fn read_tx<T, E>(
    conn: &mut postgres::Client,
    body: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<postgres::Error>,
{
    let mut tx = conn
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let value = body(&mut tx)?;
    tx.commit()?;
    Ok(value)
}

/// A key for `pg_advisory_xact_lock` named by `name`: 64-bit FNV-1a of its bytes. Stable across
/// builds and platforms (unlike `std`'s hasher), so replicas of different builds agree on it.
/// Advisory locks are database-wide, so a name should include the store's schema; a
/// collision of two names only makes their holders wait for each other.
pub fn advisory_lock_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["otc_admin", "a", "t_123_x", &"s".repeat(63)] {
            assert!(check_schema_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "Admin",
            "a-b",
            "a b",
            "a\"b",
            "ä",
            &"s".repeat(64),
        ] {
            assert!(
                matches!(check_schema_name(bad), Err(KitError::BadSchemaName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn options_fill_in_what_the_url_leaves_out() {
        let options = Options::new("postgres://u@127.0.0.1:5432/db", "otc_admin", "otc-admin")
            .unwrap()
            .pool_size(0);
        assert_eq!(options.pool_size, 1, "at least one connection");
        assert_eq!(options.config().get_application_name(), Some("otc-admin"));
        assert_eq!(
            options.config().get_connect_timeout(),
            Some(&CONNECT_TIMEOUT)
        );
        let named = Options::new(
            "postgres://u@h/db?application_name=mine&connect_timeout=2",
            "s",
            "otc",
        )
        .unwrap();
        assert_eq!(named.config().get_application_name(), Some("mine"));
        assert_eq!(
            named.config().get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
    }

    #[test]
    fn a_malformed_url_is_refused_without_repeating_it() {
        let err = Options::new("postgres://u:hunter2@h:notaport/db", "s", "otc").unwrap_err();
        assert!(matches!(err, KitError::BadUrl(_)), "{err:?}");
        assert!(!err.to_string().contains("hunter2"));
        let options = Options::new("postgres://u:hunter2@h/db", "s", "otc").unwrap();
        assert!(
            !format!("{options:?}").contains("hunter2"),
            "Debug hides it"
        );
    }

    #[test]
    fn every_session_setting_is_stated() {
        let sql = session_setup("otc_admin").unwrap();
        for setting in [
            "search_path TO \"otc_admin\"",
            "statement_timeout = 30000",
            "lock_timeout = 10000",
            "idle_in_transaction_session_timeout = 60000",
            "default_transaction_isolation = 'read committed'",
            "TimeZone = 'UTC'",
        ] {
            assert!(sql.contains(setting), "{setting} missing from {sql}");
        }
        assert!(session_setup("x; DROP").is_err());
    }
}
