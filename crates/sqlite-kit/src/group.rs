//! Group commit: concurrent single writes share one transaction.
//!
//! A store meters every tool call and logs every trajectory from many request handlers at once,
//! one small write each. Alone, each write pays a whole transaction: taking SQLite's write lock
//! and appending every page it dirtied to the WAL at commit, which costs several times the
//! write's own statements. [`GroupWriter`] lets concurrent writes share that cost
//! (flat combining): a caller queues its write as a job and takes the connection; if another
//! caller got there first and ran the job in its group, the caller finds its result waiting;
//! otherwise it leads, running the queued jobs (its own among them, oldest first, at most
//! [`MAX_GROUP`] to a group) in one `BEGIN IMMEDIATE` transaction and committing once.
//!
//! What each caller keeps, whatever else is in its group:
//!
//! * **Its own all-or-nothing.** Each job runs inside a savepoint; a job that fails (a quota
//!   refusal, a conflict, a storage error) is rolled back to it alone, and the other jobs'
//!   writes commit. A failure that only the `COMMIT` finds (a deferred constraint, a full
//!   disk) fails the whole group, as it would have failed a transaction of one.
//! * **Order.** Jobs run one after another on one connection, each seeing the writes of the
//!   jobs before it: a quota check, an idempotency check or a log position is as exact as with
//!   one transaction per write.
//! * **Acknowledged means committed.** Every answer, a refusal too, is given only after the
//!   group's `COMMIT` returned, since a refusal may rest on the writes of the jobs before it
//!   (a quota they filled). If the commit fails, every job of the group gets that error
//!   instead. So an acknowledged write survives `SIGKILL` as any committed transaction does
//!   (see [`crate::open`]), and no refusal stands on writes that never committed.
//! * **Nothing lost to a broken transaction.** If a failing statement made SQLite roll the
//!   whole transaction back (an I/O error, say), the failing job keeps its error and the jobs
//!   before it, whose writes went with it, run again in a new transaction; their bodies are
//!   `FnMut` for that reason. A body must not end the transaction itself.
//! * **Panics stay with their caller.** A job that panics is rolled back to its savepoint and
//!   the panic resumes on the thread that submitted it, not on the leader.
//!
//! Each waiting caller is woken alone, by the group that publishes its result, never by a
//! broadcast or by queueing for the connection: had callers queued for the connection to read
//! results a leader left there, each would take it in turn, and a leader returning with its
//! next write would find them all still in line, not in its queue (a convoy: groups of one,
//! measured); a broadcast wakes every waiter on two cores to find most results not ready. A
//! caller alone pays two uncontended locks more than a plain transaction, and no savepoint
//! (a group of one job rolls back the transaction itself). Writes that are large or rare
//! (batches, rebuilds, configuration) take the connection for a transaction of their own with
//! [`GroupWriter::write_tx`]; jobs queued meanwhile run in the next group.
//!
//! A caller that must not block (an async request handler) queues its write with
//! [`GroupWriter::submit_async`] and awaits the result instead of parking: such a caller
//! cannot lead, so the writer's own leader thread (started at the first such write, see
//! `leader.rs`) leads whenever one of these jobs is queued and nobody leads. Both kinds of job
//! share groups and every promise above.

use rusqlite::Connection;
use std::any::Any;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Waker;
use std::thread::Thread;

mod leader;
mod transaction;

use transaction::{close_abandoned, run_group};

pub use leader::QueuedWrite;

/// The write connection of a store, shared by every thread, with group commit.
pub struct GroupWriter {
    shared: Arc<Shared>,
    /// The thread that leads for async callers, started at the first
    /// [`GroupWriter::submit_async`].
    leader: OnceLock<leader::Leader>,
}

/// What the callers and the leader thread share.
struct Shared {
    conn: Mutex<Connection>,
    queue: Mutex<Queue>,
    /// Groups committed, and the jobs they held (for [`GroupWriter::stats`]).
    groups: AtomicU64,
    grouped: AtomicU64,
}

/// The jobs waiting for a group, and whether a group is running.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Box<dyn Job>>,
    leading: bool,
}

/// Groups a leader runs before it hands the lead on: bounds how long its own caller waits for
/// others' writes once its own has committed (usually in the first group; after a burst, in a
/// later one, or in a later lead).
const GROUPS_PER_LEAD: usize = 4;

/// Most jobs one group holds; the rest wait for the next group, oldest first. Without a bound a
/// burst (thousands of handlers writing at once, or queued behind a long `write_tx`) would make
/// one transaction of all of them: SQLite's write lock held for as long as they all take,
/// against writers in other processes too, every page they dirtied in the WAL at once, and the
/// first of them answered only after the last ran. Write-group implementations bound their
/// groups for the same reasons (LevelDB's and RocksDB's write batch groups, by bytes). At
/// 10 to 100 microseconds a job, a full group holds the write lock for 2.5 to 25 ms; the
/// bound is far above the groups concurrency forms on its own (8 or so with 16 writers, see
/// the benches), so it only ever splits bursts.
const MAX_GROUP: usize = 256;

