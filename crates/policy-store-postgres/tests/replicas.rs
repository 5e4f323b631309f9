//! What only the PostgreSQL backend can show: several handles on one schema are replicas of
//! one store. Writers of all of them are ordered by the writer lock, so concurrent ingests lose
//! nothing and double nothing and still match a rebuild (even one running meanwhile on another
//! replica), a trajectory retried on another replica is a duplicate, decisions of two replicas
//! never share an id, and the logs are append-only in the database itself. Each test in a
//! fresh schema, dropped afterwards; feature `postgres-tests`.

use otc_policy::synthetic::World;
use otc_policy::{PolicyConfig, Trajectory};
use policy_store::{IngestOutcome, PolicyBackend, PolicyError};
use policy_store_postgres::{APPLICATION_NAME, PostgresPolicyStore};
use postgres_kit::testing::TestSchema;
use std::collections::HashSet;
use std::sync::{Arc, Barrier};

const T0: i64 = 1_700_000_000_000;

fn replica(schema: &TestSchema) -> Arc<PostgresPolicyStore> {
    Arc::new(
        PostgresPolicyStore::open_with(&schema.options(APPLICATION_NAME), PolicyConfig::default())
            .expect("open a replica"),
    )
}

fn count(client: &mut postgres::Client, query: &str) -> i64 {
    client.query_one(query, &[]).unwrap().get(0)
}

fn traj(id: &str) -> Trajectory {
    Trajectory {
        request_id: id.into(),
        intent: "search".into(),
        modules: vec!["web".into(), "calc".into()],
        calls: vec!["web".into(), "calc".into()],
        run_units: 2.0,
        correct: true,
        latency_ms: 80.0,
        timestamp_ms: T0,
        decision_id: None,
        answered_by: None,
        answered_at: None,
    }
}

fn accepted(outcomes: impl IntoIterator<Item = IngestOutcome>) -> u64 {
    outcomes
        .into_iter()
        .filter(|o| matches!(o, IngestOutcome::Accepted { .. }))
        .count() as u64
}

/// Both replicas are sent every trajectory (one in batches front to back, the other in
/// batches back to front and singly), while a third thread rebuilds on the first: each
/// trajectory is stored and scored once, and the checkpoints equal a rebuild from the log.
#[test]
fn replicas_ingesting_at_once_lose_nothing_double_nothing_and_match_a_rebuild() {
    let schema = TestSchema::new();
    let (a, b) = (replica(&schema), replica(&schema));
    let all = Arc::new(World::standard(4).trajectories(1600, 5, "rep", T0));
    let start = Arc::new(Barrier::new(4));
    let spawn = |work: Box<dyn FnOnce() -> u64 + Send>| {
        let start = start.clone();
        std::thread::spawn(move || {
            start.wait();
            work()
        })
    };
    let (a1, b1, b2, a2) = (a.clone(), b.clone(), b.clone(), a.clone());
    let (all1, all2, all3) = (all.clone(), all.clone(), all.clone());
    let threads = [
        spawn(Box::new(move || {
            all1.chunks(50)
                .map(|chunk| a1.ingest_batch(chunk).expect("batch on a").accepted)
                .sum()
        })),
        spawn(Box::new(move || {
            all2.rchunks(70)
                .map(|chunk| b1.ingest_batch(chunk).expect("batch on b").accepted)
                .sum()
        })),
        spawn(Box::new(move || {
            accepted(
                all3.iter()
                    .step_by(3)
                    .map(|t| b2.ingest(t).expect("single ingest on b")),
            )
        })),
        spawn(Box::new(move || {
            for _ in 0..5 {
                a2.rebuild().expect("rebuild on a meanwhile");
            }
            0
        })),
    ];
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, 1600, "each trajectory accepted exactly once");

    let mut db = schema.client();
    assert_eq!(count(&mut db, "SELECT COUNT(*) FROM trajectory_log"), 1600);
    assert_eq!(
        count(
            &mut db,
            "SELECT COUNT(DISTINCT request_id) FROM trajectory_log"
        ),
        1600
    );
    assert_eq!(count(&mut db, "SELECT COUNT(*) FROM reward_events"), 1600);
    let ids: HashSet<String> = all.iter().map(|t| t.request_id.clone()).collect();
    let mut exported = HashSet::new();
    b.export(&mut |t| {
        assert!(
            exported.insert(t.request_id.clone()),
            "{} twice",
            t.request_id
        );
        Ok(())
    })
    .unwrap();
    assert_eq!(exported, ids);

    let incremental = a.checkpoints().unwrap();
    assert_eq!(incremental.iter().map(|c| c.samples).sum::<u64>(), 1600);
    assert_eq!(
        b.checkpoints().unwrap(),
        incremental,
        "both replicas read the same"
    );
    b.rebuild().unwrap();
    assert_eq!(a.checkpoints().unwrap(), incremental, "equal to a rebuild");
}

