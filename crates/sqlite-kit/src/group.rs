//! Group commit: concurrent single writes share one transaction.
//!
//! A store meters every tool call and logs every trajectory from many request handlers at once,
//! one small write each. Alone, each write pays a whole transaction: taking SQLite's write lock
//! and appending every page it dirtied to the WAL at commit, which costs several times the
//! write's own statements. [`GroupWriter`] lets concurrent writes share that cost
//! (flat combining): a caller queues its write as a job and takes the connection; if another
//! caller got there first and ran the job in its group, the caller finds its result waiting;
//! otherwise it leads, running every queued job (its own among them) in one `BEGIN IMMEDIATE`
//! transaction and committing once.
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

use rusqlite::Connection;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;

/// The write connection of a store, shared by every thread, with group commit.
pub struct GroupWriter {
    conn: Mutex<Connection>,
    queue: Mutex<Queue>,
    /// Groups committed, and the jobs they held (for [`GroupWriter::stats`]).
    groups: AtomicU64,
    grouped: AtomicU64,
}

/// The jobs waiting for a group, and whether a group is running.
#[derive(Default)]
struct Queue {
    jobs: Vec<Box<dyn Job>>,
    leading: bool,
}

/// Groups a leader runs before it hands the lead on: bounds how long its own caller, whose
/// result is ready after the first, waits for others'.
const GROUPS_PER_LEAD: usize = 4;

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
    /// The caller's thread, to wake when the lead is handed to it.
    fn waiter(&self) -> &Thread;
}

/// Where a job's result waits for its caller: the value, or the panic of its body.
type Slot<T, E> = Arc<Mutex<Option<std::thread::Result<Result<T, E>>>>>;

struct Queued<F, T, E> {
    body: F,
    outcome: Option<std::thread::Result<Result<T, E>>>,
    slot: Slot<T, E>,
    waiter: Thread,
    /// The result (or an error) reached the slot.
    delivered: bool,
    /// Fills the slot with an error, for a job dropped undelivered (see `Drop`).
    lost: fn(&Slot<T, E>),
}

/// What a caller gets if its job is dropped undelivered: only if its leader unwound outside
/// the jobs' own `catch_unwind` (which nothing in this file should do). The write may have
/// committed, as after a lost connection; a retry with the same idempotency key is safe.
fn lost<T, E: From<rusqlite::Error>>(slot: &Slot<T, E>) {
    *lock(slot) = Some(Ok(Err(E::from(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
        Some("the group holding this write failed before it could answer".into()),
    )))));
}

impl<F, T, E> Drop for Queued<F, T, E> {
    fn drop(&mut self) {
        // Never leave a caller parked forever.
        if !self.delivered {
            (self.lost)(&self.slot);
            self.waiter.unpark();
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
        *lock(&self.slot) = self.outcome.take();
        self.delivered = true;
        self.waiter.unpark();
    }

    fn abort(mut self: Box<Self>, err: rusqlite::Error) {
        // A panic stays a panic: the caller must see it, whatever became of the transaction.
        let outcome = match self.outcome.take() {
            Some(Err(panic)) => Err(panic),
            _ => Ok(Err(E::from(err))),
        };
        *lock(&self.slot) = Some(outcome);
        self.delivered = true;
        self.waiter.unpark();
    }

    fn waiter(&self) -> &Thread {
        &self.waiter
    }
}

/// Hands the lead on when a leader stops, also if it unwinds, so no caller waits for a group
/// that will not come: the oldest queued caller is woken to lead the next.
struct Leading<'a>(&'a GroupWriter);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut queue = lock(&self.0.queue);
        queue.leading = false;
        if let Some(oldest) = queue.jobs.first() {
            oldest.waiter().unpark();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a lock is held cannot leave a half-applied write behind: jobs run under
    // `catch_unwind`, and a transaction left open is rolled back before the next one begins.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A copy of `err` for each job of a group that failed as a whole (the error is not `Clone`);
/// SQLite's codes are kept, so a full disk is still recognised as one.
fn copy(err: &rusqlite::Error) -> rusqlite::Error {
    match err {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

impl GroupWriter {
    /// Wraps the store's write connection (opened by [`crate::open`]).
    pub fn new(conn: Connection) -> Self {
        Self {
            conn: Mutex::new(conn),
            queue: Mutex::new(Queue::default()),
            groups: AtomicU64::new(0),
            grouped: AtomicU64::new(0),
        }
    }

    /// Groups committed so far and the jobs they held.
    pub fn stats(&self) -> GroupStats {
        GroupStats {
            commits: self.groups.load(Ordering::Relaxed),
            jobs: self.grouped.load(Ordering::Relaxed),
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
        let slot: Slot<T, E> = Arc::new(Mutex::new(None));
        let mut queue = lock(&self.queue);
        queue.jobs.push(Box::new(Queued {
            body,
            outcome: None,
            slot: Arc::clone(&slot),
            waiter: std::thread::current(),
            delivered: false,
            lost: lost::<T, E>,
        }));
        let outcome = loop {
            if let Some(outcome) = lock(&slot).take() {
                break outcome;
            }
            if !queue.leading {
                // The job is still queued (a group that took it publishes before the lead is
                // free): lead the next group.
                queue.leading = true;
                drop(queue);
                self.lead();
                break lock(&slot)
                    .take()
                    .expect("a group publishes or aborts every job it takes");
            }
            // Woken by the group that publishes the result or by a leader handing on the
            // lead; a wake-up that is neither (`park` allows them) just looks again.
            drop(queue);
            std::thread::park();
            queue = lock(&self.queue);
        };
        outcome.unwrap_or_else(|panic: Box<dyn Any + Send>| resume_unwind(panic))
    }

    /// Takes the connection and runs groups of the jobs queued, each group every job queued
    /// by the time it begins, until none is left or [`GROUPS_PER_LEAD`] ran.
    fn lead(&self) {
        let _leading = Leading(self);
        let mut conn = self.take_connection();
        for _ in 0..GROUPS_PER_LEAD {
            let jobs = std::mem::take(&mut lock(&self.queue).jobs);
            if jobs.is_empty() {
                break;
            }
            if let Some(committed) = run_group(&mut conn, jobs) {
                self.groups.fetch_add(1, Ordering::Relaxed);
                self.grouped.fetch_add(committed as u64, Ordering::Relaxed);
            }
        }
    }

    fn take_connection(&self) -> MutexGuard<'_, Connection> {
        let conn = lock(&self.conn);
        close_abandoned(&conn);
        conn
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
        crate::write_tx(&mut self.take_connection(), body)
    }

    /// The connection itself, for work that is not one transaction (e.g. a rebuild committing
    /// in steps). Queued jobs wait until it is released.
    pub fn connection(&self) -> MutexGuard<'_, Connection> {
        self.take_connection()
    }
}

/// Rolls back a transaction a panic left open, so the next one can begin.
fn close_abandoned(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Runs `jobs` in one transaction (module docs), giving each its result or the group's error;
/// how many jobs a commit held, if one was made.
fn run_group(conn: &mut Connection, jobs: Vec<Box<dyn Job>>) -> Option<usize> {
    let mut pending = jobs;
    while !pending.is_empty() {
        close_abandoned(conn);
        if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") {
            for job in pending {
                job.abort(copy(&err));
            }
            return None;
        }
        let ran = match run_in_transaction(conn, std::mem::take(&mut pending)) {
            Ran::Committable(ran) => ran,
            Ran::Broken(again) => {
                pending = again;
                continue;
            }
        };
        let committed = ran.iter().filter(|(ok, _)| *ok).count();
        if committed == 0 {
            close_abandoned(conn);
            for (_, job) in ran {
                job.publish();
            }
            return None;
        }
        if let Err(err) = commit(conn) {
            close_abandoned(conn);
            // Every job gets the commit's error, a failed one too: its refusal may rest on
            // writes that did not commit.
            for (_, job) in ran {
                job.abort(copy(&err));
            }
            return None;
        }
        // Each caller is woken directly. (Woken as a chain, each caller the next, the leader
        // pays one wake-up per group, but the last callers of a group wake one context switch
        // per caller later, so fewer are queued when the next group begins: with 16 metering
        // threads on 2 cores, groups of 4 and 10.4k events/s chained against groups of 8 and
        // 12k events/s direct.)
        for (_, job) in ran {
            job.publish();
        }
        return Some(committed);
    }
    None
}

/// `COMMIT`, refusing to report success for a transaction that is no longer open (a
/// `COMMIT` with none open fails anyway; this says why).
fn commit(conn: &Connection) -> rusqlite::Result<()> {
    if conn.is_autocommit() {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
            Some("the group's transaction ended before its commit".into()),
        ));
    }
    conn.execute_batch("COMMIT")
}

