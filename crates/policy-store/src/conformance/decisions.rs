//! Decisions: numbered from 1 and never reused, one request per decision, checked when a
//! trajectory names one, at most one probe in flight, borrowed rankings kept until a module set
//! has its own.

use super::{Open, T0, names, visible};
use crate::{IngestOutcome, PolicyError};
use otc_policy::{Trajectory, ValidationError};

fn modules() -> Vec<String> {
    names(&["web", "calc"])
}

fn traj(id: &str, decision: Option<u64>, calls: &[&str], correct: bool) -> Trajectory {
    Trajectory {
        request_id: id.into(),
        intent: "search".into(),
        modules: modules(),
        calls: calls.iter().map(|c| (*c).into()).collect(),
        run_units: 1.0,
        correct,
        latency_ms: 10.0,
        timestamp_ms: T0,
        decision_id: decision,
        answered_by: None,
        answered_at: None,
    }
}

/// Decisions count up from 1; a trajectory naming one is accepted, and its identical retry is
/// a duplicate, not a second use of the decision.
pub fn a_decision_is_numbered_and_serves_one_request(open: Open<'_>) {
    let store = open();
    let first = store.decide("search", &modules()).unwrap();
    let second = store.decide("search", &modules()).unwrap();
    assert_eq!((first.decision_id, second.decision_id), (1, 2));
    assert!(first.propensity > 0.0 && first.propensity <= 1.0);
    let outcome = store
        .ingest(&traj("r1", Some(first.decision_id), &[], false))
        .unwrap();
    assert!(matches!(outcome, IngestOutcome::Accepted { .. }));
    let retry = store
        .ingest(&traj("r1", Some(first.decision_id), &[], false))
        .unwrap();
    assert!(matches!(retry, IngestOutcome::Duplicate { .. }));
    assert!(matches!(
        store.ingest(&traj("r2", Some(first.decision_id), &[], false)),
        Err(PolicyError::Invalid(ValidationError::DecisionUsed { .. }))
    ));
    let exported = super::exported(store.as_ref());
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].decision_id, Some(first.decision_id));
}

