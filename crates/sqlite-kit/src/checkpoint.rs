//! Checkpoints of the write-ahead log from a thread of its own.
//!
//! SQLite's automatic checkpoint runs in the connection that commits, right after the commit:
//! every ~1000 WAL pages the committing thread copies pages into the database file and waits
//! on two fsyncs, holding the store's write connection, so every write queued behind it waits
//! too. Measured with 2 cores: checkpointing from a thread of its own took one metering thread
//! from 6.4k to 10.6k events/s and sixteen from 12k to 17.6k. A `Checkpointer` is that
//! thread: it owns a connection of its own and, at most every [`INTERVAL`] after a commit,
//! runs a `PASSIVE` checkpoint, which copies what it can without taking any lock a writer or a
//! reader waits for.
//!
//! Durability does not change: a commit is durable in the WAL (see [`crate::open`]) whether or
//! not its pages were copied yet. The WAL stays bounded: the write connection keeps SQLite's
//! automatic checkpoint as a backstop at [`BACKSTOP_PAGES`] (a checkpoint that finds most pages
//! already copied, after which the next write starts the log over), so a checkpointer that
//! falls behind or fails costs at most what SQLite's default would have.

use rusqlite::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest a commit waits before the checkpointer copies it: commits in between share one
/// checkpoint.
pub const INTERVAL: Duration = Duration::from_millis(20);

/// WAL pages after which the committing connection checkpoints itself (SQLite's default is
/// 1000): a backstop only.
pub const BACKSTOP_PAGES: u32 = 10_000;

/// The checkpoint thread of one write connection; stops and is joined on drop.
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Checkpoints run, for [`crate::GroupStats`].
    done: AtomicU64,
}

#[derive(Default)]
struct State {
    /// A commit happened since the last checkpoint began.
    pending: bool,
    stop: bool,
}

impl Checkpointer {
    /// Starts checkpointing `writer`'s database from a new thread, then raises `writer`'s own
    /// automatic checkpoint to the backstop. `None` (and `writer` unchanged) for an in-memory
    /// database, or if the thread or its connection cannot be made; if only the backstop
    /// cannot be set, SQLite's default stays (more checkpoints on the write path, no harm).
    pub(crate) fn start(writer: &Connection) -> Option<Self> {
        let path = writer.path().filter(|p| !p.is_empty())?;
        let conn = Connection::open(path).ok()?;
        conn.busy_timeout(crate::BUSY_TIMEOUT).ok()?;
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(&conn, &shared)
            })
            .ok()?;
        let _ = writer.pragma_update(None, "wal_autocheckpoint", BACKSTOP_PAGES);
        Some(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// A transaction was committed: checkpoint within [`INTERVAL`].
    pub(crate) fn committed(&self) {
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !state.pending {
            state.pending = true;
            self.shared.wake.notify_one();
        }
    }

    /// Checkpoints run so far.
    pub(crate) fn done(&self) -> u64 {
        self.shared.done.load(Ordering::Relaxed)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread: waits for a commit, lets [`INTERVAL`] pass (or the stop), checkpoints.
fn run(conn: &Connection, shared: &Shared) {
    let lock = || shared.state.lock().unwrap_or_else(PoisonError::into_inner);
    let mut state = lock();
    loop {
        while !state.pending && !state.stop {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.stop {
            return;
        }
        let (after, _) = shared
            .wake
            .wait_timeout_while(state, INTERVAL, |s| !s.stop)
            .unwrap_or_else(PoisonError::into_inner);
        state = after;
        if state.stop {
            return;
        }
        state.pending = false;
        drop(state);
        // A failure (the disk, a lock held by a `RESTART` elsewhere) leaves the pages in the
        // WAL, still durable; the next commit tries again, and the backstop bounds the log.
        if conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .is_ok()
        {
            shared.done.fetch_add(1, Ordering::Relaxed);
        }
        state = lock();
    }
}
