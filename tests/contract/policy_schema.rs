//! The policy store's public contract: its SQLite schema, the JSON shapes of what the HTTP layer
//! returns (Recommendation, Decision, Checkpoint, IngestOutcome, BatchReport, errors'
//! validation reasons and conflicts) and the checkpoint BLOB format. The behaviour story every
//! `PolicyBackend` must tell moved to `policy_store::conformance` (`the_backend_story`, run on
//! SQLite by `crates/policy-store-sqlite/tests/conformance.rs`).

use otc_policy::blob::{BLOB_VERSION, decode as decode_blob};
use otc_policy::{PolicyConfig, Trajectory};
use policy_store::{PolicyBackend, PolicyError};
use policy_store_sqlite::SqlitePolicyStore;
use serde_json::json;

const T0: i64 = 1_700_000_000_000;

fn traj(id: &str, calls: &[&str], correct: bool) -> Trajectory {
    Trajectory {
        request_id: id.into(),
        intent: "search".into(),
        modules: vec!["web".into(), "calc".into()],
        calls: calls.iter().map(|c| (*c).into()).collect(),
        run_units: 10.0,
        correct,
        latency_ms: 120.5,
        timestamp_ms: T0,
        decision_id: None,
        answered_by: None,
        answered_at: None,
    }
}

/// Every table, index and trigger of a fresh store, with its SQL.
#[test]
fn policy_schema_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    drop(SqlitePolicyStore::open(&path, PolicyConfig::default()).unwrap());
    let mut doc = suites::schema::schema_of(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let configs: Vec<String> = conn
        .prepare("SELECT config_json FROM reward_configs")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    doc["blob_version"] = json!(BLOB_VERSION);
    doc["default_config"] = json!(configs);
    insta::assert_json_snapshot!(doc);
}

/// One example of every type the HTTP layer sends.
#[test]
fn policy_json_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        SqlitePolicyStore::open(&dir.path().join("policy.db"), PolicyConfig::default()).unwrap();
    let accepted = store.ingest(&traj("r1", &["web", "calc"], true)).unwrap();
    let batch = store
        .ingest_batch(&[
            traj("r1", &["web", "calc"], true),
            traj("r2", &["web"], false),
        ])
        .unwrap();
    let rec = store
        .recommend("search", &["web".into(), "calc".into()])
        .unwrap();
    let unseen = store.recommend("other", &["web".into()]).unwrap();
    let mut decision = serde_json::to_value(
        store
            .decide("search", &["web".into(), "calc".into()])
            .unwrap(),
    )
    .unwrap();
    decision["decided_ms"] = json!("[clock]");
    let mut decided = traj("r3", &["calc"], true);
    decided.decision_id = Some(1);
    decided.answered_by = Some("calc".into());
    decided.answered_at = Some(1);
    let decided_outcome = store.ingest(&decided).unwrap();
    let invalid = match store.ingest_batch(&[traj("ok", &[], true), traj("", &["ftp"], true)]) {
        Err(PolicyError::InvalidBatch(items)) => items,
        other => panic!("expected InvalidBatch, got {other:?}"),
    };
    let conflicts = match store.ingest_batch(&[traj("ok", &[], true), traj("r2", &[], true)]) {
        Err(PolicyError::ConflictBatch(items)) => items,
        other => panic!("expected ConflictBatch, got {other:?}"),
    };
    insta::assert_json_snapshot!(json!({
        "trajectory": traj("r1", &["web", "calc"], true),
        "ingest_accepted": accepted,
        "batch_report": batch,
        "recommendation": rec,
        "recommendation_unseen": unseen,
        "decision": decision,
        "trajectory_with_decision": decided,
        "ingest_with_decision": decided_outcome,
        "checkpoints": store.checkpoints().unwrap(),
        "rebuild_report": store.rebuild().unwrap(),
        "invalid_batch_items": invalid,
        "conflict_batch_items": conflicts,
        "reward_event": store.reward_event("r1").unwrap(),
    }));
}

/// The checkpoint BLOB's byte layout (version 2) is stable: the bytes of a fixed state are a
/// snapshot, so a change of layout shows up as a diff that must come with a new version tag
/// and a migration. Version 1 (before the closed-loop policy) is refused by version, and the
/// upgrade to schema 3 rebuilds those checkpoints from the log.
#[test]
fn policy_blob_layout_is_stable() {
    use otc_policy::arms::{Answerer, Arms};
    use otc_policy::blob::{BlobError, encode as encode_blob};
    use otc_policy::budget::{BudgetConfig, BudgetObservation, BudgetState};
    use otc_policy::estimate::CallHistogram;
    let mut arms = Arms::new(2);
    arms.record_answered(&[0, 1], Answerer::Module(1));
    let mut hist = CallHistogram::default();
    hist.add(2);
    let mut budget = BudgetState::default();
    budget.observe(
        BudgetObservation {
            served: Some(3),
            calls: 2,
            correct: true,
            answered_at: None,
        },
        &BudgetConfig::default(),
        0.995,
    );
    let bytes = encode_blob(&arms, &hist, &budget);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    insta::assert_snapshot!(hex);
    let decoded = decode_blob(&bytes, 2).unwrap();
    assert_eq!(
        (decoded.arms, decoded.hist, decoded.budget),
        (arms, hist, budget)
    );
    let v1: Vec<u8> = vec![0x94, 0x01, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x90, 0x90];
    assert_eq!(decode_blob(&v1, 0), Err(BlobError::UnknownVersion(1)));
}