/// What became of a group's transaction.
enum Ran {
    /// Every job ran, in order, each with whether it succeeded; the successes' writes are in
    /// the open transaction. Nobody has been answered yet.
    Committable(Vec<(bool, Box<dyn Job>)>),
    /// The transaction ended under a failing job (which has its answer): these jobs, in
    /// order, lost their writes or the ground of their refusal, and must run again.
    Broken(Vec<Box<dyn Job>>),
}

impl Ran {
    fn broken(ran: Vec<(bool, Box<dyn Job>)>, rest: impl Iterator<Item = Box<dyn Job>>) -> Self {
        Ran::Broken(ran.into_iter().map(|(_, job)| job).chain(rest).collect())
    }
}

fn run_in_transaction(conn: &Connection, jobs: Vec<Box<dyn Job>>) -> Ran {
    // A group of one needs no savepoint: if it fails, the whole transaction is its own.
    let savepoints = jobs.len() > 1;
    let mut ran: Vec<(bool, Box<dyn Job>)> = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    while let Some(mut job) = jobs.next() {
        if savepoints && let Err(err) = exec_cached(conn, "SAVEPOINT group_job") {
            job.abort(err);
            if conn.is_autocommit() {
                // The failure ended the transaction: the writes before went with it.
                return Ran::broken(ran, jobs);
            }
            continue;
        }
        let ok = job.run(conn);
        if conn.is_autocommit() {
            if ok {
                // It succeeded, yet the transaction is gone: its writes went too. (A body must
                // not end the transaction itself.)
                job.abort(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some("the transaction ended while the write ran".into()),
                ));
            } else {
                // Its own error ended the transaction.
                job.publish();
            }
            return Ran::broken(ran, jobs);
        }
        let undone = if !savepoints {
            ok || conn.execute_batch("ROLLBACK").is_ok()
        } else if ok {
            exec_cached(conn, "RELEASE group_job").is_ok()
        } else {
            exec_cached(conn, "ROLLBACK TO group_job")
                .and_then(|()| exec_cached(conn, "RELEASE group_job"))
                .is_ok()
        };
        if !undone {
            // The savepoint could not be closed: nothing of this transaction can be trusted.
            close_abandoned(conn);
            if ok {
                job.abort(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some("the write's savepoint could not be released".into()),
                ));
            } else {
                job.publish();
            }
            return Ran::broken(ran, jobs);
        }
        ran.push((ok, job));
    }
    Ran::Committable(ran)
}

/// Runs a statement prepared once per connection: a group runs two per job.
fn exec_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
