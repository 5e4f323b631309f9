//! The group writer's promises (module docs of `group`), each with jobs forced into one group:
//! the test holds the connection while the writers queue, then lets go.

use super::*;
use crate::Migration;
use rusqlite::params;
use std::sync::atomic::AtomicUsize;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const SCHEMA: Migration = Migration {
    version: 1,
    sql: "CREATE TABLE rows (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
          CREATE TABLE parent (id INTEGER PRIMARY KEY);
          CREATE TABLE child (parent INTEGER NOT NULL
              REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
};

/// What one submitting thread does with the writer.
type WriterJob<T> = Box<dyn FnOnce(&GroupWriter) -> T + Send>;

pub(super) fn writer(dir: &tempfile::TempDir) -> (Arc<GroupWriter>, Connection) {
    let path = dir.path().join("group.db");
    let writer = GroupWriter::new(crate::open(&path, &[SCHEMA]).unwrap());
    (Arc::new(writer), crate::open(&path, &[SCHEMA]).unwrap())
}

pub(super) fn keys(conn: &Connection) -> Vec<String> {
    let mut stmt = conn.prepare("SELECT k FROM rows ORDER BY k").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The keys in the order they were written.
pub(super) fn rowid_order(conn: &Connection) -> Vec<String> {
    let mut stmt = conn.prepare("SELECT k FROM rows ORDER BY rowid").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

pub(super) fn insert(conn: &Connection, key: &str) -> rusqlite::Result<usize> {
    conn.execute("INSERT INTO rows (k, v) VALUES (?1, 1)", params![key])
}

/// Starts one submitting thread per job while the connection is held, waits until every job
/// is queued, then releases the connection: the first thread to take it leads all of them.
fn in_one_group<T: Send + 'static>(writer: &Arc<GroupWriter>, jobs: Vec<WriterJob<T>>) -> Vec<T> {
    let held = writer.connection();
    let count = jobs.len();
    let handles: Vec<JoinHandle<T>> = jobs
        .into_iter()
        .map(|job| {
            let writer = Arc::clone(writer);
            std::thread::spawn(move || job(&writer))
        })
        .collect();
    let began = Instant::now();
    while lock(&writer.shared.queue).jobs.len() < count {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "jobs never queued"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(held);
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn insert_job(key: &'static str) -> WriterJob<rusqlite::Result<usize>> {
    Box::new(move |w: &GroupWriter| w.submit(move |conn| insert(conn, key)))
}

#[test]
fn a_write_alone_commits_before_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, other) = writer(&dir);
    assert_eq!(writer.submit(|conn| insert(conn, "a")), Ok(1));
    assert_eq!(
        keys(&other),
        ["a"],
        "visible to another connection on return"
    );
    assert_eq!(writer.stats().commits_and_jobs(), (1, 1));
    // A failing write alone rolls its transaction back and leaves the writer usable.
    let err = writer.submit(|conn| {
        insert(conn, "b")?;
        insert(conn, "a")
    });
    assert!(err.is_err());
    assert_eq!(keys(&other), ["a"]);
    assert_eq!(writer.submit(|conn| insert(conn, "c")), Ok(1));
    assert_eq!(keys(&other), ["a", "c"]);
}

#[test]
fn concurrent_writes_share_one_commit_and_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, other) = writer(&dir);
    insert(&other, "taken").unwrap();
    let failing: WriterJob<rusqlite::Result<usize>> = Box::new(|w: &GroupWriter| {
        w.submit(|conn| {
            // Its first write must vanish with its failure, not commit with the group.
            insert(conn, "half")?;
            insert(conn, "taken")
        })
    });
    let results = in_one_group(
        &writer,
        vec![insert_job("a"), failing, insert_job("b"), insert_job("c")],
    );
    assert_eq!(results[0], Ok(1));
    assert!(results[1].is_err(), "{:?}", results[1]);
    assert_eq!((&results[2], &results[3]), (&Ok(1), &Ok(1)));
    assert_eq!(keys(&other), ["a", "b", "c", "taken"]);
    assert_eq!(
        writer.stats().commits_and_jobs(),
        (1, 3),
        "one commit held the three writes that succeeded"
    );
}

#[test]
fn each_write_sees_the_writes_before_it_in_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, other) = writer(&dir);
    // Each job takes the next number: exact only if every job sees the ones before it.
    let next = |w: &GroupWriter| {
        w.submit(|conn| {
            let n: i64 = conn.query_row("SELECT COUNT(*) FROM rows", [], |r| r.get(0))?;
            insert(conn, &format!("n{n}"))?;
            Ok::<_, rusqlite::Error>(n)
        })
    };
    let jobs: Vec<WriterJob<rusqlite::Result<i64>>> =
        (0..8).map(|_| Box::new(next) as Box<_>).collect();
    let mut taken: Vec<i64> = in_one_group(&writer, jobs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    taken.sort_unstable();
    assert_eq!(taken, (0..8).collect::<Vec<_>>());
    assert_eq!(keys(&other).len(), 8);
}

