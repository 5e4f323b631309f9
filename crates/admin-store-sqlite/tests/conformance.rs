//! The admin store's conformance suite (`admin_store::conformance`) on SQLite: each check
//! against a fresh database file, one test per check so a failure names it.

use admin_store::AdminBackend;
use admin_store::conformance::{self, ALL};
use admin_store_sqlite::SqliteAdminStore;
use std::sync::Arc;

/// Runs `check` with an opener of one fresh file (each call opens it again).
fn on_fresh_file(check: fn(conformance::Open<'_>)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("admin.db");
    let open = move || -> Arc<dyn AdminBackend> {
        Arc::new(SqliteAdminStore::open(&path).expect("open admin.db"))
    };
    check(&open);
}

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                on_fresh_file(conformance::$name);
            }
        )*

        #[test]
        fn every_check_of_the_suite_runs_here() {
            assert_eq!([$(stringify!($name)),*].as_slice(), ALL);
        }
    };
}

checks!(
    seed_runs_once,
    seed_refuses_an_invalid_routing_and_writes_nothing,
    unknown_ids_are_not_found_and_only_plain_names_are_named,
    the_catalogue_from_memory_is_current_or_nothing,
    disable_is_refused_while_routed,
    routing_writes_follow_the_protocol,
    routing_rejections_change_nothing,
    routing_history_pages_newest_first,
    of_two_writers_with_one_etag_exactly_one_wins,
    credentials_are_kept_sealed_per_module,
    drafts_have_revisions_and_preconditions,
    publish_and_rollback_follow_the_rules,
    everything_survives_a_reopen,
);
