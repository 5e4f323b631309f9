//! What only the PostgreSQL backend's schema can show: a schema the previous build wrote
//! (version 1) upgrades in place and keeps its checkpoints, and a hand-edited `answered_at`
//! is refused by rebuild. Each test in fresh schemas, dropped afterwards; feature
//! `postgres-tests`.

use otc_policy::{PolicyConfig, Trajectory};
use policy_store::{IngestOutcome, PolicyBackend, PolicyError};
use policy_store_postgres::{APPLICATION_NAME, MIGRATIONS, PostgresPolicyStore};
use postgres_kit::testing::TestSchema;

const T0: i64 = 1_700_000_000_000;

fn open(schema: &TestSchema) -> PostgresPolicyStore {
    PostgresPolicyStore::open_with(&schema.options(APPLICATION_NAME), PolicyConfig::default())
        .expect("open the store")
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
        answered_at: None,
    }
}

/// One raw checkpoint row: ids, optimal_n, samples, confidence, BYTEA bytes, updated_ms.
type RawCheckpoint = (i64, i64, Option<i64>, i64, f64, Vec<u8>, i64);

fn raw_checkpoints(client: &mut postgres::Client) -> Vec<RawCheckpoint> {
    client
        .query(
            "SELECT intent_id, module_set_id, optimal_n, samples, confidence, arm_weights,
                    updated_ms
             FROM policy_checkpoints ORDER BY intent_id, module_set_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
            )
        })
        .collect()
}

fn exported(store: &dyn PolicyBackend) -> Vec<Trajectory> {
    let mut out = Vec::new();
    store
        .export(&mut |t| {
            out.push(t.clone());
            Ok(())
        })
        .unwrap();
    out
}

/// A schema the previous build wrote (version 1: its tables, holding the rows a store wrote,
/// checkpoints included) opens at version 2: the checkpoints are kept byte for byte (a row
/// without `answered_at` folds as before, so a rebuild changes nothing), the old rows read
/// back with `answered_at` unset, and a trajectory that says which call answered is stored
/// and compared.
#[test]
fn a_version_one_schema_upgrades_keeping_its_checkpoints() {
    let (current, old) = (TestSchema::new(), TestSchema::new());
    let log = [
        traj("r1", &["web", "calc"], true),
        Trajectory {
            answered_by: Some("web".into()),
            ..traj("r2", &["web", "calc"], true)
        },
        traj("r3", &["mail"], false),
    ];
    let store = open(&current);
    store.ingest_batch(&log).unwrap();
    let log_then = exported(&store);
    drop(store);
    drop(postgres_kit::open(&old.options("otc-test-old"), &MIGRATIONS[..1]).unwrap());
    let mut db = old.client();
    // Identity columns keep their ids with OVERRIDING SYSTEM VALUE; their sequences are then
    // moved past them, as the previous build's inserts would have left them.
    let from = current.name();
    db.batch_execute(&format!(
        r#"INSERT INTO intent_classes OVERRIDING SYSTEM VALUE SELECT * FROM "{from}".intent_classes;
        INSERT INTO module_sets OVERRIDING SYSTEM VALUE SELECT * FROM "{from}".module_sets;
        INSERT INTO reward_configs OVERRIDING SYSTEM VALUE SELECT * FROM "{from}".reward_configs;
        SELECT setval(pg_get_serial_sequence('intent_classes', 'id'), MAX(id)) FROM intent_classes;
        SELECT setval(pg_get_serial_sequence('module_sets', 'id'), MAX(id)) FROM module_sets;
        SELECT setval(pg_get_serial_sequence('reward_configs', 'id'), MAX(id)) FROM reward_configs;
        INSERT INTO trajectory_log (id, request_id, intent_id, module_set_id, calls, run_units,
            correct, latency_ms, timestamp_ms, decision_id, served, policy_budget,
            order_explored, answered)
        SELECT id, request_id, intent_id, module_set_id, calls, run_units, correct, latency_ms,
            timestamp_ms, decision_id, served, policy_budget, order_explored, answered
        FROM "{from}".trajectory_log;
        INSERT INTO reward_events SELECT trajectory_id, config_id, n_used, r_tool,
            r_correctness, r_cost, composite FROM "{from}".reward_events;
        INSERT INTO policy_checkpoints SELECT * FROM "{from}".policy_checkpoints;"#
    ))
    .unwrap();
    let checkpoints = raw_checkpoints(&mut current.client());
    assert_eq!(checkpoints.len(), 1);
    assert_eq!(raw_checkpoints(&mut db), checkpoints);

    let store = open(&old);
    assert_eq!(
        postgres_kit::schema_version(&mut db).unwrap(),
        policy_store_postgres::schema::MIGRATIONS.len() as i64
    );
    assert_eq!(raw_checkpoints(&mut db), checkpoints, "kept by the upgrade");
    assert_eq!(exported(&store), log_then);
    assert!(log_then.iter().all(|t| t.answered_at.is_none()));
    store.rebuild().unwrap();
    assert_eq!(
        raw_checkpoints(&mut db),
        checkpoints,
        "an old row folds as one that does not say which call answered"
    );
    let new = Trajectory {
        answered_at: Some(1),
        ..traj("r4", &["web", "calc"], true)
    };
    assert!(matches!(
        store.ingest(&new).unwrap(),
        IngestOutcome::Accepted { .. }
    ));
    let mut sorted = new.clone();
    sorted.modules.sort();
    assert_eq!(exported(&store).last(), Some(&sorted));
    // A copied request id is still known: a retry is a duplicate, a change a conflict.
    assert!(matches!(
        store.ingest(&log[0]).unwrap(),
        IngestOutcome::Duplicate { .. }
    ));
    let said_now = Trajectory {
        answered_at: Some(1),
        ..log[0].clone()
    };
    assert!(matches!(
        store.ingest(&said_now),
        Err(PolicyError::Conflict(item)) if item.fields == ["answered_at"]
    ));
    // A new intent gets an id past the copied ones.
    store
        .ingest(&Trajectory {
            intent: "other".into(),
            ..traj("r5", &["web"], true)
        })
        .unwrap();
}

/// A stored `answered_at` past its row's calls (written by hand: ingest validates it) is a
/// corrupt trajectory to rebuild, not a checkpoint no ingest could have produced.
#[test]
fn rebuild_refuses_a_hand_written_answered_at_beyond_the_calls() {
    let schema = TestSchema::new();
    let store = open(&schema);
    store.ingest(&traj("r1", &["web"], true)).unwrap();
    let before = store.checkpoints().unwrap();
    schema
        .client()
        .batch_execute(
            "ALTER TABLE trajectory_log DISABLE TRIGGER trajectory_log_append_only;
             UPDATE trajectory_log SET answered_at = 2 WHERE request_id = 'r1';",
        )
        .unwrap();
    match store.rebuild() {
        Err(PolicyError::CorruptTrajectory { request_id, reason }) => {
            assert_eq!(request_id, "r1");
            assert!(reason.contains("answered_at"), "{reason}");
        }
        other => panic!("expected CorruptTrajectory, got {other:?}"),
    }
    assert_eq!(
        store.checkpoints().unwrap(),
        before,
        "the failed rebuild wrote nothing"
    );
}