#[test]
fn a_failed_commit_fails_every_write_of_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, other) = writer(&dir);
    // A deferred foreign key is checked at COMMIT: the statement succeeds, the commit fails.
    let orphan: WriterJob<rusqlite::Result<usize>> = Box::new(|w: &GroupWriter| {
        w.submit(|conn| conn.execute("INSERT INTO child (parent) VALUES (42)", []))
    });
    // A refusal (here unconditional) may rest on the group's writes: it must not stand when
    // they did not commit.
    let refusal: WriterJob<rusqlite::Result<usize>> = Box::new(|w: &GroupWriter| {
        w.submit(|_| Err::<usize, _>(rusqlite::Error::QueryReturnedNoRows))
    });
    let results = in_one_group(
        &writer,
        vec![insert_job("a"), orphan, insert_job("b"), refusal],
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(rusqlite::Error::SqliteFailure(..)))),
        "every write, the refused one too, gets the commit's error: {results:?}"
    );
    assert!(keys(&other).is_empty());
    assert_eq!(writer.stats().commits, 0);
    assert_eq!(writer.submit(|conn| insert(conn, "after")), Ok(1));
    assert_eq!(keys(&other), ["after"]);
}

#[test]
fn writes_before_a_broken_transaction_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, other) = writer(&dir);
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = {
        let runs = Arc::clone(&runs);
        Box::new(move |w: &GroupWriter| {
            w.submit(move |conn| {
                runs.fetch_add(1, Ordering::SeqCst);
                insert(conn, "first")
            })
        }) as WriterJob<rusqlite::Result<usize>>
    };
    // Ends the transaction under the group, as SQLite does after some I/O errors.
    let breaker: WriterJob<rusqlite::Result<usize>> =
        Box::new(|w: &GroupWriter| w.submit(|conn| conn.execute("ROLLBACK", [])));
    let results = in_one_group(&writer, vec![counted, breaker, insert_job("third")]);
    let order_ran_first = runs.load(Ordering::SeqCst);
    assert_eq!(results[0], Ok(1));
    assert!(results[1].is_err(), "the breaker learns its write was lost");
    assert_eq!(results[2], Ok(1));
    assert!(order_ran_first >= 1);
    assert_eq!(keys(&other), ["first", "third"], "written once each");
}

#[test]
fn a_panicking_write_panics_its_own_caller_only() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, other) = writer(&dir);
    let panicking: WriterJob<std::thread::Result<rusqlite::Result<usize>>> =
        Box::new(|w: &GroupWriter| {
            catch_unwind(AssertUnwindSafe(|| {
                w.submit(|conn| {
                    insert(conn, "half")?;
                    panic!("a bug in one write")
                })
            }))
        });
    let quiet = |key: &'static str| {
        Box::new(move |w: &GroupWriter| Ok(w.submit(move |conn| insert(conn, key))))
            as Box<dyn FnOnce(&GroupWriter) -> std::thread::Result<rusqlite::Result<usize>> + Send>
    };
    let results = in_one_group(&writer, vec![quiet("a"), panicking, quiet("b")]);
    assert!(results[1].is_err(), "the panic resumed in its submitter");
    assert_eq!(results[0].as_ref().unwrap(), &Ok(1));
    assert_eq!(results[2].as_ref().unwrap(), &Ok(1));
    assert_eq!(keys(&other), ["a", "b"]);
}

#[test]
fn a_transaction_of_its_own_waits_for_and_precedes_queued_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, other) = writer(&dir);
    writer
        .write_tx(|tx| insert(tx, "batch"))
        .expect("own transaction");
    // A transaction a panic left open on the connection is closed before the next one.
    writer
        .connection()
        .execute_batch("BEGIN; INSERT INTO rows (k, v) VALUES ('abandoned', 1);")
        .unwrap();
    assert_eq!(writer.submit(|conn| insert(conn, "next")), Ok(1));
    assert_eq!(keys(&other), ["batch", "next"]);
}

