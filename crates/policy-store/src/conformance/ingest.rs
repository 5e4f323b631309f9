//! Ingest: idempotency on `request_id` (same content is a duplicate, other content a conflict),
//! all-or-nothing batches, bad input that writes nothing, the append-only log, and one short
//! story through every trait method.

use super::{Open, T0, exported, traj, visible};
use crate::{IngestOutcome, PolicyError};
use otc_policy::{PolicyConfig, RecommendationSource, Trajectory, ValidationError};

/// The same trajectory again (its module set in another order) is a `Duplicate` and changes
/// nothing.
pub fn a_duplicate_changes_nothing_and_says_so(open: Open<'_>) {
    let store = open();
    let first = store.ingest(&traj("r1", &["web", "calc"], true)).unwrap();
    let IngestOutcome::Accepted { score, .. } = first else {
        panic!("expected accepted, got {first:?}");
    };
    assert_eq!(
        score.optimal,
        Some(2.0),
        "the first correct trajectory sets n"
    );
    let before = visible(store.as_ref());
    let mut again = traj("r1", &["web", "calc"], true);
    again.modules.reverse();
    assert_eq!(
        store.ingest(&again).unwrap(),
        IngestOutcome::Duplicate {
            request_id: "r1".into()
        }
    );
    assert_eq!(visible(store.as_ref()), before);
}

/// Regression: the same request id with other content was reported as a `Duplicate` and the
/// new content silently dropped.
pub fn a_conflicting_duplicate_is_refused_and_writes_nothing(open: Open<'_>) {
    let store = open();
    store.ingest(&traj("r1", &["web", "calc"], true)).unwrap();
    let before = visible(store.as_ref());
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
        ("answered_at", |t| t.answered_at = Some(1)),
    ];
    for (field, change) in changes {
        let mut t = traj("r1", &["web", "calc"], true);
        change(&mut t);
        match store.ingest(&t) {
            Err(PolicyError::Conflict(item)) => assert_eq!(item.fields, [field]),
            other => panic!("{field}: expected Conflict, got {other:?}"),
        }
    }
    assert_eq!(visible(store.as_ref()), before);
}

/// A batch reports each item; a conflict anywhere (with the store or inside the batch) rejects
/// the whole batch, lists every conflicting item, and writes nothing.
pub fn a_batch_reports_duplicates_per_item_including_repeats_inside_it(open: Open<'_>) {
    let store = open();
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

    let before = visible(store.as_ref());
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
    assert_eq!(
        visible(store.as_ref()),
        before,
        "nothing of the batch was written"
    );
}

/// One invalid item rejects the batch, every offender is listed, nothing is written.
pub fn an_invalid_item_rejects_the_whole_batch_and_lists_every_offender(open: Open<'_>) {
    let store = open();
    let before = visible(store.as_ref());
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
    assert_eq!(
        visible(store.as_ref()),
        before,
        "nothing of the batch was written"
    );
}

/// Every kind of bad input is `Invalid` and writes nothing.
pub fn each_bad_input_is_a_typed_error_and_writes_nothing(open: Open<'_>) {
    let store = open();
    store.ingest(&traj("seed", &["web"], true)).unwrap();
    let before = visible(store.as_ref());
    let with = |change: fn(&mut Trajectory)| {
        let mut t = traj("u", &[], true);
        change(&mut t);
        t
    };
    let cases: Vec<(&str, Trajectory)> = vec![
        ("empty id", traj("", &["web"], true)),
        ("absurd call count", traj("c", &["web"; 5000], true)),
        ("call outside set", traj("o", &["ftp"], true)),
        ("negative run-units", with(|t| t.run_units = -1.0)),
        ("infinite run-units", with(|t| t.run_units = f64::INFINITY)),
        ("NaN run-units", with(|t| t.run_units = f64::NAN)),
        ("NaN latency", with(|t| t.latency_ms = f64::NAN)),
        ("negative latency", with(|t| t.latency_ms = -5.0)),
        ("future timestamp", with(|t| t.timestamp_ms = i64::MAX)),
        (
            "oversized module set",
            with(|t| t.modules = (0..65).map(|i| format!("m{i}")).collect()),
        ),
        ("bad intent", with(|t| t.intent = "a/b".into())),
        (
            "answered_at beyond the calls",
            with(|t| t.answered_at = Some(1)),
        ),
        (
            "answered_at not a call to answered_by",
            Trajectory {
                answered_by: Some("web".into()),
                answered_at: Some(2),
                ..traj("a", &["web", "calc"], true)
            },
        ),
    ];
    for (what, t) in cases {
        let err = store.ingest(&t).unwrap_err();
        assert!(matches!(err, PolicyError::Invalid(_)), "{what}: {err:?}");
    }
    assert_eq!(visible(store.as_ref()), before);
    assert!(matches!(
        store.recommend("search", &["web".into(), "web".into()]),
        Err(PolicyError::Invalid(ValidationError::BadModuleSet(_)))
    ));
    assert!(matches!(
        store.decide("a/b", &["web".into()]),
        Err(PolicyError::Invalid(_))
    ));
}

/// The log keeps the first version of every request, in ingest order, with `run_units` set;
/// an export re-ingests as all duplicates, and neither a conflict nor a rebuild changes it.
pub fn the_log_is_append_only_and_exports_what_was_stored(open: Open<'_>) {
    let store = open();
    // Exported module sets are canonical (sorted), so the input is written that way.
    let sorted = |t: Trajectory| Trajectory {
        modules: vec!["calc".into(), "mail".into(), "web".into()],
        ..t
    };
    let first = [
        Trajectory {
            answered_at: Some(1),
            ..sorted(traj("a", &["web"], true))
        },
        sorted(traj("b", &["calc", "web"], false)),
        Trajectory {
            answered_at: Some(0),
            ..sorted(traj("c", &[], true))
        },
    ];
    store.ingest_batch(&first[..2]).unwrap();
    store.ingest(&first[2]).unwrap();
    let log = exported(store.as_ref());
    assert_eq!(log, first, "the log is what was stored, in ingest order");
    let mut changed = first[0].clone();
    changed.correct = false;
    assert!(matches!(
        store.ingest(&changed),
        Err(PolicyError::Conflict(_))
    ));
    store.rebuild().unwrap();
    assert_eq!(exported(store.as_ref()), log, "the first version stays");
    let again = store.ingest_batch(&log).unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 3));
    assert_eq!(exported(store.as_ref()), log);
}

/// One short story through every trait method (moved from the contract suite, where it ran on
/// SQLite only).
pub fn the_backend_story(open: Open<'_>) {
    let backend = open();
    let traj = |id: &str, calls: &[&str], correct: bool| Trajectory {
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
    };
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
            // web answers again (the last call), so the path and the budget of 2 hold.
            traj("c2", &["calc", "web"], true),
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
        (RecommendationSource::Unseen, 1)
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
        Err(PolicyError::Invalid(ValidationError::UnknownDecision {
            id: 77
        }))
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
