//! Advice held in memory, served only once the database confirms it is current
//! ([`PolicyBackend::recommend_when_current`](policy_store::PolicyBackend)).
//!
//! Other replicas write to the same checkpoints, so nothing local says whether an answer held
//! in memory is still the answer: only the database does. Schema v5 keeps a version of the
//! checkpoints (`policy_epoch`, bumped by a trigger on every statement that changes
//! `policy_checkpoints`, whoever runs it). An answer is held under the version read *before*
//! its checkpoints were read, so the held answer is at least as new as its tag; it is current
//! exactly while the version still equals the tag.
//!
//! Checking the version costs a round trip; asking once per request would cost about what the
//! answer itself costs. So checks are shared: a request asks for the next *round* (a read of
//! the version that starts after the request arrived, so it sees every commit acknowledged
//! before that), and one thread of the store's, with a session of its own, runs rounds back to
//! back while anyone waits for one: every request that arrived while a round was running is
//! answered by the next one, however many there are. This is how a linearizable read is
//! batched (a Raft leader's read index is the same idea). The waiting is a future woken by
//! that thread, so an async caller spends no thread of its own on it.
//!
//! A round that fails (the session broke) answers `None` to its waiters, who read the store as
//! usual; the next round opens a new session, but not more often than once a second. A session
//! idle for long is checked before it is used. While a round has run for over a second (a
//! session the network lost mid-read), requests do not wait for rounds at all; callers also
//! bound their wait (admin-api gives up after a second). If the round thread ends (the store
//! dropped, or a panic), waiters get `None` and the memory stays off for that handle.

use otc_policy::Recommendation;
use policy_store::CurrentAdvice;
use postgres_kit::{CHECK_IDLE_AFTER, CONNECT_TIMEOUT, Pool};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Answers held at most; past it the memory starts afresh (as the SQLite store's cache).
const CAPACITY: usize = 10_000;

/// How long after a failed connect the next round fails at once instead of connecting again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// A round running longer than this is taken as stuck: requests stop waiting for rounds.
const STUCK_AFTER: Duration = Duration::from_secs(1);

/// The statement of a round, and of the tag read before an answer's checkpoints.
pub(crate) const READ_VERSION: &str = "SELECT version FROM policy_epoch";

/// Answers by (intent, modules as asked), each with the version it was read under.
type Answers = HashMap<(String, Vec<String>), (i64, Recommendation)>;

/// The answers held and the rounds of version checks, shared with the round thread.
#[derive(Default)]
struct Shared {
    answers: Mutex<Answers>,
    rounds: Mutex<Rounds>,
    /// Signals the round thread that a round is wanted (or that the store is gone).
    wanted: Condvar,
}

#[derive(Default)]
struct Rounds {
    /// The highest round some request waits for.
    asked: u64,
    /// The last round started (its read sent after every request that asked for it arrived).
    started: u64,
    /// When the running round began (`None` when none runs).
    began: Option<Instant>,
    /// The last round finished, and the version it read (`None`: it failed).
    done: u64,
    version: Option<i64>,
    wakers: Vec<Waker>,
    /// The round thread runs.
    running: bool,
    /// The store was dropped (or the round thread ended): no more rounds.
    closed: bool,
}

/// The store's memory of answers and its round thread (started on first use, ended when the
/// store is dropped).
pub(crate) struct AdviceMemory {
    shared: Arc<Shared>,
    pool: Arc<Pool>,
}

impl std::fmt::Debug for AdviceMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = lock(&self.shared.answers).len();
        f.debug_struct("AdviceMemory").field("held", &held).finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AdviceMemory {
    pub(crate) fn new(pool: Arc<Pool>) -> Self {
        Self {
            shared: Arc::default(),
            pool,
        }
    }

    /// Holds `answer` for (intent, modules), read under `version` (read before its
    /// checkpoints).
    pub(crate) fn hold(
        &self,
        intent: &str,
        modules: &[String],
        version: i64,
        answer: &Recommendation,
    ) {
        let mut answers = lock(&self.shared.answers);
        if answers.len() >= CAPACITY {
            answers.clear();
        }
        answers.insert(
            (intent.to_owned(), modules.to_vec()),
            (version, answer.clone()),
        );
    }

    /// The held answer for (intent, modules), resolved once a round begun after this call
    /// confirms its version; `None` at once if nothing is held for it.
    pub(crate) fn when_current(&self, intent: &str, modules: &[String]) -> Option<CurrentAdvice> {
        let key = (intent.to_owned(), modules.to_vec());
        if !lock(&self.shared.answers).contains_key(&key) {
            return None;
        }
        let round = {
            let mut rounds = lock(&self.shared.rounds);
            // A round running for this long is stuck (a session the network lost): until it
            // ends, requests read the store instead of queueing behind it.
            if rounds.closed || rounds.began.is_some_and(|at| at.elapsed() > STUCK_AFTER) {
                return None;
            }
            let round = rounds.started + 1;
            rounds.asked = rounds.asked.max(round);
            if !rounds.running {
                rounds.running = true;
                let (shared, pool) = (Arc::clone(&self.shared), Arc::clone(&self.pool));
                let spawned = std::thread::Builder::new()
                    .name("otc-policy-rounds".into())
                    .spawn(move || run_rounds(&shared, &pool));
                if spawned.is_err() {
                    rounds.running = false;
                    return None;
                }
            }
            round
        };
        self.shared.wanted.notify_one();
        Some(Box::pin(Wait {
            shared: Arc::clone(&self.shared),
            round,
            key,
        }))
    }
}

impl Drop for AdviceMemory {
    fn drop(&mut self) {
        lock(&self.shared.rounds).closed = true;
        self.shared.wanted.notify_all();
    }
}

/// A request waiting for its round.
struct Wait {
    shared: Arc<Shared>,
    round: u64,
    key: (String, Vec<String>),
}

impl Future for Wait {
    type Output = Option<Recommendation>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let version = {
            let mut rounds = lock(&self.shared.rounds);
            if rounds.done < self.round {
                if rounds.closed {
                    return Poll::Ready(None);
                }
                rounds.wakers.push(cx.waker().clone());
                return Poll::Pending;
            }
            // Round `done` began after this request's round did, hence after the request.
            rounds.version
        };
        let Some(version) = version else {
            return Poll::Ready(None);
        };
        let answers = lock(&self.shared.answers);
        Poll::Ready(
            answers
                .get(&self.key)
                .filter(|(held, _)| *held == version)
                .map(|(_, answer)| answer.clone()),
        )
    }
}

