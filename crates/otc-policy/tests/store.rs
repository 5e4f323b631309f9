//! Policy store behaviour on a real file: idempotent ingest, conflicting duplicates refused,
//! all-or-nothing batches, typed errors that write nothing, rebuild equal to incremental, corrupt BLOB repair, fallbacks,
//! schema upgrade from an older build.

use otc_policy::synthetic::World;
use otc_policy::{
    IngestOutcome, PolicyBackend, PolicyConfig, PolicyError, PolicyStore, RecommendationSource,
    Trajectory, ValidationError,
};
use std::path::Path;

const T0: i64 = 1_700_000_000_000;

fn open(dir: &Path) -> PolicyStore {
    PolicyStore::open(&dir.join("policy.db"), PolicyConfig::default()).unwrap()
}

fn traj(id: &str, calls: &[&str], correct: bool) -> Trajectory {
    Trajectory {
        request_id: id.into(),
        intent: "search".into(),
        modules: vec!["web".into(), "calc".into(), "mail".into()],
        calls: calls.iter().map(|c| (*c).into()).collect(),
        run_units: 2.0,
        correct,
        latency_ms: 80.0,
        timestamp_ms: T0,
        decision_id: None,
        answered_by: None,
    }
}

fn counts(store: &PolicyStore) -> Vec<(String, u64)> {
    store.table_counts().unwrap()
}

/// One raw checkpoint row: ids, optimal_n, samples, confidence, BLOB bytes, updated_ms.
type RawCheckpoint = (i64, i64, Option<i64>, i64, f64, Vec<u8>, i64);

/// Raw checkpoint rows, BLOB bytes included, for exact comparisons.
fn raw_checkpoints(path: &Path) -> Vec<RawCheckpoint> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT intent_id, module_set_id, optimal_n, samples, confidence, arm_weights,
                    updated_ms
             FROM policy_checkpoints ORDER BY intent_id, module_set_id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn the_store_is_send_and_sync() {
    fn assert_shareable<T: Send + Sync + 'static>() {}
    assert_shareable::<PolicyStore>();
    assert_shareable::<std::sync::Arc<dyn PolicyBackend>>();
}

#[test]
fn a_duplicate_changes_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let first = store.ingest(&traj("r1", &["web", "calc"], true)).unwrap();
    let IngestOutcome::Accepted { score, .. } = first else {
        panic!("expected accepted, got {first:?}");
    };
    assert_eq!(
        score.optimal,
        Some(2.0),
        "the first correct trajectory sets n"
    );
    let before = (counts(&store), store.checkpoints().unwrap());
    // The same trajectory, its module set in another order: a retry.
    let mut again = traj("r1", &["web", "calc"], true);
    again.modules.reverse();
    assert_eq!(
        store.ingest(&again).unwrap(),
        IngestOutcome::Duplicate {
            request_id: "r1".into()
        }
    );
    assert_eq!((counts(&store), store.checkpoints().unwrap()), before);
}

/// Regression: the same request id with other content was reported as a `Duplicate` and the
/// new content silently dropped.
#[test]
fn a_conflicting_duplicate_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.ingest(&traj("r1", &["web", "calc"], true)).unwrap();
    let before = (counts(&store), store.checkpoints().unwrap());
    let mut other = traj("r1", &["web"], false);
    other.intent = "mail".into();
    other.run_units = 99.0;
    let err = store.ingest(&other).unwrap_err();
    let PolicyError::Conflict(item) = &err else {
        panic!("expected Conflict, got {err:?}");
    };
    assert_eq!(item.fields, ["intent", "calls", "run_units", "correct"]);
    assert_eq!(
        err.to_string(),
        "request id \"r1\" is already stored with different content \
         (differs in: intent, calls, run_units, correct)"
    );
    // Each field on its own is a conflict, including a module set the calls do not need.
    type Change = fn(&mut Trajectory);
    let changes: Vec<(&str, Change)> = vec![
        ("modules", |t| t.modules.push("ftp".into())),
        ("latency_ms", |t| t.latency_ms += 1.0),
        ("timestamp_ms", |t| t.timestamp_ms += 1),
    ];
    for (field, change) in changes {
        let mut t = traj("r1", &["web", "calc"], true);
        change(&mut t);
        match store.ingest(&t) {
            Err(PolicyError::Conflict(item)) => assert_eq!(item.fields, [field]),
            other => panic!("{field}: expected Conflict, got {other:?}"),
        }
    }
    assert_eq!((counts(&store), store.checkpoints().unwrap()), before);
}