/// How well writes were grouped since the writer was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupStats {
    /// Group transactions committed.
    pub commits: u64,
    /// Jobs those commits held: `jobs / commits` is the mean group size.
    pub jobs: u64,
}

impl GroupStats {
    /// `(commits, jobs)`.
    pub fn commits_and_jobs(&self) -> (u64, u64) {
        (self.commits, self.jobs)
    }
}

impl std::fmt::Debug for GroupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupWriter").finish_non_exhaustive()
    }
}

/// A queued write, its result type erased.
trait Job: Send {
    /// Runs the write inside the open transaction; `false` if it failed (its writes must be
    /// undone). The outcome is kept until [`Job::publish`].
    fn run(&mut self, conn: &Connection) -> bool;
    /// Hands the outcome of its last run to its caller, and wakes the caller: after the
    /// commit of its group, also if it failed (its refusal may rest on the writes of jobs
    /// before it in the group, so it stands only if they committed).
    fn publish(self: Box<Self>);
    /// Its group did not commit: its caller gets `err` (or its own panic).
    fn abort(self: Box<Self>, err: rusqlite::Error);
    /// Wakes whoever should lead for this job when the lead is handed to it.
    fn hand_lead(&self);
}

/// Who waits for a job's result.
enum Waiter {
    /// A thread parked in [`GroupWriter::submit`]; handed the lead, it leads.
    Thread(Thread),
    /// A task awaiting a [`QueuedWrite`], woken through the waker its last poll left in the
    /// slot; the lead goes to the writer's leader thread, which is this.
    Task { leader: Thread },
}

/// Where a job's result waits for its caller: the value, or the panic of its body; and the
/// waker of the task awaiting it, if one does.
struct Pending<T, E> {
    outcome: Option<std::thread::Result<Result<T, E>>>,
    waker: Option<Waker>,
}

type Slot<T, E> = Arc<Mutex<Pending<T, E>>>;

fn empty_slot<T, E>() -> Slot<T, E> {
    Arc::new(Mutex::new(Pending {
        outcome: None,
        waker: None,
    }))
}

struct Queued<F, T, E> {
    body: F,
    outcome: Option<std::thread::Result<Result<T, E>>>,
    slot: Slot<T, E>,
    waiter: Waiter,
    /// The result (or an error) reached the slot.
    delivered: bool,
    /// The error for a job dropped undelivered (see `Drop`).
    lost: fn() -> E,
}

/// What a caller gets if its job is dropped undelivered: only if its leader unwound outside
/// the jobs' own `catch_unwind` (which nothing in this file should do). The write may have
/// committed, as after a lost connection; a retry with the same idempotency key is safe.
fn lost<E: From<rusqlite::Error>>() -> E {
    E::from(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
        Some("the group holding this write failed before it could answer".into()),
    ))
}

impl<F, T, E> Queued<F, T, E> {
    /// Puts `outcome` in the slot and wakes its caller.
    fn deliver(&mut self, outcome: std::thread::Result<Result<T, E>>) {
        let waker = {
            let mut slot = lock(&self.slot);
            slot.outcome = Some(outcome);
            slot.waker.take()
        };
        self.delivered = true;
        match (&self.waiter, waker) {
            (Waiter::Thread(thread), _) => thread.unpark(),
            (Waiter::Task { .. }, Some(waker)) => waker.wake(),
            // Not polled yet: its first poll finds the outcome.
            (Waiter::Task { .. }, None) => {}
        }
    }
}

impl<F, T, E> Drop for Queued<F, T, E> {
    fn drop(&mut self) {
        // Never leave a caller waiting forever.
        if !self.delivered {
            let err = (self.lost)();
            self.deliver(Ok(Err(err)));
        }
    }
}

impl<F, T, E> Job for Queued<F, T, E>
where
    F: FnMut(&Connection) -> Result<T, E> + Send,
    T: Send,
    E: From<rusqlite::Error> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let outcome = catch_unwind(AssertUnwindSafe(|| (self.body)(conn)));
        let ok = matches!(outcome, Ok(Ok(_)));
        self.outcome = Some(outcome);
        ok
    }

    fn publish(mut self: Box<Self>) {
        let outcome = self
            .outcome
            .take()
            .expect("a job is published only after it ran");
        self.deliver(outcome);
    }

    fn abort(mut self: Box<Self>, err: rusqlite::Error) {
        // A panic stays a panic: the caller must see it, whatever became of the transaction.
        let outcome = match self.outcome.take() {
            Some(Err(panic)) => Err(panic),
            _ => Ok(Err(E::from(err))),
        };
        self.deliver(outcome);
    }

    fn hand_lead(&self) {
        match &self.waiter {
            Waiter::Thread(thread) | Waiter::Task { leader: thread } => thread.unpark(),
        }
    }
}

/// Hands the lead on when a leader stops, also if it unwinds, so no caller waits for a group
/// that will not come: the oldest queued caller is woken to lead the next.
struct Leading<'a>(&'a Shared);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut queue = lock(&self.0.queue);
        queue.leading = false;
        if let Some(oldest) = queue.jobs.front() {
            oldest.hand_lead();
        }
    }
}

