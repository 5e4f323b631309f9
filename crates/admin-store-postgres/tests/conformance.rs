//! The admin store's conformance suite (`admin_store::conformance`) on PostgreSQL: each check
//! in a fresh schema of the database at `OTC_TEST_DATABASE_URL` (default: the local server's
//! `test` database), dropped afterwards even when the check panics; one test per check so a
//! failure names it. Built only with the feature `postgres-tests` (`cargo xtask verify` turns
//! it on when a server answers), so `cargo test` on a machine without PostgreSQL skips it.

use admin_store::AdminBackend;
use admin_store::conformance::{self, ALL};
use admin_store_postgres::{APPLICATION_NAME, PostgresAdminStore};
use postgres_kit::testing::TestSchema;
use std::sync::Arc;

/// Runs `check` with an opener of one fresh schema (each call opens a new handle on it, with
/// its own pool: another replica, in effect).
fn in_fresh_schema(check: fn(conformance::Open<'_>)) {
    let schema = TestSchema::new();
    let options = schema.options(APPLICATION_NAME);
    let open = move || -> Arc<dyn AdminBackend> {
        Arc::new(PostgresAdminStore::open_with(&options).expect("open the admin store"))
    };
    check(&open);
}

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                in_fresh_schema(conformance::$name);
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
