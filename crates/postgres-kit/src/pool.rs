//! A small blocking connection pool: at most `size` sessions, opened on demand with the
//! settings of [`crate::session_setup`], reused while they stay open.
//!
//! Why not r2d2 or deadpool: the stores need only "take a session, give it back, drop it if
//! the server closed it", which is this file; r2d2 would add a scheduler thread and
//! parking_lot's pool machinery, deadpool an async interface the synchronous stores would
//! have to block on.

use crate::{CONNECT_TIMEOUT, KitError, Options, session_setup};
use postgres::{Client, NoTls};
use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A session idle for longer than this is checked with an empty query before it is lent. The
/// synchronous driver only reads the socket during a call, so a session the server closed
/// (restart, failover, `pg_terminate_backend`) looks open until used; checking every checkout
/// would cost the round-trip the pool exists to save, so only sessions idle this long, the
/// likely victims, are checked. A session that fails a call while the server is gone is
/// dropped when it comes back (`is_closed`), so each failure costs one call, not the pool.
pub const CHECK_IDLE_AFTER: Duration = Duration::from_secs(30);

/// Sessions of one store on one database, shared by every thread (`Send + Sync`).
pub struct Pool {
    config: postgres::Config,
    setup: String,
    schema: String,
    size: usize,
    acquire_timeout: Duration,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Default)]
struct State {
    /// Sessions not in use with the time each came back, most recently returned last.
    idle: Vec<(Client, Instant)>,
    /// Sessions open, in use or idle (or being opened).
    open: usize,
}

impl Pool {
    /// A pool that opens no session until one is asked for.
    pub fn new(options: &Options) -> Result<Self, KitError> {
        Ok(Self {
            config: options.config.clone(),
            setup: session_setup(&options.schema)?,
            schema: options.schema.clone(),
            size: options.pool_size,
            acquire_timeout: options.acquire_timeout,
            state: Mutex::new(State::default()),
            freed: Condvar::new(),
        })
    }

    /// The store's PostgreSQL schema (every session's `search_path`).
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The most sessions this pool opens.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Opens a session outside the pool with the same settings (for work that must not
    /// wait for, or hold, a pooled one; and for measuring what the pool saves).
    pub fn connect(&self) -> Result<Client, KitError> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(&self.setup)?;
        Ok(client)
    }

    /// An idle session if there is one, else a new one while fewer than `size` are open, else
    /// the next one returned, waiting at most [`crate::ACQUIRE_TIMEOUT`] (or
    /// [`Options::acquire_timeout`]). A session found closed is dropped instead of being lent
    /// (see [`CHECK_IDLE_AFTER`]).
    pub fn get(&self) -> Result<Conn<'_>, KitError> {
        let deadline = Instant::now() + self.acquire_timeout;
        let mut state = self.lock();
        loop {
            if let Some((mut client, since)) = state.idle.pop() {
                drop(state);
                let alive = !client.is_closed()
                    && (since.elapsed() < CHECK_IDLE_AFTER
                        || client.is_valid(CONNECT_TIMEOUT).is_ok());
                if alive {
                    return Ok(self.lend(client));
                }
                drop(client);
                state = self.lock();
                state.open -= 1;
                continue;
            }
            if state.open < self.size {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(client) => Ok(self.lend(client)),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(KitError::PoolExhausted(self.acquire_timeout, self.size));
            }
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// How many sessions are open (lent or idle), for tests and metrics.
    pub fn open_sessions(&self) -> usize {
        self.lock().open
    }

    fn lend(&self, client: Client) -> Conn<'_> {
        Conn {
            pool: self,
            client: Some(client),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two plain fields updated in single steps; a panic elsewhere while the
        // lock was held cannot leave it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The driver's `Client` has no `Debug`; the config's hides the password.
        f.debug_struct("Pool")
            .field("config", &self.config)
            .field("schema", &self.schema)
            .field("size", &self.size)
            .field("open", &self.open_sessions())
            .finish_non_exhaustive()
    }
}

impl Drop for Pool {
    /// Closes the idle sessions on a thread of their own. Each session owns a small tokio
    /// runtime, and tokio aborts the process when a runtime is dropped on an async worker
    /// thread: where a store happens to be dropped (an application's state at the end of an
    /// async `main`) must not matter. Joined, so every session is closed when this returns.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.lock().idle);
        if !idle.is_empty() {
            std::thread::scope(|s| {
                s.spawn(move || drop(idle));
            });
        }
    }
}

/// A session lent by a [`Pool`]; it goes back when dropped. A transaction left open by a
/// panic was already rolled back by `postgres::Transaction`'s own drop.
pub struct Conn<'a> {
    pool: &'a Pool,
    client: Option<Client>,
}

impl std::fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("schema", &self.pool.schema)
            .finish_non_exhaustive()
    }
}

impl Deref for Conn<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until drop")
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until drop")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let mut state = self.pool.lock();
        if client.is_closed() {
            state.open -= 1;
        } else {
            state.idle.push((client, Instant::now()));
        }
        drop(state);
        self.pool.freed.notify_one();
    }
}
