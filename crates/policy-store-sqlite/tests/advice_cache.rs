//! `recommend` answered from memory (`advice_cache`): it is used, and it never serves a
//! recommendation older than a commit that returned before the call, whoever committed: this
//! handle, another handle on the same file (another connection, as another process is to
//! SQLite), or a hand edit. (A real second process is `tests/integration/advice_cache.rs`.)

use otc_policy::synthetic::World;
use otc_policy::{PolicyConfig, RecommendationSource, Trajectory};
use policy_store::{PolicyBackend, PolicyError};
use policy_store_sqlite::SqlitePolicyStore;
use std::path::Path;

const T0: i64 = 1_700_000_000_000;

fn open(path: &Path) -> SqlitePolicyStore {
    SqlitePolicyStore::open(path, PolicyConfig::default()).unwrap()
}

fn traj(id: &str, modules: &[&str], calls: &[&str]) -> Trajectory {
    Trajectory {
        request_id: id.into(),
        intent: "search".into(),
        modules: modules.iter().map(|m| (*m).into()).collect(),
        calls: calls.iter().map(|c| (*c).into()).collect(),
        run_units: 1.0,
        correct: true,
        latency_ms: 50.0,
        timestamp_ms: T0,
        decision_id: None,
        answered_by: None,
        answered_at: None,
    }
}

fn names(modules: &[&str]) -> Vec<String> {
    modules.iter().map(|m| (*m).into()).collect()
}

#[test]
fn a_repeated_recommend_is_answered_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("policy.db"));
    store
        .ingest(&traj("r1", &["web", "calc"], &["web"]))
        .unwrap();
    let asked = names(&["calc", "web"]);
    let first = store.recommend("search", &asked).unwrap();
    let before = store.advice_cache_stats();
    for _ in 0..10 {
        assert_eq!(store.recommend("search", &asked).unwrap(), first);
    }
    // The same set asked in another order is the same entry.
    assert_eq!(
        store.recommend("search", &names(&["web", "calc"])).unwrap(),
        first
    );
    let after = store.advice_cache_stats();
    assert_eq!(after.hits - before.hits, 11, "{before:?} -> {after:?}");
    assert_eq!(after.misses, before.misses);
}

#[test]
fn a_commit_on_another_handle_is_seen_by_the_next_recommend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let (server, other) = (open(&path), open(&path));
    let asked = names(&["web", "calc"]);
    let cold = server.recommend("search", &asked).unwrap();
    assert_eq!(cold.source, RecommendationSource::Unseen);
    assert_eq!(server.recommend("search", &asked).unwrap(), cold, "cached");
    // A sibling set written elsewhere: the loan must show at once.
    other
        .ingest(&traj("s1", &["web", "mail"], &["web"]))
        .unwrap();
    let loan = server.recommend("search", &asked).unwrap();
    assert_eq!(loan.source, RecommendationSource::IntentFallback);
    // The exact set written elsewhere.
    other
        .ingest(&traj("e1", &["web", "calc"], &["web"]))
        .unwrap();
    let exact = server.recommend("search", &asked).unwrap();
    assert_eq!(exact.source, RecommendationSource::Exact);
    assert_eq!(exact, open(&path).recommend("search", &asked).unwrap());
}

#[test]
fn a_checkpoint_corrupted_by_hand_after_it_was_cached_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let store = open(&path);
    store
        .ingest(&traj("r1", &["web", "calc"], &["web"]))
        .unwrap();
    let asked = names(&["web", "calc"]);
    store.recommend("search", &asked).unwrap();
    store.recommend("search", &asked).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE policy_checkpoints SET arm_weights = x'c1ffee'", [])
        .unwrap();
    // Errors are not kept: each ask with no write between reads the file again.
    let before = store.advice_cache_stats();
    for _ in 0..2 {
        assert!(matches!(
            store.recommend("search", &asked),
            Err(PolicyError::CorruptCheckpoint { .. })
        ));
    }
    let after = store.advice_cache_stats();
    assert_eq!((after.hits, after.misses), (before.hits, before.misses + 2));
    store.rebuild().unwrap();
    assert_eq!(
        store.recommend("search", &asked).unwrap().source,
        RecommendationSource::Exact
    );
}

