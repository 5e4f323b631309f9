//! Shared SQLite plumbing for the stores of this workspace (policy store, usage store).
//!
//! Everything about *how* a database is opened lives here, once: the connection settings
//! ([`open`]), ordered embedded migrations versioned through `PRAGMA user_version`
//! ([`Migration`]), write transactions that take the write lock up front ([`write_tx`]), and
//! the write connection that commits concurrent single writes together ([`GroupWriter`]), and
//! the watch that tells an in-memory cache when the file changed ([`ChangeWatch`]).
//! Knows nothing of the stores' tables.
#![deny(missing_docs)]

mod group;
mod wal_index;
mod watch;

pub use group::{GroupStats, GroupWriter, QueuedWrite};
pub use watch::{ChangeWatch, Version};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long a connection waits for another writer's lock before giving up with `SQLITE_BUSY`.
/// Writers hold the lock for one short transaction, so hitting this means something is stuck.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// WAL pages after which a commit checkpoints (copies the WAL into the database file), about
/// 40 MiB at 4 KiB pages; SQLite's default is 1,000. The checkpoint runs in the committing
/// connection, holding up every write behind it, and a page written many times (a roll-up's,
/// an index's last leaf) is copied once per checkpoint however often it was rewritten, so
/// fewer, larger checkpoints copy less. Measured with single meter events over HTTP under
/// load (`load` bench in admin-api, `LOAD_ONLY=meter`, three alternating 8-second runs each):
/// 32.1, 36.2 and 32.7 % of the liveness route's throughput at 1,000 pages against 39.0,
/// 38.2 and 37.5 % at 10,000. The price is a WAL file of up to about 40 MiB (see
/// [`WAL_SIZE_LIMIT_BYTES`]) and a longer recovery after a crash. (The checkpoint's fsyncs are
/// not what costs: at 10,000 pages they took about 30 ms every 2.5 s under that load.)
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// Size the WAL file is cut back to when a checkpoint resets it, if a large transaction (a
/// batch, a rebuild) grew it beyond: 64 MiB, above the autocheckpoint's 40 MiB, so the steady
/// state never truncates and regrows the file.
pub const WAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Errors from opening or migrating a database.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// SQLite reported an error.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer build whose schema this build does not know.
    #[error(
        "database schema version {found} is newer than this build knows ({known}); upgrade the binary"
    )]
    NewerSchema {
        /// `user_version` found in the file.
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
}

/// One schema step. `version` starts at 1 and increases by one per step; `sql` may hold several
/// statements and runs inside one transaction together with the version bump.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The schema version this step produces.
    pub version: i64,
    /// The statements of the step.
    pub sql: &'static str,
}

/// Opens (creating if needed) a database file with the workspace's connection settings, then
/// brings its schema up to date.
///
/// Settings, stated once here:
/// * `journal_mode = WAL`: readers never block the writer and the writer never blocks readers.
/// * `synchronous = NORMAL`: in WAL mode a committed transaction survives a crash or `SIGKILL`
///   of the process (the WAL is in the OS page cache); only an OS crash or power loss can lose
///   the last few commits, never corrupt the file. `FULL` would fsync every commit, which costs
///   more than the whole ingest of a trajectory; stores that need power-loss durability can
///   raise it with [`set_synchronous_full`].
/// * `busy_timeout = BUSY_TIMEOUT`: concurrent writers queue instead of failing.
/// * `foreign_keys = ON`: the schema's references are enforced.
/// * `wal_autocheckpoint = WAL_AUTOCHECKPOINT_PAGES` and `journal_size_limit =
///   WAL_SIZE_LIMIT_BYTES`: see those constants.
pub fn open(path: &Path, migrations: &[Migration]) -> Result<Connection, KitError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    configure(&conn)?;
    migrate(&conn, migrations)?;
    Ok(conn)
}

/// Applies the connection settings described on [`open`] to an already open connection.
pub fn configure(conn: &Connection) -> Result<(), KitError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    // In-memory databases report "memory"; they cannot use WAL and need not.
    debug_assert!(mode == "wal" || mode == "memory", "journal_mode is {mode}");
    conn.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}; \
         PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES};"
    ))?;
    Ok(())
}

/// Raises durability to an fsync on every commit (survives power loss, slower writes).
pub fn set_synchronous_full(conn: &Connection) -> Result<(), KitError> {
    conn.execute_batch("PRAGMA synchronous = FULL;")?;
    Ok(())
}

/// The schema version recorded in the database (0 for a new file).
pub fn schema_version(conn: &Connection) -> Result<i64, KitError> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Applies, in order, every migration newer than the database's `user_version`, each in its own
/// `BEGIN IMMEDIATE` transaction together with its version bump, so a crash mid-upgrade leaves
/// the file at the last complete version.
pub fn migrate(conn: &Connection, migrations: &[Migration]) -> Result<(), KitError> {
    for (index, step) in migrations.iter().enumerate() {
        let expected = index as i64 + 1;
        if step.version != expected {
            return Err(KitError::BadMigrationList {
                expected,
                found: step.version,
            });
        }
    }
    let known = migrations.len() as i64;
    let found = schema_version(conn)?;
    if found > known {
        return Err(KitError::NewerSchema { found, known });
    }
    for step in &migrations[found as usize..] {
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        if schema_version(&tx)? >= step.version {
            continue;
        }
        tx.execute_batch(step.sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", step.version))?;
        tx.commit()?;
    }
    Ok(())
}

/// Whether `err` is SQLite's "database or disk is full" (`SQLITE_FULL`): writes fail until
/// space is freed, while reads keep working, so callers report it apart from other failures.
pub fn is_disk_full(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DiskFull)
}