#[test]
fn a_batch_reports_duplicates_per_item_including_repeats_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.ingest(&traj("a", &["web"], true)).unwrap();
    let report = store
        .ingest_batch(&[
            traj("a", &["web"], true),
            traj("b", &["web"], true),
            traj("b", &["web"], true),
        ])
        .unwrap();
    assert_eq!((report.accepted, report.duplicates), (1, 2));
    assert!(matches!(report.items[0], IngestOutcome::Duplicate { .. }));
    assert!(matches!(report.items[1], IngestOutcome::Accepted { .. }));
    assert!(matches!(report.items[2], IngestOutcome::Duplicate { .. }));

    // Conflicts, with the store or inside the batch, reject the whole batch and are all listed.
    let before = counts(&store);
    let err = store
        .ingest_batch(&[
            traj("c", &["web"], true),
            traj("a", &["calc"], true),
            traj("d", &["web"], true),
            traj("d", &["web"], false),
        ])
        .unwrap_err();
    let PolicyError::ConflictBatch(items) = err else {
        panic!("expected ConflictBatch, got {err:?}");
    };
    let found: Vec<(usize, &str)> = items
        .iter()
        .map(|i| (i.index, i.request_id.as_str()))
        .collect();
    assert_eq!(found, [(1, "a"), (3, "d")]);
    assert_eq!(counts(&store), before, "nothing of the batch was written");
}

#[test]
fn an_invalid_item_rejects_the_whole_batch_and_lists_every_offender() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let before = counts(&store);
    let mut nan = traj("n", &["web"], true);
    nan.latency_ms = f64::NAN;
    let err = store
        .ingest_batch(&[traj("ok", &["web"], true), nan, traj("", &[], false)])
        .unwrap_err();
    let PolicyError::InvalidBatch(items) = err else {
        panic!("expected InvalidBatch, got {err:?}");
    };
    let indices: Vec<usize> = items.iter().map(|item| item.index).collect();
    assert_eq!(indices, vec![1, 2]);
    assert_eq!(counts(&store), before, "nothing of the batch was written");
}

#[test]
fn each_bad_input_is_a_typed_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.ingest(&traj("seed", &["web"], true)).unwrap();
    let before = (counts(&store), store.checkpoints().unwrap());
    let cases: Vec<(&str, Trajectory)> = vec![
        ("empty id", traj("", &["web"], true)),
        ("absurd call count", traj("c", &["web"; 5000], true)),
        ("call outside set", traj("o", &["ftp"], true)),
        (
            "negative run-units",
            Trajectory {
                run_units: -1.0,
                ..traj("u", &[], true)
            },
        ),
        (
            "infinite run-units",
            Trajectory {
                run_units: f64::INFINITY,
                ..traj("u", &[], true)
            },
        ),
        (
            "NaN run-units",
            Trajectory {
                run_units: f64::NAN,
                ..traj("u", &[], true)
            },
        ),
        (
            "NaN latency",
            Trajectory {
                latency_ms: f64::NAN,
                ..traj("u", &[], true)
            },
        ),
        (
            "negative latency",
            Trajectory {
                latency_ms: -5.0,
                ..traj("u", &[], true)
            },
        ),
        (
            "future timestamp",
            Trajectory {
                timestamp_ms: i64::MAX,
                ..traj("u", &[], true)
            },
        ),
        (
            "oversized module set",
            Trajectory {
                modules: (0..65).map(|i| format!("m{i}")).collect(),
                ..traj("u", &[], true)
            },
        ),
        (
            "bad intent",
            Trajectory {
                intent: "a/b".into(),
                ..traj("u", &[], true)
            },
        ),
    ];
    for (what, t) in cases {
        let err = store.ingest(&t).unwrap_err();
        assert!(matches!(err, PolicyError::Invalid(_)), "{what}: {err:?}");
    }
    assert_eq!((counts(&store), store.checkpoints().unwrap()), before);
    let unknown = r#"{"request_id":"x","intent":"i","modules":["a"],"calls":[],"run_units":0,
        "correct":true,"latency_ms":1,"timestamp_ms":0,"retries":3}"#;
    assert!(serde_json::from_str::<Trajectory>(unknown).is_err());
    assert!(matches!(
        store.recommend("search", &["web".into(), "web".into()]),
        Err(PolicyError::Invalid(ValidationError::BadModuleSet(_)))
    ));
}

#[test]
fn rebuild_equals_the_incremental_result() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let store = PolicyStore::open(&path, PolicyConfig::default()).unwrap();
    let world = World::standard(4);
    let all = world.trajectories(3000, 11, "r", T0);
    // Mixed paths: single ingests, batches, and re-sent duplicates.
    for t in &all[..200] {
        store.ingest(t).unwrap();
    }
    for chunk in all[150..].chunks(700) {
        store.ingest_batch(chunk).unwrap();
    }
    let incremental = (raw_checkpoints(&path), store.checkpoints().unwrap());
    let report = store.rebuild().unwrap();
    assert_eq!((report.trajectories, report.checkpoints), (3000, 4));
    assert_eq!(
        (raw_checkpoints(&path), store.checkpoints().unwrap()),
        incremental
    );
}

