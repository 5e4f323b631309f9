//! Which call answered (`answered_at`): stored and read back as sent, part of what a retry is
//! compared on, validated before anything is written, and folded by the backend as the
//! in-memory policy folds it. (Rebuild folding it as ingest does is part of
//! `rebuild_equals_the_incremental_result`.)

use super::{Open, exported, traj, visible};
use crate::{IngestOutcome, PolicyError};
use otc_policy::simulate::{self, Agent, MemoryPolicy, Scenario};
use otc_policy::{PolicyConfig, Trajectory, ValidationError};

/// `traj` with `answered_at` set.
fn at(id: &str, calls: &[&str], answered_at: Option<u32>) -> Trajectory {
    Trajectory {
        answered_at,
        ..traj(id, calls, true)
    }
}

/// Each trajectory's (request id, answered_by, answered_at) as the log holds it.
fn answers(log: &[Trajectory]) -> Vec<(String, Option<String>, Option<u32>)> {
    log.iter()
        .map(|t| (t.request_id.clone(), t.answered_by.clone(), t.answered_at))
        .collect()
}

/// `answered_at` comes back as sent (a call, 0, or not said; alone or with `answered_by`),
/// singly and in a batch, and after a reopen. A retry that says another call, or no longer
/// says one, or says one where the stored trajectory did not, is a conflict on `answered_at`
/// alone, in a batch too, and writes nothing.
pub fn answered_at_is_stored_read_back_and_compared_on_a_retry(open: Open<'_>) {
    let store = open();
    let sent = [
        at("a1", &["web", "calc", "web"], Some(2)),
        at("a2", &["web"], Some(0)),
        Trajectory {
            answered_by: Some("web".into()),
            ..at("a3", &["calc", "web"], Some(2))
        },
        at("a4", &["calc"], None),
        // Stored as sent on an incorrect trajectory too, though the policy ignores it there.
        Trajectory {
            correct: false,
            ..at("a5", &["mail"], Some(1))
        },
    ];
    for t in &sent[..2] {
        assert!(matches!(
            store.ingest(t).unwrap(),
            IngestOutcome::Accepted { .. }
        ));
    }
    let report = store.ingest_batch(&sent[2..]).unwrap();
    assert_eq!((report.accepted, report.duplicates), (3, 0));
    let expected = answers(&sent);
    assert_eq!(answers(&exported(store.as_ref())), expected);
    assert_eq!(
        answers(&exported(open().as_ref())),
        expected,
        "after a reopen"
    );

    assert_eq!(
        store.ingest(&sent[0]).unwrap(),
        IngestOutcome::Duplicate {
            request_id: "a1".into()
        }
    );
    let before = visible(store.as_ref());
    let retries = [
        ("another call", at("a1", &["web", "calc", "web"], Some(3))),
        ("no longer said", at("a1", &["web", "calc", "web"], None)),
        (
            "no tool result instead",
            at("a1", &["web", "calc", "web"], Some(0)),
        ),
        ("said where it was not", at("a4", &["calc"], Some(1))),
    ];
    for (what, retry) in &retries {
        match store.ingest(retry) {
            Err(PolicyError::Conflict(item)) => {
                assert_eq!(item.fields, ["answered_at"], "{what}");
            }
            other => panic!("{what}: expected Conflict, got {other:?}"),
        }
    }
    let err = store
        .ingest_batch(&[at("b1", &["web"], Some(1)), retries[0].1.clone()])
        .unwrap_err();
    let PolicyError::ConflictBatch(items) = &err else {
        panic!("expected ConflictBatch, got {err:?}");
    };
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].index, items[0].fields.as_slice()),
        (1, ["answered_at"].as_slice())
    );
    assert_eq!(visible(store.as_ref()), before, "no retry wrote anything");
}

/// An `answered_at` past the calls, or one that disagrees with `answered_by` (a call to
/// another module, or 0 while a module is named), is `Invalid` at the field `answered_at`,
/// singly and for every such item of a batch, and writes nothing.
pub fn an_invalid_answered_at_is_refused_and_nothing_is_written(open: Open<'_>) {
    let store = open();
    store.ingest(&at("seed", &["web"], Some(1))).unwrap();
    let before = visible(store.as_ref());
    let by_web = |id: &str, answered_at: u32| Trajectory {
        answered_by: Some("web".into()),
        ..at(id, &["web", "calc"], Some(answered_at))
    };
    let refused = |t: &Trajectory| match store.ingest(t) {
        Err(PolicyError::Invalid(e)) => e,
        other => panic!("{}: expected Invalid, got {other:?}", t.request_id),
    };
    assert_eq!(
        refused(&at("x1", &["web"], Some(2))),
        ValidationError::AnsweredAtBeyondCalls { value: 2, calls: 1 }
    );
    assert_eq!(
        refused(&at("x2", &[], Some(1))),
        ValidationError::AnsweredAtBeyondCalls { value: 1, calls: 0 }
    );
    assert_eq!(
        refused(&at("x3", &["web"], Some(u32::MAX))),
        ValidationError::AnsweredAtBeyondCalls {
            value: u32::MAX,
            calls: 1
        }
    );
    assert_eq!(
        refused(&by_web("x4", 2)),
        ValidationError::AnsweredAtDisagrees { value: 2 }
    );
    assert_eq!(
        refused(&by_web("x5", 0)),
        ValidationError::AnsweredAtDisagrees { value: 0 }
    );
    let err = store
        .ingest_batch(&[
            by_web("y1", 1),
            at("y2", &["web"], Some(2)),
            by_web("y3", 2),
        ])
        .unwrap_err();
    let PolicyError::InvalidBatch(items) = &err else {
        panic!("expected InvalidBatch, got {err:?}");
    };
    let found: Vec<(usize, String)> = items
        .iter()
        .map(|i| (i.index, i.error.field_path()))
        .collect();
    assert_eq!(
        found,
        [(1, "answered_at".to_owned()), (2, "answered_at".to_owned())]
    );
    assert_eq!(visible(store.as_ref()), before, "nothing was written");
}

/// An orchestrator that says which call answered, against the backend and against the
/// in-memory policy: the same decision for every request, so the backend folds `answered_at`
/// as the pure policy does (the run differs from one that does not say it, so a backend that
/// dropped it would decide otherwise), and a rebuild reproduces the checkpoints.
pub fn backend_and_memory_decide_alike_when_trajectories_say_which_call_answered(open: Open<'_>) {
    let store = open();
    let mut scenario = Scenario::steady(Agent::OverCaller, 120);
    scenario.report_call = true;
    let memory = |scenario: &Scenario| {
        simulate::run(scenario, 7, &mut MemoryPolicy::new(PolicyConfig::default())).unwrap()
    };
    let from_store =
        simulate::run(&scenario, 7, &mut crate::BackendAdvisor(store.as_ref())).unwrap();
    let from_memory = memory(&scenario);
    assert_eq!(from_store, from_memory);
    let silent = Scenario {
        report_call: false,
        ..scenario.clone()
    };
    assert_ne!(
        memory(&silent),
        from_memory,
        "saying which call answered changes the run"
    );
    assert!(
        exported(store.as_ref()).iter().any(|t| t
            .answered_at
            .is_some_and(|at| (at as usize) < t.calls.len())),
        "some request answered with an earlier call than its last"
    );
    let incremental = store.checkpoints().unwrap();
    store.rebuild().unwrap();
    assert_eq!(store.checkpoints().unwrap(), incremental);
}