/// An unknown decision, one already used, or one for another module set is refused; in a
/// batch every such item is listed and nothing is written.
pub fn a_decision_that_cannot_be_the_requests_own_is_refused_and_nothing_is_written(
    open: Open<'_>,
) {
    let store = open();
    let decision = store.decide("search", &modules()).unwrap();
    store
        .ingest(&traj("r1", Some(decision.decision_id), &[], false))
        .unwrap();
    let before = visible(store.as_ref());
    let refused = |t: Trajectory| match store.ingest(&t) {
        Err(PolicyError::Invalid(e)) => e,
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        refused(traj("r2", Some(999), &[], false)),
        ValidationError::UnknownDecision { id: 999 }
    ));
    assert!(matches!(
        refused(traj("r2", Some(decision.decision_id), &[], false)),
        ValidationError::DecisionUsed { .. }
    ));
    let mut other_set = traj("r2", Some(decision.decision_id), &[], false);
    other_set.modules = vec!["web".into()];
    assert!(matches!(
        refused(other_set),
        ValidationError::DecisionMismatch { .. }
    ));
    let fresh = store.decide("search", &modules()).unwrap();
    let batch = [
        traj("b1", Some(fresh.decision_id), &[], false),
        traj("b2", Some(fresh.decision_id), &[], false),
        traj("b3", Some(u64::MAX), &[], false),
    ];
    match store.ingest_batch(&batch) {
        Err(PolicyError::InvalidBatch(items)) => {
            let indices: Vec<usize> = items.iter().map(|i| i.index).collect();
            assert_eq!(indices, [1, 2]);
            assert_eq!(items[0].error.field_path(), "decision_id");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(visible(store.as_ref()), before);
}

/// `answered_by` must name a module the request called.
pub fn answered_by_must_name_a_called_module(open: Open<'_>) {
    let store = open();
    let mut t = traj("r1", None, &["web"], true);
    t.answered_by = Some("calc".into());
    assert!(matches!(
        store.ingest(&t),
        Err(PolicyError::Invalid(
            ValidationError::AnsweredByNotCalled { .. }
        ))
    ));
    assert!(super::exported(store.as_ref()).is_empty());
}

/// Pruning deletes old decisions no trajectory refers to, keeps answered ones (which can still
/// not be reused), and never gives an id twice, even after the newest was pruned.
pub fn orphan_decisions_are_pruned_and_ids_never_reused(open: Open<'_>) {
    let store = open();
    let answered = store.decide("search", &modules()).unwrap();
    let _orphan = store.decide("search", &modules()).unwrap();
    store
        .ingest(&traj("r1", Some(answered.decision_id), &[], false))
        .unwrap();
    assert_eq!(store.prune_decisions(0).unwrap(), 0, "none older than 1970");
    assert_eq!(store.prune_decisions(i64::MAX).unwrap(), 1);
    assert_eq!(store.prune_decisions(i64::MAX).unwrap(), 0);
    assert_eq!(store.decide("search", &modules()).unwrap().decision_id, 3);
    assert!(matches!(
        store.ingest(&traj("r2", Some(2), &[], false)),
        Err(PolicyError::Invalid(ValidationError::UnknownDecision {
            id: 2
        }))
    ));
    // A reopened handle continues the count.
    assert_eq!(open().decide("search", &modules()).unwrap().decision_id, 4);
}

/// Review finding: a probe served one call less to half of all decisions until a failure
/// came back, so with many requests in flight most of them were probes. Now one probe per
/// combination is in flight at a time.
pub fn at_most_one_probe_is_in_flight_per_combination(open: Open<'_>) {
    let store = open();
    let mut id = 0;
    for _ in 0..6 {
        let d = store.decide("search", &modules()).unwrap();
        id += 1;
        let calls: Vec<&str> = std::iter::repeat_n("web", d.budget as usize).collect();
        store
            .ingest(&traj(
                &format!("warm-{id}"),
                Some(d.decision_id),
                &calls,
                false,
            ))
            .unwrap();
    }
    // Now answering correctly makes `web` the module that answers: a new regime, a probe.
    let d = store.decide("search", &modules()).unwrap();
    let calls: Vec<&str> = std::iter::repeat_n("web", d.budget as usize).collect();
    store
        .ingest(&traj("answer", Some(d.decision_id), &calls, true))
        .unwrap();
    assert!(d.budget > 0, "{d:?}");
    let in_flight: Vec<_> = (0..40)
        .map(|_| store.decide("search", &modules()).unwrap())
        .collect();
    let probes: Vec<_> = in_flight
        .iter()
        .filter(|d| d.budget < d.policy_budget)
        .collect();
    assert_eq!(probes.len(), 1, "{in_flight:#?}");
    let probe = probes[0];
    let calls: Vec<&str> = std::iter::repeat_n("web", probe.budget as usize).collect();
    store
        .ingest(&traj("probe", Some(probe.decision_id), &calls, true))
        .unwrap();
    let after: Vec<_> = (0..40)
        .map(|_| store.decide("search", &modules()).unwrap())
        .collect();
    assert!(after.iter().filter(|d| d.budget < d.policy_budget).count() <= 1);
}

/// Review finding: a new module set kept its borrowed budget but lost the borrowed module
/// ranking after one failed request (which credits nobody).
pub fn a_new_module_set_keeps_its_borrowed_ranking_until_it_has_its_own(open: Open<'_>) {
    let store = open();
    let sibling = names(&["news", "web"]);
    for i in 0..30 {
        let mut t = traj(&format!("s{i}"), None, &["news", "web"], true);
        t.modules = sibling.clone();
        t.answered_by = Some("web".into());
        store.ingest(&t).unwrap();
    }
    let new_set = names(&["web", "news", "maps"]);
    let first = store.decide("search", &new_set).unwrap();
    assert_eq!(first.order[0], "web", "{first:?}");
    let mut failed = traj("n1", Some(first.decision_id), &[], false);
    failed.modules = new_set.clone();
    store.ingest(&failed).unwrap();
    let view = store.recommend("search", &new_set).unwrap();
    assert_eq!(view.ranked[0].module, "web", "{view:?}");
    let last = view.ranked.last().unwrap();
    assert_eq!(
        last.module, "news",
        "the sibling showed news does not answer: {view:?}"
    );
}