/// Many writers, free-running: every caller gets its own result, none waits forever (a lost
/// wake-up in the chain or in the hand-off of the lead would hang this test), every row is
/// there, and writes shared commits. Every tenth write fails and takes nothing with it.
#[test]
fn many_free_running_writers_each_get_their_own_result() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, other) = writer(&dir);
    let threads: Vec<JoinHandle<()>> = (0..16)
        .map(|t| {
            let writer = Arc::clone(&writer);
            std::thread::spawn(move || {
                for i in 0..150 {
                    let key = format!("{t:02}-{i:03}");
                    let fails = i % 10 == 9;
                    let written = key.clone();
                    let got = writer.submit(move |conn| {
                        insert(conn, &written)?;
                        if fails {
                            // A duplicate key: this write fails after its first insert.
                            insert(conn, &written)?;
                        }
                        Ok::<_, rusqlite::Error>(written.clone())
                    });
                    match got {
                        Ok(returned) => assert!(!fails && returned == key, "{key}: {returned}"),
                        Err(err) => assert!(fails, "{key}: {err}"),
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let stored = keys(&other);
    assert_eq!(
        stored.len(),
        16 * 135,
        "every successful write, and no failed one"
    );
    assert!(
        stored
            .iter()
            .all(|k| k[3..].parse::<u32>().unwrap() % 10 != 9),
        "a failed write left a row"
    );
    let stats = writer.stats();
    assert_eq!(stats.jobs, 16 * 135);
    assert!(
        stats.commits < stats.jobs,
        "writes shared commits: {stats:?}"
    );
}

/// A job dropped before its group answered it (only if a leader unwound outside the jobs'
/// `catch_unwind`) answers its caller with an error and wakes it, instead of leaving it parked.
#[test]
fn a_job_dropped_unanswered_answers_with_an_error() {
    let slot: Slot<usize, rusqlite::Error> = empty_slot();
    let job = Queued {
        body: |_: &Connection| Ok::<usize, rusqlite::Error>(1),
        outcome: None,
        slot: Arc::clone(&slot),
        waiter: Waiter::Thread(std::thread::current()),
        delivered: false,
        lost: lost::<rusqlite::Error>,
    };
    drop(job);
    let answer = lock(&slot).outcome.take().expect("answered");
    assert!(matches!(
        answer,
        Ok(Err(rusqlite::Error::SqliteFailure(..)))
    ));
}

/// A group holds at most `MAX_GROUP` jobs, oldest first; a blocking caller whose own job lies
/// beyond what its lead can take (`GROUPS_PER_LEAD` full groups queued ahead of it) leads again
/// rather than return without its result.
#[test]
fn groups_are_bounded_and_a_leader_beyond_its_lead_leads_again() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, other) = writer(&dir);
    let held = writer.connection();
    // Queued as if by callers that went to sleep before anyone led (here: nobody will wake
    // them, the test reads their slots).
    let ahead = MAX_GROUP * GROUPS_PER_LEAD + 10;
    let slots: Vec<Slot<usize, rusqlite::Error>> = (0..ahead)
        .map(|i| {
            let slot = empty_slot();
            let key = format!("ahead-{i:05}");
            lock(&writer.shared.queue).jobs.push_back(Box::new(Queued {
                body: move |conn: &Connection| insert(conn, &key),
                outcome: None,
                slot: Arc::clone(&slot),
                waiter: Waiter::Thread(std::thread::current()),
                delivered: false,
                lost: lost::<rusqlite::Error>,
            }));
            slot
        })
        .collect();
    let leader = {
        let writer = Arc::clone(&writer);
        std::thread::spawn(move || writer.submit(|conn| insert(conn, "last")))
    };
    let began = Instant::now();
    while !lock(&writer.shared.queue).leading {
        assert!(began.elapsed() < Duration::from_secs(10), "nobody led");
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(held);
    // The jobs ahead name the test thread as their waiter, which never leads: the late leader
    // must lead again itself (waiting instead would hang here, so the join has a deadline).
    let began = Instant::now();
    while !leader.is_finished() {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "the late leader never got its result"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        leader.join().unwrap(),
        Ok(1),
        "the late leader got its own result"
    );
    for (i, slot) in slots.iter().enumerate() {
        let outcome = lock(slot).outcome.take().expect("every job ahead answered");
        assert!(matches!(outcome, Ok(Ok(1))), "job {i}");
    }
    assert_eq!(keys(&other).len(), ahead + 1);
    let (commits, jobs) = writer.stats().commits_and_jobs();
    assert_eq!(jobs as usize, ahead + 1);
    assert_eq!(
        commits as usize,
        (ahead + 1).div_ceil(MAX_GROUP),
        "groups of MAX_GROUP"
    );
    let mut written: Vec<String> = (0..ahead).map(|i| format!("ahead-{i:05}")).collect();
    written.push("last".into());
    assert_eq!(rowid_order(&other), written, "oldest first");
    assert!(lock(&writer.shared.queue).jobs.is_empty());
}
