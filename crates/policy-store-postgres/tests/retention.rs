//! Time partitions and retention on a real server (feature `postgres-tests`): rows land in the
//! month of the ingest that logged them; dropping the months before a cut keeps every
//! checkpoint, and a rebuild afterwards (from the base retention folded) still equals both the
//! incremental checkpoints and a store that was never cut; decisions go with their months;
//! request ids of dropped rows are forgotten at the end of the run. Each test in a fresh
//! schema, dropped afterwards, with a clock of its own that the test sets.

use otc_policy::synthetic::World;
use otc_policy::{PolicyConfig, Trajectory};
use policy_store::{IngestOutcome, PolicyBackend};
use policy_store_postgres::{APPLICATION_NAME, PostgresPolicyStore, RetentionError};
use postgres_kit::partitions;
use postgres_kit::testing::TestSchema;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// 2026-01-15T00:00:00Z, and the first instants of February to May 2026.
const JAN_15: i64 = 1_768_435_200_000;
const FEB: i64 = 1_769_904_000_000;
const MAR: i64 = 1_772_323_200_000;
const APR: i64 = 1_775_001_600_000;
const MAY: i64 = 1_777_593_600_000;
const DAY: i64 = 86_400_000;

/// A test's clock: the store reads it, the test sets it.
type TestClock = Arc<AtomicI64>;

fn new_clock() -> TestClock {
    Arc::new(AtomicI64::new(JAN_15))
}

fn open(schema: &TestSchema, clock: &TestClock) -> PostgresPolicyStore {
    let clock = clock.clone();
    PostgresPolicyStore::open_with(&schema.options(APPLICATION_NAME), PolicyConfig::default())
        .expect("open the store")
        .with_clock(move || clock.load(Ordering::SeqCst))
}

fn count(client: &mut postgres::Client, query: &str) -> i64 {
    client.query_one(query, &[]).unwrap().get(0)
}

