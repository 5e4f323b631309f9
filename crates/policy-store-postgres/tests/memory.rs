//! The advice held in memory (`recommend_when_current`): served only once a version check
//! begun after the call confirms it, so never older than a write any replica acknowledged
//! before the call, whoever wrote (another handle, a hand edit in SQL). Each test in a fresh
//! schema; feature `postgres-tests`.

use otc_policy::{PolicyConfig, Recommendation, Trajectory};
use policy_store::{CurrentAdvice, PolicyBackend};
use policy_store_postgres::{APPLICATION_NAME, PostgresPolicyStore};
use postgres_kit::testing::TestSchema;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake};
use std::time::{Duration, Instant};

const T0: i64 = 1_700_000_000_000;

fn replica(schema: &TestSchema) -> Arc<PostgresPolicyStore> {
    Arc::new(
        PostgresPolicyStore::open_with(&schema.options(APPLICATION_NAME), PolicyConfig::default())
            .expect("open a replica"),
    )
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn traj(id: usize) -> Trajectory {
    let calls: &[&str] = if id.is_multiple_of(3) {
        &["web", "calc"]
    } else {
        &["calc"]
    };
    Trajectory {
        request_id: format!("r{id}"),
        intent: "search".into(),
        modules: names(&["web", "calc"]),
        calls: names(calls),
        run_units: 1.0 + (id % 4) as f64,
        correct: !id.is_multiple_of(5),
        latency_ms: 80.0,
        timestamp_ms: T0 + id as i64,
        decision_id: None,
        answered_by: None,
        answered_at: None,
    }
}

/// Runs the future on this thread (the store wakes it from its own round thread).
fn block_on(advice: CurrentAdvice) -> Option<Recommendation> {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut advice = advice;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Poll::Ready(answer) = advice.as_mut().poll(&mut cx) {
            return answer;
        }
        assert!(Instant::now() < deadline, "a round never came");
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

fn asked() -> Vec<String> {
    names(&["web", "calc"])
}

/// Nothing held: `None` at once. Once `recommend` has read an answer, it is served from
/// memory, equal to what `recommend` gives, for as long as no checkpoint changes.
#[test]
fn a_held_answer_is_served_while_the_version_confirms_it() {
    let schema = TestSchema::new();
    let store = replica(&schema);
    assert!(store.recommend_when_current("search", &asked()).is_none());
    store.ingest(&traj(1)).unwrap();
    let read = store.recommend("search", &asked()).unwrap();
    for _ in 0..3 {
        let held = store
            .recommend_when_current("search", &asked())
            .expect("held");
        assert_eq!(block_on(held), Some(read.clone()));
    }
    // Invalid names are never answered from memory (`recommend` says why).
    assert!(
        store
            .recommend_when_current("search", &names(&["web", "bad name"]))
            .is_none()
    );
}

/// Another replica's write, acknowledged before the call, is never hidden: the held answer
/// resolves to `None` (then `recommend` reads the new one), every time, and afterwards the
/// new answer is served from memory again.
#[test]
fn another_replicas_write_is_never_hidden() {
    let schema = TestSchema::new();
    let (server, other) = (replica(&schema), replica(&schema));
    other.ingest(&traj(0)).unwrap();
    server.recommend("search", &asked()).unwrap();
    for id in 1..25 {
        other.ingest(&traj(id)).unwrap();
        let truth = other.recommend("search", &asked()).unwrap();
        let held = server
            .recommend_when_current("search", &asked())
            .expect("held");
        assert_eq!(block_on(held), None, "an answer from before write {id}");
        assert_eq!(server.recommend("search", &asked()).unwrap(), truth);
        let held = server
            .recommend_when_current("search", &asked())
            .expect("held");
        assert_eq!(block_on(held), Some(truth));
    }
}

/// A checkpoint edited by hand in SQL (from a session whose search path is not the store's)
/// bumps the version too: the held answer is not served.
#[test]
fn a_hand_edit_of_a_checkpoint_is_seen() {
    let schema = TestSchema::new();
    let store = replica(&schema);
    store.ingest(&traj(1)).unwrap();
    store.recommend("search", &asked()).unwrap();
    let mut client = schema.client();
    client.batch_execute("SET search_path TO public").unwrap();
    client
        .batch_execute(&format!(
            "UPDATE \"{}\".policy_checkpoints SET updated_ms = updated_ms + 1",
            schema.name()
        ))
        .unwrap();
    let held = store
        .recommend_when_current("search", &asked())
        .expect("held");
    assert_eq!(block_on(held), None);
}

/// Two readers ask over and over while another replica ingests one trajectory at a time: every
/// answer served from memory is the recommendation after some prefix of the log no shorter
/// than the writes acknowledged before the ask and no longer than the writes begun by the
/// answer (known from a twin schema fed the same log), and most asks between writes are
/// served from memory. (A write commits before its `ingest` returns: an answer may already
/// hold the write in flight, which is why the upper end counts writes begun.)
#[test]
fn concurrent_readers_get_only_current_answers() {
    const WRITES: usize = 30;
    let twin_schema = TestSchema::new();
    let twin = replica(&twin_schema);
    let mut truths = vec![twin.recommend("search", &asked()).unwrap()];
    for id in 0..WRITES {
        twin.ingest(&traj(id)).unwrap();
        truths.push(twin.recommend("search", &asked()).unwrap());
    }
    let truths = Arc::new(truths);

    let schema = TestSchema::new();
    let (server, other) = (replica(&schema), replica(&schema));
    let written = Arc::new(AtomicUsize::new(0));
    let begun = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (server, written, begun, done, served, truths) = (
                Arc::clone(&server),
                Arc::clone(&written),
                Arc::clone(&begun),
                Arc::clone(&done),
                Arc::clone(&served),
                Arc::clone(&truths),
            );
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    let before = written.load(Ordering::SeqCst);
                    let answer = match server.recommend_when_current("search", &asked()) {
                        Some(held) => block_on(held),
                        None => None,
                    };
                    let Some(answer) = answer else {
                        server.recommend("search", &asked()).unwrap();
                        continue;
                    };
                    let after = begun.load(Ordering::SeqCst);
                    assert!(
                        truths[before..=after].contains(&answer),
                        "an answer older than {before} acknowledged writes or newer than \
                         {after} begun: {answer:?}"
                    );
                    served.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for id in 0..WRITES {
        std::thread::sleep(Duration::from_millis(5));
        begun.store(id + 1, Ordering::SeqCst);
        other.ingest(&traj(id)).unwrap();
        written.store(id + 1, Ordering::SeqCst);
    }
    std::thread::sleep(Duration::from_millis(5));
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.join().expect("a reader failed");
    }
    let served = served.load(Ordering::SeqCst);
    assert!(served > WRITES, "only {served} answers came from memory");
}

/// A request still waiting when its store is dropped resolves (to an answer or to nothing),
/// never hangs; and the version row cannot be deleted or truncated (an old version brought
/// back would make old answers look current).
#[test]
fn a_waiter_outliving_its_store_resolves_and_the_version_only_grows() {
    let schema = TestSchema::new();
    let store = replica(&schema);
    store.ingest(&traj(1)).unwrap();
    let read = store.recommend("search", &asked()).unwrap();
    let held = store
        .recommend_when_current("search", &asked())
        .expect("held");
    drop(store);
    let answer = block_on(held);
    assert!(answer.is_none_or(|a| a == read));

    let mut client = schema.client();
    for statement in ["DELETE FROM policy_epoch", "TRUNCATE policy_epoch"] {
        let err = client.batch_execute(statement).unwrap_err();
        assert!(
            err.as_db_error()
                .is_some_and(|db| db.message().contains("append-only")),
            "{statement}: {err}"
        );
    }
}