/// The oldest [`MAX_GROUP`] jobs of the queue (all of them if fewer), taken out of it.
fn next_group(queued: &mut VecDeque<Box<dyn Job>>) -> Vec<Box<dyn Job>> {
    let take = queued.len().min(MAX_GROUP);
    queued.drain(..take).collect()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a lock is held cannot leave a half-applied write behind: jobs run under
    // `catch_unwind`, and a transaction left open is rolled back before the next one begins.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl GroupWriter {
    /// Wraps the store's write connection (opened by [`crate::open`]).
    pub fn new(conn: Connection) -> Self {
        Self {
            shared: Arc::new(Shared {
                conn: Mutex::new(conn),
                queue: Mutex::new(Queue::default()),
                groups: AtomicU64::new(0),
                grouped: AtomicU64::new(0),
            }),
            leader: OnceLock::new(),
        }
    }

    /// Groups committed so far and the jobs they held.
    pub fn stats(&self) -> GroupStats {
        GroupStats {
            commits: self.shared.groups.load(Ordering::Relaxed),
            jobs: self.shared.grouped.load(Ordering::Relaxed),
        }
    }

    /// Runs `body` as one write, in a transaction it may share with concurrent writes, and
    /// returns its result once that transaction committed (module docs). `body` may run on
    /// another caller's thread, hence `'static`, and more than once if its first transaction
    /// broke before it ran (only its last run's writes are ever committed). It must not
    /// commit, roll back or release what it did not open.
    pub fn submit<T, E>(
        &self,
        body: impl FnMut(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + Send + 'static,
    {
        let shared = &*self.shared;
        let slot: Slot<T, E> = empty_slot();
        let mut queue = lock(&shared.queue);
        queue.jobs.push_back(Box::new(Queued {
            body,
            outcome: None,
            slot: Arc::clone(&slot),
            waiter: Waiter::Thread(std::thread::current()),
            delivered: false,
            lost: lost::<E>,
        }));
        let outcome = loop {
            if let Some(outcome) = lock(&slot).outcome.take() {
                break outcome;
            }
            if !queue.leading {
                // The job is still queued (a group that took it publishes before the lead is
                // free): lead the next groups. A lead runs at most `GROUPS_PER_LEAD` groups
                // of `MAX_GROUP` jobs, so with more queued ahead of this one it may end with
                // this job still waiting: then look again (lead again, or wait for whoever
                // the lead was handed to).
                queue.leading = true;
                drop(queue);
                shared.lead();
                queue = lock(&shared.queue);
                continue;
            }
            // Woken by the group that publishes the result or by a leader handing on the
            // lead; a wake-up that is neither (`park` allows them) just looks again.
            drop(queue);
            std::thread::park();
            queue = lock(&shared.queue);
        };
        outcome.unwrap_or_else(|panic: Box<dyn Any + Send>| resume_unwind(panic))
    }

    /// Runs `body` in a transaction of its own (`BEGIN IMMEDIATE`, see [`crate::write_tx`]):
    /// for batches and other large or rare writes.
    pub fn write_tx<T, E>(
        &self,
        body: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<rusqlite::Error>,
    {
        crate::write_tx(&mut self.shared.take_connection(), body)
    }

    /// The connection itself, for work that is not one transaction (e.g. a rebuild committing
    /// in steps). Queued jobs wait until it is released.
    pub fn connection(&self) -> MutexGuard<'_, Connection> {
        self.shared.take_connection()
    }
}

impl Shared {
    /// Takes the lead if jobs are queued and nobody leads; the caller must then [`Self::lead`].
    fn claim_lead(&self) -> bool {
        let mut queue = lock(&self.queue);
        let claim = !queue.leading && !queue.jobs.is_empty();
        queue.leading |= claim;
        claim
    }

    /// Takes the connection and runs groups of the jobs queued, each group the oldest jobs
    /// queued by the time it begins (at most [`MAX_GROUP`]), until none is left or
    /// [`GROUPS_PER_LEAD`] ran. The caller set `leading`; it is cleared, and the lead handed
    /// on, however this ends.
    fn lead(&self) {
        self.lead_groups(GROUPS_PER_LEAD);
    }

    /// [`Self::lead`], for at most `groups` groups.
    fn lead_groups(&self, groups: usize) {
        let _leading = Leading(self);
        let mut conn = self.take_connection();
        for _ in 0..groups {
            let jobs = next_group(&mut lock(&self.queue).jobs);
            if jobs.is_empty() {
                break;
            }
            run_group(&mut conn, jobs, |committed| {
                self.groups.fetch_add(1, Ordering::Relaxed);
                self.grouped.fetch_add(committed as u64, Ordering::Relaxed);
            });
        }
    }

    fn take_connection(&self) -> MutexGuard<'_, Connection> {
        let conn = lock(&self.conn);
        close_abandoned(&conn);
        conn
    }
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "group_async_tests.rs"]
mod async_tests;