/// A seeded stream of single ingests on two handles of one file, the server asking for every
/// combination twice after each one: every answer equals that of a store opened afresh (no
/// cache) on the file, and most repeated asks are answered from memory.
#[test]
fn interleaved_writers_never_make_a_recommendation_stale() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let (server, other) = (open(&path), open(&path));
    let world = World::standard(3);
    let combinations: Vec<(String, Vec<String>)> = world
        .intents
        .iter()
        .map(|spec| (spec.name.clone(), spec.module_names()))
        .collect();
    let log = world.trajectories(240, 11, "mix", T0);
    for (k, trajectory) in log.iter().enumerate() {
        // Every third write comes from the other handle, the rest from the server's own.
        let writer = if k % 3 == 0 { &other } else { &server };
        writer.ingest(trajectory).unwrap();
        let fresh = open(&path);
        for (intent, modules) in &combinations {
            let served = server.recommend(intent, modules).unwrap();
            assert_eq!(
                served,
                fresh.recommend(intent, modules).unwrap(),
                "after write {k} ({intent})"
            );
            assert_eq!(server.recommend(intent, modules).unwrap(), served);
        }
    }
    let stats = server.advice_cache_stats();
    let asks = 2 * log.len() as u64 * combinations.len() as u64;
    assert_eq!(stats.hits + stats.misses, asks);
    assert!(stats.hits >= asks / 2, "{stats:?}");
    assert!(stats.misses >= log.len() as u64, "{stats:?}");
}

/// A writer thread ingests one combination's trajectories one at a time while readers ask for
/// its recommendation: every answer is one the policy gave after at least every ingest that had
/// returned before the ask began (the recommendations after each prefix of the log come from a
/// reference store on another file).
#[test]
fn concurrent_asks_never_see_less_than_the_acknowledged_writes() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let world = World::standard(1);
    let spec = &world.intents[0];
    let modules = spec.module_names();
    let log = world.trajectories(300, 5, "race", T0);
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = open(&reference_dir.path().join("reference.db"));
    let mut after_prefix = vec![reference.recommend(&spec.name, &modules).unwrap()];
    for trajectory in &log {
        reference.ingest(trajectory).unwrap();
        after_prefix.push(reference.recommend(&spec.name, &modules).unwrap());
    }
    let distinct = after_prefix
        .windows(2)
        .filter(|pair| pair[0] != pair[1])
        .count();
    assert!(distinct > 100, "the advice changes often: {distinct}");

    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("policy.db"));
    let acknowledged = AtomicUsize::new(0);
    // Set when the writer ends, by a panic too, so the readers never spin forever.
    let writer_done = AtomicBool::new(false);
    struct Done<'a>(&'a AtomicBool);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _done = Done(&writer_done);
            for (k, trajectory) in log.iter().enumerate() {
                store.ingest(trajectory).unwrap();
                acknowledged.store(k + 1, Ordering::SeqCst);
            }
        });
        for _ in 0..2 {
            scope.spawn(|| {
                let mut asks = 0;
                loop {
                    let floor = acknowledged.load(Ordering::SeqCst);
                    let served = store.recommend(&spec.name, &modules).unwrap();
                    assert!(
                        after_prefix[floor..].contains(&served),
                        "ask {asks}: an answer older than the {floor} acknowledged ingests"
                    );
                    asks += 1;
                    if floor == log.len() || writer_done.load(Ordering::SeqCst) {
                        break;
                    }
                }
            });
        }
    });
    assert!(store.advice_cache_stats().hits > 0);
}

/// The non-blocking path the HTTP handler tries first: only a current kept answer, else none.
#[test]
fn recommend_from_memory_gives_only_a_current_kept_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let (server, other) = (open(&path), open(&path));
    let asked = names(&["web", "calc"]);
    assert_eq!(
        server.recommend_from_memory("search", &asked),
        None,
        "nothing kept"
    );
    let first = server.recommend("search", &asked).unwrap();
    assert_eq!(server.recommend_from_memory("search", &asked), Some(first));
    assert_eq!(
        server.recommend_from_memory("search", &names(&["web", "bad name"])),
        None,
        "invalid names are for recommend to explain"
    );
    other
        .ingest(&traj("e1", &["web", "calc"], &["web"]))
        .unwrap();
    assert_eq!(
        server.recommend_from_memory("search", &asked),
        None,
        "another handle committed"
    );
    let exact = server.recommend("search", &asked).unwrap();
    assert_eq!(exact.source, RecommendationSource::Exact);
    assert_eq!(server.recommend_from_memory("search", &asked), Some(exact));
}