/// A client that times out on one replica and retries on another: the retry is a duplicate
/// (its content a conflict), whether it comes after the first or races it.
#[test]
fn a_trajectory_retried_on_the_other_replica_is_a_duplicate() {
    let schema = TestSchema::new();
    let (a, b) = (replica(&schema), replica(&schema));
    assert!(matches!(
        a.ingest(&traj("r1")).unwrap(),
        IngestOutcome::Accepted { .. }
    ));
    assert_eq!(
        b.ingest(&traj("r1")).unwrap(),
        IngestOutcome::Duplicate {
            request_id: "r1".into()
        }
    );
    let mut changed = traj("r1");
    changed.correct = false;
    match b.ingest(&changed) {
        Err(PolicyError::Conflict(item)) => assert_eq!(item.fields, ["correct"]),
        other => panic!("expected Conflict, got {other:?}"),
    }

    // Races: both replicas send the same trajectory at the same moment.
    for i in 0..20 {
        let t = traj(&format!("race-{i}"));
        let start = Arc::new(Barrier::new(2));
        let outcomes: Vec<IngestOutcome> = [a.clone(), b.clone()]
            .into_iter()
            .map(|store| {
                let (t, start) = (t.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    store.ingest(&t).expect("no error on a race")
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert_eq!(accepted(outcomes), 1, "race {i}");
    }
    let mut db = schema.client();
    assert_eq!(count(&mut db, "SELECT COUNT(*) FROM trajectory_log"), 21);
    assert_eq!(a.checkpoints().unwrap()[0].samples, 21);
}

/// Decisions made on two replicas at once get distinct ids, 1 to n without a gap.
#[test]
fn decisions_of_two_replicas_never_share_an_id() {
    let schema = TestSchema::new();
    let (a, b) = (replica(&schema), replica(&schema));
    let modules = vec!["web".to_owned(), "calc".to_owned()];
    let threads: Vec<_> = [a.clone(), b.clone(), a, b]
        .into_iter()
        .map(|store| {
            let modules = modules.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| store.decide("search", &modules).unwrap().decision_id)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=100).collect::<Vec<_>>());
}

/// The logs are append-only in the database itself, as SQLite's triggers make them: a
/// hand-written UPDATE, DELETE or TRUNCATE fails, and a decision cannot be edited.
#[test]
fn the_logs_refuse_updates_and_deletes_in_sql() {
    let schema = TestSchema::new();
    let store = replica(&schema);
    store.ingest(&traj("r1")).unwrap();
    store.decide("search", &traj("r1").modules).unwrap();
    let mut db = schema.client();
    for statement in [
        "UPDATE trajectory_log SET correct = false",
        "DELETE FROM trajectory_log",
        "TRUNCATE trajectory_log CASCADE",
        "UPDATE reward_events SET composite = 0",
        "DELETE FROM reward_events",
        "UPDATE decisions SET budget = 9",
    ] {
        let err = db.batch_execute(statement).unwrap_err();
        let message = err.as_db_error().map(|e| e.message().to_owned());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.ends_with("is append-only")),
            "{statement}: {err:?}"
        );
    }
    assert_eq!(count(&mut db, "SELECT COUNT(*) FROM trajectory_log"), 1);
}
