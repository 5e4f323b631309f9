//! What is PostgreSQL's own in the admin store, beside the conformance suite (feature
//! `postgres-tests`): replicas seeding at once, a schema from a newer build, the schema's
//! namespace. Each test works in its own schema, dropped at the end.

use admin_store::module::{CatalogueEntry, CatalogueFile};
use admin_store::routing::{Category, RoutingConfig};
use admin_store::{AdminBackend, AdminError};
use admin_store_postgres::{APPLICATION_NAME, PostgresAdminStore};
use postgres_kit::testing::TestSchema;
use std::sync::Barrier;

fn catalogue() -> CatalogueFile {
    CatalogueFile {
        modules: vec![CatalogueEntry {
            id: "search".into(),
            name: "Search".into(),
            description: String::new(),
            required_credentials: vec![],
            enabled: true,
        }],
    }
}

fn routing() -> RoutingConfig {
    RoutingConfig {
        default_category: None,
        categories: [(
            "research".to_owned(),
            Category {
                modules: vec!["search".into()],
                description: String::new(),
            },
        )]
        .into(),
    }
}

fn open(schema: &TestSchema) -> PostgresAdminStore {
    PostgresAdminStore::open_with(&schema.options(APPLICATION_NAME)).expect("open")
}

#[test]
fn replicas_seeding_at_once_seed_exactly_once() {
    let schema = TestSchema::new();
    const REPLICAS: usize = 4;
    let barrier = Barrier::new(REPLICAS);
    let seeded: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..REPLICAS)
            .map(|_| {
                s.spawn(|| {
                    let store = open(&schema);
                    barrier.wait();
                    store.seed(&catalogue(), &routing()).expect("seed")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(seeded.iter().filter(|s| **s).count(), 1, "{seeded:?}");
    let store = open(&schema);
    assert_eq!(store.routing_versions(0, 10).unwrap().total, 1);
    assert_eq!(store.modules().unwrap().len(), 1);
}

#[test]
fn a_schema_from_a_newer_build_is_refused_with_a_clear_error() {
    let schema = TestSchema::new();
    drop(open(&schema));
    let mut client = schema
        .options("test")
        .config()
        .connect(postgres::NoTls)
        .unwrap();
    client
        .execute(
            &format!(
                "INSERT INTO \"{}\".schema_migrations (version) VALUES (99)",
                schema.name()
            ),
            &[],
        )
        .unwrap();
    let err = PostgresAdminStore::open_with(&schema.options(APPLICATION_NAME)).unwrap_err();
    let AdminError::Storage(source) = &err else {
        panic!("expected a storage error, got {err:?}");
    };
    let message = source.to_string();
    assert!(
        message.contains("version 99") && message.contains("upgrade the binary"),
        "{message}"
    );
}

#[test]
fn the_store_keeps_to_its_own_schema() {
    let schema = TestSchema::new();
    let store = open(&schema);
    store.seed(&catalogue(), &routing()).unwrap();
    let mut client = schema
        .options("test")
        .config()
        .connect(postgres::NoTls)
        .unwrap();
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::TEXT FROM information_schema.tables
             WHERE table_schema = $1 ORDER BY table_name",
            &[&schema.name()],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        tables,
        [
            "credentials",
            "meta",
            "module_drafts",
            "module_versions",
            "modules",
            "routing_versions",
            "schema_migrations",
            "write_lock"
        ]
    );
}
