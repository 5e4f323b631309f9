//! The behaviour every policy-store backend must show, as one function per check, written once
//! against [`PolicyBackend`]. A backend crate runs each against fresh storage (see
//! `policy-store-sqlite/tests/conformance.rs`): `open` opens the same storage, under
//! `PolicyConfig::default()`, every time it is called, so a check can reopen it or hold two
//! handles on it (two processes, in effect).
//!
//! What a check compares is what the trait exposes: the exported log, the checkpoints, reward
//! events, recommendations and decisions. What only a backend can see (its files, rows, bytes,
//! triggers, schema) is tested beside the backend. A corrupt checkpoint cannot be made through
//! the trait, so the two checks about it also take a [`Corrupt`] hook with which the backend
//! damages one stored checkpoint its own way.
//!
//! Checks panic with a message on failure, like `assert!`. [`ALL`] names every check, so a
//! backend's test file can prove it runs them all.

mod answered_at;
mod decisions;
mod evaluate;
mod ingest;
mod learning;
mod queued;

pub use answered_at::*;
pub use decisions::*;
pub use evaluate::*;
pub use ingest::*;
pub use learning::*;
pub use queued::*;

use crate::PolicyBackend;
use otc_policy::{Checkpoint, Trajectory};
use std::sync::Arc;

/// Opens the storage under test (the same storage on every call), with the default config.
pub type Open<'a> = &'a dyn Fn() -> Arc<dyn PolicyBackend>;

/// Damages the stored checkpoint of (intent, modules) so that it no longer decodes, as a torn
/// or hand-edited record would be; `modules` in any order.
pub type Corrupt<'a> = &'a dyn Fn(&str, &[&str]);

/// Every check that takes only an opener, by name.
pub const ALL: &[&str] = &[
    "a_duplicate_changes_nothing_and_says_so",
    "a_conflicting_duplicate_is_refused_and_writes_nothing",
    "a_batch_reports_duplicates_per_item_including_repeats_inside_it",
    "an_invalid_item_rejects_the_whole_batch_and_lists_every_offender",
    "each_bad_input_is_a_typed_error_and_writes_nothing",
    "the_log_is_append_only_and_exports_what_was_stored",
    "the_backend_story",
    "queued_ingests_match_ingest_one_by_one",
    "a_decision_is_numbered_and_serves_one_request",
    "a_decision_that_cannot_be_the_requests_own_is_refused_and_nothing_is_written",
    "answered_by_must_name_a_called_module",
    "answered_at_is_stored_read_back_and_compared_on_a_retry",
    "an_invalid_answered_at_is_refused_and_nothing_is_written",
    "backend_and_memory_decide_alike_when_trajectories_say_which_call_answered",
    "orphan_decisions_are_pruned_and_ids_never_reused",
    "at_most_one_probe_is_in_flight_per_combination",
    "a_new_module_set_keeps_its_borrowed_ranking_until_it_has_its_own",
    "backend_and_memory_decide_alike_and_rebuild_reproduces_the_checkpoints",
    "recommend_from_memory_is_current_or_nothing",
    "recommend_falls_back_and_never_errors_for_the_unseen",
    "rebuild_equals_the_incremental_result",
    "checkpoints_page_in_order_with_a_total",
    "stored_run_units_and_readiness",
    "concurrent_writers_on_two_handles_lose_nothing_and_double_nothing",
    "everything_survives_a_reopen",
    "evaluation_replays_the_stored_log_as_the_memory_policy_does",
    "evaluation_scopes_and_refusals_are_typed_and_write_nothing",
];

/// Every check that also takes a [`Corrupt`] hook, by name.
pub const ALL_CORRUPTING: &[&str] = &[
    "a_corrupt_checkpoint_is_a_typed_error_and_rebuild_repairs_it",
    "the_fallback_skips_a_corrupt_sibling_checkpoint",
];

/// A fixed instant (14 November 2023), so stored trajectories never lie in the future.
pub(crate) const T0: i64 = 1_700_000_000_000;

/// Everything a client can read back of the stored policy: the log as exported and every
/// checkpoint. Two equal snapshots mean nothing visible was written in between.
pub(crate) fn visible(store: &dyn PolicyBackend) -> (Vec<Trajectory>, Vec<Checkpoint>) {
    (exported(store), store.checkpoints().expect("checkpoints"))
}

/// The log, in ingest order.
pub(crate) fn exported(store: &dyn PolicyBackend) -> Vec<Trajectory> {
    let mut log = Vec::new();
    store
        .export(&mut |t| {
            log.push(t.clone());
            Ok(())
        })
        .expect("export");
    log
}

/// A trajectory of intent `search` over {web, calc, mail}.
pub(crate) fn traj(id: &str, calls: &[&str], correct: bool) -> Trajectory {
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

/// Says which call answered (`answered_at`) on some trajectories of a log and not on others:
/// the last call, the first, none (0) or nothing said, in turn, so a log exercises every way
/// the policy reads it.
pub(crate) fn say_which_call_answered(log: &mut [Trajectory]) {
    for (i, t) in log.iter_mut().enumerate() {
        let calls = t.calls.len() as u32;
        t.answered_at = match i % 4 {
            0 => Some(calls),
            1 => Some(calls.min(1)),
            2 => Some(0),
            _ => None,
        };
    }
}

/// Owned module names.
pub(crate) fn names(modules: &[&str]) -> Vec<String> {
    modules.iter().map(|m| (*m).to_owned()).collect()
}
