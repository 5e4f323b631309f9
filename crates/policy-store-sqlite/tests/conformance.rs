//! The policy store's conformance suite (`policy_store::conformance`) on SQLite: each check
//! against a fresh database file, one test per check so a failure names it. The corrupting
//! checks get a hook that overwrites the checkpoint's BLOB with bytes that do not decode.

use policy_store::PolicyBackend;
use policy_store::conformance::{self, ALL, ALL_CORRUPTING};
use policy_store_sqlite::SqlitePolicyStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A fresh file in a temporary directory, kept alive while the check runs.
fn fresh() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("policy.db");
    (dir, path)
}

fn opener(path: &Path) -> impl Fn() -> Arc<dyn PolicyBackend> + use<> {
    let path = path.to_owned();
    move || -> Arc<dyn PolicyBackend> {
        Arc::new(SqlitePolicyStore::open(&path, Default::default()).expect("open policy.db"))
    }
}

/// Runs `check` with an opener of one fresh file (each call opens it again).
fn on_fresh_file(check: fn(conformance::Open<'_>)) {
    let (_dir, path) = fresh();
    check(&opener(&path));
}

/// Runs a corrupting `check`; its hook overwrites the checkpoint BLOB of (intent, modules).
fn on_fresh_file_corrupting(check: fn(conformance::Open<'_>, conformance::Corrupt<'_>)) {
    let (_dir, path) = fresh();
    let corrupt_path = path.clone();
    let corrupt = move |intent: &str, modules: &[&str]| {
        let mut sorted: Vec<&str> = modules.to_vec();
        sorted.sort_unstable();
        let conn = rusqlite::Connection::open(&corrupt_path).expect("open for corruption");
        let changed = conn
            .execute(
                "UPDATE policy_checkpoints SET arm_weights = x'c1ffee'
                 WHERE intent_id = (SELECT id FROM intent_classes WHERE name = ?1)
                   AND module_set_id = (SELECT id FROM module_sets WHERE modules = ?2)",
                [intent, &sorted.join(",")],
            )
            .expect("corrupt a checkpoint");
        assert_eq!(changed, 1, "no checkpoint of {intent} / {sorted:?}");
    };
    check(&opener(&path), &corrupt);
}

macro_rules! checks {
    (plain: $($name:ident),* $(,)?; corrupting: $($corrupting:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                on_fresh_file(conformance::$name);
            }
        )*
        $(
            #[test]
            fn $corrupting() {
                on_fresh_file_corrupting(conformance::$corrupting);
            }
        )*

        #[test]
        fn every_check_of_the_suite_runs_here() {
            assert_eq!([$(stringify!($name)),*].as_slice(), ALL);
            assert_eq!([$(stringify!($corrupting)),*].as_slice(), ALL_CORRUPTING);
        }
    };
}

checks!(
    plain:
    a_duplicate_changes_nothing_and_says_so,
    a_conflicting_duplicate_is_refused_and_writes_nothing,
    a_batch_reports_duplicates_per_item_including_repeats_inside_it,
    an_invalid_item_rejects_the_whole_batch_and_lists_every_offender,
    each_bad_input_is_a_typed_error_and_writes_nothing,
    the_log_is_append_only_and_exports_what_was_stored,
    the_backend_story,
    queued_ingests_match_ingest_one_by_one,
    a_decision_is_numbered_and_serves_one_request,
    a_decision_that_cannot_be_the_requests_own_is_refused_and_nothing_is_written,
    answered_by_must_name_a_called_module,
    answered_at_is_stored_read_back_and_compared_on_a_retry,
    an_invalid_answered_at_is_refused_and_nothing_is_written,
    backend_and_memory_decide_alike_when_trajectories_say_which_call_answered,
    orphan_decisions_are_pruned_and_ids_never_reused,
    at_most_one_probe_is_in_flight_per_combination,
    a_new_module_set_keeps_its_borrowed_ranking_until_it_has_its_own,
    backend_and_memory_decide_alike_and_rebuild_reproduces_the_checkpoints,
    recommend_from_memory_is_current_or_nothing,
    recommend_falls_back_and_never_errors_for_the_unseen,
    rebuild_equals_the_incremental_result,
    checkpoints_page_in_order_with_a_total,
    stored_run_units_and_readiness,
    concurrent_writers_on_two_handles_lose_nothing_and_double_nothing,
    everything_survives_a_reopen,
    evaluation_replays_the_stored_log_as_the_memory_policy_does,
    evaluation_scopes_and_refusals_are_typed_and_write_nothing;
    corrupting:
    a_corrupt_checkpoint_is_a_typed_error_and_rebuild_repairs_it,
    the_fallback_skips_a_corrupt_sibling_checkpoint,
);