/// Raw checkpoint rows, BLOB bytes included, in key order.
fn raw_checkpoints(schema: &TestSchema) -> Vec<(String, String, i64, Vec<u8>, i64)> {
    schema
        .client()
        .query(
            "SELECT i.name, m.modules, c.samples, c.arm_weights, c.updated_ms
             FROM policy_checkpoints c JOIN intent_classes i ON i.id = c.intent_id
             JOIN module_sets m ON m.id = c.module_set_id ORDER BY 1, 2",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

/// The log of four months: 300 trajectories a month, some answering logged decisions, ingested
/// by each of `stores` in lockstep with the clock set in that month (the stores decide alike,
/// so their decision ids agree). Returns every trajectory in ingest order.
fn four_months(stores: &[&PostgresPolicyStore], clock: &AtomicI64) -> Vec<Trajectory> {
    let world = World::standard(3);
    let mut all = Vec::new();
    for (month, start) in [JAN_15, FEB + DAY, MAR + DAY, APR + DAY]
        .into_iter()
        .enumerate()
    {
        clock.store(start, Ordering::SeqCst);
        let mut items =
            world.trajectories(300, month as u64 + 1, &format!("m{month}"), start - DAY);
        // Every tenth answers a decision taken this month.
        for chunk in items.chunks_mut(100) {
            for item in chunk.iter_mut().step_by(10) {
                let decisions: Vec<_> = stores
                    .iter()
                    .map(|s| s.decide(&item.intent, &item.modules).unwrap())
                    .collect();
                assert!(decisions.windows(2).all(|w| w[0] == w[1]));
                item.decision_id = Some(decisions[0].decision_id);
            }
            for store in stores {
                store.ingest_batch(chunk).unwrap();
            }
        }
        all.extend(items);
    }
    all
}

#[test]
fn retention_keeps_the_policy_and_rebuild_still_equals_the_incremental_checkpoints() {
    let clock = new_clock();
    let (cut, whole) = (TestSchema::new(), TestSchema::new());
    let (store, never_cut) = (open(&cut, &clock), open(&whole, &clock));
    let log = four_months(&[&store, &never_cut], &clock);
    let mut db = cut.client();
    // Each month's rows are in that month's partition.
    for (name, month_rows) in [
        ("trajectory_log_p202601", 300),
        ("trajectory_log_p202604", 300),
    ] {
        assert_eq!(
            count(&mut db, &format!("SELECT count(*) FROM {name}")),
            month_rows
        );
    }
    let before = raw_checkpoints(&cut);
    assert_eq!(before, raw_checkpoints(&whole));

    clock.store(MAY + DAY, Ordering::SeqCst);
    // A cut inside March keeps March: only January and February go.
    let report = store.drop_log_before(MAR + 10 * DAY).unwrap();
    assert_eq!(report.trajectories_dropped, 600);
    assert_eq!(report.decisions_dropped, 60);
    assert_eq!(report.keys_forgotten, 600);
    let mut names = report.partitions_dropped.clone();
    names.sort();
    assert_eq!(
        names,
        [
            "decisions_p202601",
            "decisions_p202602",
            "reward_events_p202601",
            "reward_events_p202602",
            "trajectory_log_p202601",
            "trajectory_log_p202602",
        ]
    );
    assert_eq!(count(&mut db, "SELECT count(*) FROM trajectory_log"), 600);
    assert_eq!(count(&mut db, "SELECT count(*) FROM reward_events"), 600);
    assert_eq!(count(&mut db, "SELECT count(*) FROM trajectory_keys"), 600);
    assert_eq!(count(&mut db, "SELECT count(*) FROM decisions"), 60);
    assert_eq!(
        raw_checkpoints(&cut),
        before,
        "retention changes no checkpoint"
    );

    // The rebuild starts from the base: still the checkpoints of the whole log.
    let rebuilt = store.rebuild().unwrap();
    assert_eq!(rebuilt.trajectories, 600, "only the kept log is replayed");
    assert_eq!(raw_checkpoints(&cut), before);
    never_cut.rebuild().unwrap();
    assert_eq!(
        store.recommend("intent-0", &log[0].modules).unwrap(),
        never_cut.recommend("intent-0", &log[0].modules).unwrap()
    );

    // The export is the kept log; a kept request retried is a duplicate, a forgotten one new.
    let mut exported = 0;
    store
        .export(&mut |_| {
            exported += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(exported, 600);
    assert!(matches!(
        store.ingest(&log[700]).unwrap(),
        IngestOutcome::Duplicate { .. }
    ));
    let old = Trajectory {
        decision_id: None,
        ..log[1].clone()
    };
    assert!(store.reward_event(&old.request_id).unwrap().is_none());
    assert!(matches!(
        store.ingest(&old).unwrap(),
        IngestOutcome::Accepted { .. }
    ));

    // A second cut moves the base; rebuild equals the incremental checkpoints again.
    let report = store.drop_log_before(MAY).unwrap();
    assert_eq!(report.trajectories_dropped, 600);
    let incremental = raw_checkpoints(&cut);
    store.rebuild().unwrap();
    assert_eq!(raw_checkpoints(&cut), incremental);
    let months: Vec<String> = partitions::list(&mut db, "trajectory_log")
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert!(
        months
            .iter()
            .all(|m| m.as_str() >= "trajectory_log_p202605"),
        "{months:?}"
    );
}

#[test]
fn a_cut_in_the_future_is_refused_and_changes_nothing() {
    let clock = new_clock();
    let schema = TestSchema::new();
    let store = open(&schema, &clock);
    let log = four_months(&[&store], &clock);
    clock.store(MAR, Ordering::SeqCst);
    let before = raw_checkpoints(&schema);
    match store.drop_log_before(APR) {
        Err(RetentionError::CutInFuture { cut_ms, now_ms }) => {
            assert_eq!((cut_ms, now_ms), (APR, MAR));
        }
        other => panic!("expected CutInFuture, got {other:?}"),
    }
    let mut db = schema.client();
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM trajectory_log"),
        log.len() as i64
    );
    assert_eq!(raw_checkpoints(&schema), before);
    // A cut before every month drops nothing.
    let report = store.drop_log_before(JAN_15 - 40 * DAY).unwrap();
    assert_eq!(
        (report.trajectories_dropped, report.partitions_dropped.len()),
        (0, 0)
    );
}

#[test]
fn retention_while_another_replica_ingests_keeps_rebuild_equal_to_the_checkpoints() {
    let clock = new_clock();
    let schema = TestSchema::new();
    let store = open(&schema, &clock);
    four_months(&[&store], &clock);
    clock.store(MAY + DAY, Ordering::SeqCst);
    let other = open(&schema, &clock);
    let late = World::standard(3).trajectories(2000, 99, "late", MAY);
    std::thread::scope(|s| {
        s.spawn(|| {
            for chunk in late.chunks(20) {
                other.ingest_batch(chunk).unwrap();
            }
        });
        for cut in [FEB, MAR, APR] {
            store.drop_log_before(cut).unwrap();
        }
    });
    let incremental = raw_checkpoints(&schema);
    store.rebuild().unwrap();
    assert_eq!(raw_checkpoints(&schema), incremental);
    let mut db = schema.client();
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM trajectory_log"),
        300 + 2000
    );
}

#[test]
fn retention_runs_of_two_replicas_at_once_fold_each_dropped_row_into_the_base_once() {
    let clock = new_clock();
    for round in 0..3 {
        let schema = TestSchema::new();
        let (a, b) = (open(&schema, &clock), open(&schema, &clock));
        four_months(&[&a], &clock);
        clock.store(MAY + DAY, Ordering::SeqCst);
        let incremental = raw_checkpoints(&schema);
        let start = std::sync::Barrier::new(2);
        // Different cuts, so a run that folded less must not write its base over one that
        // dropped more; the order in which they commit is left to the race.
        let (cut_a, cut_b) = if round % 2 == 0 {
            (MAR, APR)
        } else {
            (APR, MAR)
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                start.wait();
                a.drop_log_before(cut_a).unwrap();
            });
            start.wait();
            b.drop_log_before(cut_b).unwrap();
        });
        let mut db = schema.client();
        assert_eq!(count(&mut db, "SELECT count(*) FROM trajectory_log"), 300);
        assert_eq!(raw_checkpoints(&schema), incremental);
        a.rebuild().unwrap();
        assert_eq!(raw_checkpoints(&schema), incremental, "round {round}");
    }
}

/// Between dropping the months and forgetting their keys (a run that stopped there), a retry
/// of a dropped request is a duplicate, never a second row: its key is still known.
#[test]
fn a_request_whose_row_was_dropped_is_a_duplicate_while_its_key_is_known() {
    let clock = new_clock();
    let schema = TestSchema::new();
    let store = open(&schema, &clock);
    let log = four_months(&[&store], &clock);
    let mut db = schema.client();
    db.batch_execute("DROP TABLE reward_events_p202601; DROP TABLE trajectory_log_p202601;")
        .unwrap();
    let changed = Trajectory {
        correct: !log[3].correct,
        ..log[3].clone()
    };
    assert!(matches!(
        store.ingest(&changed).unwrap(),
        IngestOutcome::Duplicate { .. }
    ));
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM trajectory_log"),
        900,
        "nothing logged twice"
    );
}
