//! The async side of the group writer: [`GroupWriter::submit_async`] queues a write for a caller
//! that must not block, and the writer's leader thread leads the groups such callers cannot
//! lead themselves.
//!
//! Why a thread of the writer's own: leading runs SQLite statements and a commit (tens of
//! microseconds, now and then a checkpoint's fsyncs), which an async worker must not wait on;
//! and an async caller that moved its write to a blocking pool would pay a thread hand-off
//! each way per write, which is what this path saves (the `load` bench in admin-api). Under
//! load the thread is busy committing one group while the next one queues, so it is woken
//! about once per group, not once per write.
//!
//! The thread holds the writer only weakly (a strong hold only while it leads), so dropping
//! the [`GroupWriter`] closes the connection as before, once the writes queued by then have
//! run: at once if nobody is leading (the dropping thread runs what is queued), else when the
//! leader thread has run them; the thread then ends.

use super::{GroupWriter, Queued, Shared, Slot, Waiter, empty_slot, lock, lost};
use rusqlite::Connection;
use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::thread::Thread;

/// The handle of a writer's leader thread; dropping it (with the writer) ends the thread.
pub(super) struct Leader {
    thread: Thread,
    stop: Arc<AtomicBool>,
}

impl Leader {
    fn start(shared: &Arc<Shared>) -> std::io::Result<Self> {
        let writer = Arc::downgrade(shared);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("sqlite-group-leader".into())
            .spawn(move || lead_when_needed(&writer, &stopped))?;
        Ok(Self {
            thread: handle.thread().clone(),
            stop,
        })
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// The leader thread: whenever jobs are queued and nobody leads, it leads. It is woken by an
/// async submit that found nobody leading and by a leader handing the lead to an async job;
/// it parks otherwise, and ends once stopped with nothing left to lead.
fn lead_when_needed(writer: &Weak<Shared>, stop: &AtomicBool) {
    loop {
        let Some(shared) = writer.upgrade() else {
            return;
        };
        // The writer is held until nothing is left to lead: a lead ends after a few groups
        // and hands the lead back with jobs still queued, and if the last `GroupWriter` went
        // meanwhile (its drop leaves queued jobs to a leader at work), letting go of it here
        // would free the queue with those jobs unrun.
        while shared.claim_lead() {
            // Jobs unwind into their own callers; should anything else in a lead panic, the
            // lead is already handed on (`Leading`), and the thread must live on to take it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.lead()));
        }
        if stop.load(Ordering::Acquire) {
            return;
        }
        drop(shared);
        std::thread::park();
    }
}

/// A write queued by [`GroupWriter::submit_async`]. It resolves to the write's result once the
/// group that holds it committed, or to the error that failed the group (a panic of the write
/// resumes in whoever polls it). Runtime-agnostic: the leader thread wakes it through the
/// waker of its last poll.
///
/// Dropping it does not withdraw the write: once queued it runs and may commit, as the write
/// of a caller that went away after sending it would (a retry with the same idempotency key
/// is safe).
#[must_use = "the write runs anyway; its result is only known by awaiting it"]
pub struct QueuedWrite<T, E> {
    slot: Slot<T, E>,
}

impl<T, E> std::fmt::Debug for QueuedWrite<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedWrite").finish_non_exhaustive()
    }
}

impl<T, E> Future for QueuedWrite<T, E> {
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = {
            let mut slot = lock(&self.slot);
            match slot.outcome.take() {
                Some(outcome) => outcome,
                None => {
                    // Under the slot's lock, so the delivery either sees this waker or was
                    // seen above.
                    match &slot.waker {
                        Some(waker) if waker.will_wake(cx.waker()) => {}
                        _ => slot.waker = Some(cx.waker().clone()),
                    }
                    return Poll::Pending;
                }
            }
        };
        Poll::Ready(outcome.unwrap_or_else(|panic| resume_unwind(panic)))
    }
}

impl GroupWriter {
    /// Queues `body` as one write, like [`GroupWriter::submit`] and with every promise of the
    /// module docs, without blocking the calling thread: the returned future resolves once
    /// the transaction holding the write committed. For callers on an async runtime's
    /// workers. The write joins the group being formed; if nobody leads, the writer's leader
    /// thread (started at the first call) leads it.
    pub fn submit_async<T, E>(
        &self,
        body: impl FnMut(&Connection) -> Result<T, E> + Send + 'static,
    ) -> QueuedWrite<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + Send + 'static,
    {
        let slot: Slot<T, E> = empty_slot();
        let leader = match self.leader() {
            Ok(leader) => leader,
            Err(err) => {
                lock(&slot).outcome = Some(Ok(Err(E::from(no_leader(&err)))));
                return QueuedWrite { slot };
            }
        };
        let nobody_leads = {
            let mut queue = lock(&self.shared.queue);
            queue.jobs.push_back(Box::new(Queued {
                body,
                outcome: None,
                slot: Arc::clone(&slot),
                waiter: Waiter::Task {
                    leader: leader.clone(),
                },
                delivered: false,
                lost: lost::<E>,
            }));
            !queue.leading
        };
        if nobody_leads {
            leader.unpark();
        }
        QueuedWrite { slot }
    }

    /// The leader thread, started if it is not yet.
    fn leader(&self) -> std::io::Result<&Thread> {
        if self.leader.get().is_none() {
            // Two first calls at once may both start one; the loser's thread ends as its
            // handle drops.
            let _ = self.leader.set(Leader::start(&self.shared)?);
        }
        Ok(&self.leader.get().expect("set above").thread)
    }
}

impl Drop for GroupWriter {
    fn drop(&mut self) {
        // Writes queued and not yet taken by a group run now, rather than be lost with the
        // writer (a leader at work takes them itself: the leader thread holds the writer
        // until nothing is queued, a blocking caller borrows it). One lead for all of them:
        // a lead of the usual length would hand the rest to the leader thread, and the
        // writer would close later than its drop.
        if self.shared.claim_lead() {
            self.shared.lead_groups(usize::MAX);
        }
    }
}

/// The error of a write that could not be queued: the leader thread could not start.
fn no_leader(err: &std::io::Error) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
        Some(format!(
            "the group writer's leader thread could not start: {err}"
        )),
    )
}
