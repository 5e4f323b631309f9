//! The policy store's public contract: its SQLite schema, the JSON shapes of what the HTTP layer
//! returns (Recommendation, Decision, Checkpoint, IngestOutcome, BatchReport, errors'
//! validation reasons and conflicts), the checkpoint BLOB format, and one behaviour story run
//! against every `PolicyBackend`.

use otc_policy::store::{BLOB_VERSION, decode_blob};
use otc_policy::{
    IngestOutcome, PolicyBackend, PolicyConfig, PolicyError, PolicyStore, RecommendationSource,
    Trajectory,
};
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
    }
}

/// Every table, index and trigger of a fresh store, with its SQL.
#[test]
fn policy_schema_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.db");
    drop(PolicyStore::open(&path, PolicyConfig::default()).unwrap());
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
    let store = PolicyStore::open(&dir.path().join("policy.db"), PolicyConfig::default()).unwrap();
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
    use otc_policy::arms::Arms;
    use otc_policy::budget::{BudgetConfig, BudgetObservation, BudgetState};
    use otc_policy::estimate::CallHistogram;
    use otc_policy::store::{BlobError, encode_blob};
    let mut arms = Arms::new(2);
    arms.record(&[0, 1], true, Some(1));
    let mut hist = CallHistogram::default();
    hist.add(2);
    let mut budget = BudgetState::default();
    budget.observe(
        BudgetObservation {
            served: Some(3),
            calls: 2,
            correct: true,
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

/// The behaviour every backend must show; a new backend adds one line to
/// `policy_backends_honour_the_contract`.
fn backend_contract(backend: &dyn PolicyBackend) {
    // Idempotent ingest; the same request id with other content is a conflict.
    let first = backend.ingest(&traj("c1", &["web", "web"], true)).unwrap();
    assert!(matches!(first, IngestOutcome::Accepted { .. }));
    assert_eq!(
        backend.ingest(&traj("c1", &["web", "web"], true)).unwrap(),
        IngestOutcome::Duplicate {
            request_id: "c1".into()
        }
    );
    assert!(matches!(
        backend.ingest(&traj("c1", &["calc"], false)),
        Err(PolicyError::Conflict(item)) if item.fields == ["calls", "correct"]
    ));
    // All-or-nothing batch validation.
    let mut bad = traj("c3", &[], true);
    bad.run_units = f64::NAN;
    assert!(matches!(
        backend.ingest_batch(&[traj("c2", &["calc"], true), bad]),
        Err(PolicyError::InvalidBatch(items)) if items.len() == 1 && items[0].index == 1
    ));
    let report = backend
        .ingest_batch(&[
            traj("c2", &["web", "calc"], true),
            traj("c1", &["web", "web"], true),
        ])
        .unwrap();
    assert_eq!((report.accepted, report.duplicates), (1, 1));
    // Recommend: exact, order-independent, and never an error for the unseen.
    let rec = backend
        .recommend("search", &["calc".into(), "web".into()])
        .unwrap();
    assert_eq!(rec.source, RecommendationSource::Exact);
    assert_eq!(rec.budget, 2);
    let unseen = backend.recommend("nobody", &["x".into()]).unwrap();
    assert_eq!(
        (unseen.source, unseen.budget),
        (RecommendationSource::Unseen, 0)
    );
    // Decisions: numbered, logged, and a trajectory may name its own but no other.
    let decision = backend
        .decide("search", &["web".into(), "calc".into()])
        .unwrap();
    assert_eq!(decision.decision_id, 1);
    assert_eq!(
        backend
            .decide("search", &["calc".into()])
            .unwrap()
            .decision_id,
        2
    );
    let mut unknown = traj("c9", &[], false);
    unknown.decision_id = Some(77);
    assert!(matches!(
        backend.ingest(&unknown),
        Err(PolicyError::Invalid(
            otc_policy::ValidationError::UnknownDecision { id: 77 }
        ))
    ));
    // Every score can be explained later, with the config it was computed with.
    let IngestOutcome::Accepted { score, .. } = first else {
        unreachable!()
    };
    let event = backend.reward_event("c1").unwrap().unwrap();
    assert_eq!(event.score, score);
    assert_eq!(event.policy_config, PolicyConfig::default());
    assert_eq!(backend.reward_event("nobody").unwrap(), None);
    // Checkpoints, rebuild, export.
    let checkpoints = backend.checkpoints().unwrap();
    assert_eq!(checkpoints.len(), 1);
    assert_eq!(checkpoints[0].samples, 2);
    let rebuilt = backend.rebuild().unwrap();
    assert_eq!((rebuilt.trajectories, rebuilt.checkpoints), (2, 1));
    assert_eq!(backend.checkpoints().unwrap(), checkpoints);
    let mut ids = Vec::new();
    let count = backend
        .export(&mut |t| {
            ids.push(t.request_id.clone());
            Ok(())
        })
        .unwrap();
    assert_eq!((count, ids), (2, vec!["c1".to_owned(), "c2".to_owned()]));
}

#[test]
fn policy_backends_honour_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = PolicyStore::open(&dir.path().join("policy.db"), PolicyConfig::default()).unwrap();
    backend_contract(&sqlite);
}
