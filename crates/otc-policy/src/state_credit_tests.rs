//! How [`CombinationState::observe`] hands a trajectory to the module credit
//! ([`crate::arms`]): when a guessed credit is shared, and which failures pull the modules they
//! left.

use super::*;

/// The arms of a fresh three-module state after one trajectory: `(answered, pulls)` each.
fn arms_after(calls: &[u8], correct: bool, served: Option<u32>) -> Vec<(f64, f64)> {
    let mut state = CombinationState::new(3);
    let obs = Observation {
        calls,
        correct,
        r_cost: 0.0,
        timestamp_ms: 1,
        served,
        policy_budget: served,
        answered_by: None,
        answered_at: None,
        order_explored: false,
    };
    state.observe(&obs, &PolicyConfig::default()).unwrap();
    state
        .arms
        .arms()
        .iter()
        .map(|a| (a.answered, a.pulls))
        .collect()
}

#[test]
fn a_guessed_credit_is_shared_only_when_the_budget_was_spent() {
    let shared = vec![(0.5, 1.0), (0.5, 1.0), (0.0, 0.0)];
    // Served 3, made 3 (or more): the last call may have come after the answer.
    assert_eq!(arms_after(&[1, 1, 0], true, Some(3)), shared);
    assert_eq!(arms_after(&[1, 1, 0], true, Some(2)), shared);
    // Unlogged: counted as served the calls it made, so spent.
    assert_eq!(arms_after(&[1, 1, 0], true, None), shared);
    // Served 4, stopped after 3: it stopped on the answer, the last call's.
    assert_eq!(
        arms_after(&[1, 1, 0], true, Some(4)),
        vec![(1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
    );
}

#[test]
fn only_a_failure_served_by_a_decision_pulls_the_modules_it_left() {
    assert_eq!(
        arms_after(&[0, 2, 1, 1], false, Some(4)),
        vec![(0.0, 1.0), (0.0, 0.0), (0.0, 1.0)]
    );
    assert_eq!(arms_after(&[0, 2, 1, 1], false, None), vec![(0.0, 0.0); 3]);
}