#[test]
fn a_corrupt_blob_is_a_typed_error_and_rebuild_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let store = PolicyStore::open(&path, PolicyConfig::default()).unwrap();
    for i in 0..5 {
        store
            .ingest(&traj(&format!("r{i}"), &["web", "calc"], true))
            .unwrap();
    }
    let good = store.checkpoints().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE policy_checkpoints SET arm_weights = x'c1ffee'", [])
        .unwrap();
    let modules = vec!["web".into(), "calc".into(), "mail".into()];
    assert!(matches!(
        store.recommend("search", &modules),
        Err(PolicyError::CorruptCheckpoint { .. })
    ));
    assert!(matches!(
        store.checkpoints(),
        Err(PolicyError::CorruptCheckpoint { .. })
    ));
    let before = counts(&store);
    assert!(matches!(
        store.ingest(&traj("r9", &["web"], true)),
        Err(PolicyError::CorruptCheckpoint { .. })
    ));
    assert_eq!(counts(&store), before, "a failed ingest writes nothing");
    store.rebuild().unwrap();
    assert_eq!(store.checkpoints().unwrap(), good);
    assert_eq!(store.recommend("search", &modules).unwrap().budget, 2);
}

/// The intent fallback serves other module sets: a corrupt sibling is skipped as long as a
/// readable one remains, and is an error only when none is readable.
#[test]
fn the_fallback_skips_a_corrupt_sibling_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let store = PolicyStore::open(&path, PolicyConfig::default()).unwrap();
    let mut small = traj("s1", &["web"], true);
    small.modules = vec!["web".into()];
    store
        .ingest_batch(&[traj("r1", &["web", "calc"], true), small])
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let corrupt = |modules: &str| {
        conn.execute(
            "UPDATE policy_checkpoints SET arm_weights = x'deadbeef' WHERE module_set_id =
                 (SELECT id FROM module_sets WHERE modules = ?1)",
            [modules],
        )
        .unwrap()
    };
    assert_eq!(corrupt("calc,mail,web"), 1);
    let asked: Vec<String> = vec!["web".into(), "ftp".into()];
    let rec = store.recommend("search", &asked).unwrap();
    assert_eq!(rec.source, RecommendationSource::IntentFallback);
    assert_eq!(rec.budget, 1, "from the readable sibling {{web}}");
    assert!(matches!(
        store.recommend("search", &["web".into(), "calc".into(), "mail".into()]),
        Err(PolicyError::CorruptCheckpoint { .. })
    ));
    assert_eq!(corrupt("web"), 1);
    assert!(matches!(
        store.recommend("search", &asked),
        Err(PolicyError::CorruptCheckpoint { .. })
    ));
}

#[test]
fn recommend_falls_back_and_never_errors_for_the_unseen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..20 {
        store
            .ingest(&traj(&format!("r{i}"), &["web", "web", "calc"], true))
            .unwrap();
    }
    let exact = store
        .recommend("search", &["mail".into(), "calc".into(), "web".into()])
        .unwrap();
    assert_eq!(
        (exact.source, exact.budget),
        (RecommendationSource::Exact, 3),
        "unlogged trajectories count as served the calls they made"
    );
    let ranked: Vec<&str> = exact.ranked.iter().map(|a| a.module.as_str()).collect();
    assert_eq!(
        ranked,
        ["calc", "mail", "web"],
        "the module that answered (last call) first, the untried one before the one that \
         was tried and never answered"
    );
    let other = store
        .recommend("search", &["web".into(), "ftp".into()])
        .unwrap();
    assert_eq!(other.source, RecommendationSource::IntentFallback);
    assert_eq!(other.budget, 3);
    assert!(other.reason.contains("borrowed"), "{}", other.reason);
    assert!(other.confidence < exact.confidence);
    assert_eq!(other.ranked[0].module, "ftp");
    assert_eq!(other.ranked[1].module, "web");
    // A sibling that shares no module lends nothing: the cold start.
    let unrelated = store.recommend("search", &["ftp".into()]).unwrap();
    assert_eq!(unrelated.source, RecommendationSource::Unseen);
    let unseen = store.recommend("translate", &["web".into()]).unwrap();
    assert_eq!(
        (unseen.source, unseen.budget, unseen.confidence),
        (RecommendationSource::Unseen, 0, 0.0)
    );
    assert!(
        unseen.ranked.is_empty(),
        "a budget of 0 means answer without tools"
    );
}

#[test]
fn a_database_from_the_first_schema_version_opens_and_upgrades() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    let old = sqlite_kit_open_v1(&path);
    old.execute(
        "INSERT INTO intent_classes (id, name) VALUES (1, 'legacy')",
        [],
    )
    .unwrap();
    drop(old);
    let store = PolicyStore::open(&path, PolicyConfig::default()).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, otc_policy::store::MIGRATIONS.len() as i64);
    assert_eq!(counts(&store)[0], ("intent_classes".to_owned(), 1));
    store.ingest(&traj("r1", &["web"], true)).unwrap();
    let err = conn.execute("DELETE FROM trajectory_log", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

fn sqlite_kit_open_v1(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    sqlite_kit::migrate(&conn, &otc_policy::store::MIGRATIONS[..1]).unwrap();
    conn
}