/// The round thread: while a request waits, reads the version on a session of its own and
/// wakes the waiters; ends when the store is dropped.
fn run_rounds(shared: &Shared, pool: &Pool) {
    // However the thread ends (the store dropped, or a panic), no waiter is left waiting and
    // no later request waits for a round that will not come: they all read the store.
    struct Ended<'a>(&'a Shared);
    impl Drop for Ended<'_> {
        fn drop(&mut self) {
            let wakers = {
                let mut rounds = lock(&self.0.rounds);
                rounds.closed = true;
                rounds.running = false;
                std::mem::take(&mut rounds.wakers)
            };
            wakers.into_iter().for_each(Waker::wake);
        }
    }
    let _ended = Ended(shared);
    let mut session: Option<(postgres::Client, Instant)> = None;
    let mut failed_connect: Option<Instant> = None;
    loop {
        let round = {
            let mut rounds = lock(&shared.rounds);
            while !rounds.closed && rounds.asked <= rounds.started {
                rounds = shared
                    .wanted
                    .wait(rounds)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if rounds.closed {
                return;
            }
            rounds.started += 1;
            rounds.began = Some(Instant::now());
            rounds.started
        };
        let version = read_version(pool, &mut session, &mut failed_connect);
        let wakers = {
            let mut rounds = lock(&shared.rounds);
            rounds.began = None;
            rounds.done = round;
            rounds.version = version;
            std::mem::take(&mut rounds.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// One round's read; `None` (and the session dropped) on any failure. The session (with the
/// time it was last used) is checked first when it has been idle long enough for the network
/// to have lost it, as the pool checks its own (`postgres_kit::CHECK_IDLE_AFTER`).
fn read_version(
    pool: &Pool,
    session: &mut Option<(postgres::Client, Instant)>,
    failed_connect: &mut Option<Instant>,
) -> Option<i64> {
    if let Some((client, used)) = session.as_mut()
        && (client.is_closed()
            || (used.elapsed() > CHECK_IDLE_AFTER && client.is_valid(CONNECT_TIMEOUT).is_err()))
    {
        *session = None;
    }
    if session.is_none() {
        if failed_connect.is_some_and(|at| at.elapsed() < RECONNECT_AFTER) {
            return None;
        }
        match pool.connect() {
            Ok(client) => {
                *session = Some((client, Instant::now()));
                *failed_connect = None;
            }
            Err(_) => {
                *failed_connect = Some(Instant::now());
                return None;
            }
        }
    }
    let (client, used) = session.as_mut()?;
    *used = Instant::now();
    // The simple protocol: no parameters, one round trip, nothing to prepare.
    match client.simple_query(READ_VERSION) {
        Ok(messages) => messages.iter().find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
            _ => None,
        }),
        Err(_) => {
            *session = None;
            None
        }
    }
}