/// A fixed set of read-only connections to one database, shared by every thread of a store.
///
/// In WAL mode readers never wait for the writer, so a store keeps one writer behind a mutex
/// and reads through this pool. Each connection has the settings of [`open`] and
/// `query_only = ON`, so a read path cannot write by mistake. [`ReaderPool::get`] takes a free
/// connection if there is one, else waits for the next in turn.
#[derive(Debug)]
pub struct ReaderPool {
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl ReaderPool {
    /// Opens `size` (at least 1) read-only connections to `path`, whose schema the writer
    /// already brought up to `migrations` (a file from a newer build is refused here too).
    pub fn open(path: &Path, migrations: &[Migration], size: usize) -> Result<Self, KitError> {
        let readers = (0..size.max(1))
            .map(|_| {
                let conn = open(path, migrations)?;
                conn.execute_batch("PRAGMA query_only = ON;")?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<_, KitError>>()?;
        Ok(Self {
            readers,
            next: AtomicUsize::new(0),
        })
    }

    /// A free reader if there is one, else the next in turn once it is free.
    pub fn get(&self) -> MutexGuard<'_, Connection> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        for offset in 0..n {
            if let Ok(guard) = self.readers[(start + offset) % n].try_lock() {
                return guard;
            }
        }
        // A panic while a connection was held leaves no transaction open (rusqlite rolls back
        // on drop), so a poisoned connection is still usable.
        self.readers[start % n]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// How many connections the pool holds.
    pub fn size(&self) -> usize {
        self.readers.len()
    }
}

/// Runs `body` in a `BEGIN IMMEDIATE` transaction and commits it if `body` succeeds.
///
/// Taking the write lock at `BEGIN` (rather than at the first write, as a deferred transaction
/// does) means a read-then-write body such as a quota check cannot be invalidated by another
/// writer between its read and its write, and lock waits happen in the busy handler instead of
/// surfacing as `SQLITE_BUSY` mid-transaction. Any error rolls the whole transaction back.
pub fn write_tx<T, E>(
    conn: &mut Connection,
    body: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<rusqlite::Error>,
{
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = body(&tx)?;
    tx.commit()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_readers_read_committed_data_and_cannot_write() {
        let dir = std::env::temp_dir().join(format!("sqlite-kit-pool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pool.db");
        let _ = std::fs::remove_file(&path);
        let writer = open(&path, &[V1]).unwrap();
        writer.execute("INSERT INTO a (x) VALUES (7)", []).unwrap();
        let pool = ReaderPool::open(&path, &[V1], 0).unwrap();
        assert_eq!(pool.size(), 1, "at least one reader");
        let pool = ReaderPool::open(&path, &[V1], 3).unwrap();
        let held = pool.get();
        // With one connection held, the next get takes another instead of waiting.
        let other = pool.get();
        let x: i64 = other
            .query_row("SELECT x FROM a", [], |r| r.get(0))
            .unwrap();
        assert_eq!(x, 7);
        assert!(other.execute("INSERT INTO a (x) VALUES (8)", []).is_err());
        drop((held, other));
        assert!(matches!(
            ReaderPool::open(&path, &[], 1),
            Err(KitError::NewerSchema { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn disk_full_is_told_apart_from_other_failures() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(is_disk_full(&full));
        assert!(!is_disk_full(&busy));
        assert!(!is_disk_full(&rusqlite::Error::QueryReturnedNoRows));
    }

    const V1: Migration = Migration {
        version: 1,
        sql: "CREATE TABLE a (x INTEGER);",
    };
    const V2: Migration = Migration {
        version: 2,
        sql: "ALTER TABLE a ADD COLUMN y TEXT;",
    };

    #[test]
    fn settings_are_applied() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("t.db"), &[V1]).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync, fk), ("wal", 1, 1));
        let pragma = |name: &str| -> i64 {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(
            (pragma("wal_autocheckpoint"), pragma("journal_size_limit")),
            (
                i64::from(WAL_AUTOCHECKPOINT_PAGES),
                WAL_SIZE_LIMIT_BYTES as i64
            )
        );
    }

    #[test]
    fn an_older_database_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = open(&path, &[V1]).unwrap();
        conn.execute("INSERT INTO a (x) VALUES (7)", []).unwrap();
        drop(conn);
        let conn = open(&path, &[V1, V2]).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), 2);
        let (x, y): (i64, Option<String>) = conn
            .query_row("SELECT x, y FROM a", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((x, y), (7, None));
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(open(&path, &[V1, V2]).unwrap());
        let err = open(&path, &[V1]).unwrap_err();
        assert!(
            matches!(err, KitError::NewerSchema { found: 2, known: 1 }),
            "{err}"
        );
    }

    #[test]
    fn a_malformed_migration_list_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = open(&dir.path().join("t.db"), &[V2]).unwrap_err();
        assert!(matches!(
            err,
            KitError::BadMigrationList {
                expected: 1,
                found: 2
            }
        ));
    }

    #[test]
    fn a_failed_write_tx_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("t.db"), &[V1]).unwrap();
        let result: Result<(), rusqlite::Error> = write_tx(&mut conn, |tx| {
            tx.execute("INSERT INTO a (x) VALUES (1)", [])?;
            tx.execute("INSERT INTO missing (x) VALUES (1)", [])?;
            Ok(())
        });
        assert!(result.is_err());
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM a", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }
}
