//! The module catalogue held in memory (`catalogue.rs`): it answers once a read of a module
//! filled it, and stops answering at any commit to the file, by this handle or another, until
//! the next read of a module fills it again. (That its answers are never stale is the
//! conformance check `the_catalogue_from_memory_is_current_or_nothing`; this shows the SQLite
//! store really answers from memory.)

use admin_store::AdminBackend;
use admin_store::module::{CatalogueEntry, CatalogueFile};
use admin_store::routing::RoutingConfig;
use admin_store_sqlite::SqliteAdminStore;

fn entry(id: &str) -> CatalogueEntry {
    CatalogueEntry {
        id: id.into(),
        name: id.into(),
        description: String::new(),
        required_credentials: vec![],
        enabled: true,
    }
}

#[test]
fn the_catalogue_answers_from_memory_until_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.db");
    let store = SqliteAdminStore::open(&path).unwrap();
    let catalogue = CatalogueFile {
        modules: vec![entry("search"), entry("code")],
    };
    let routing = RoutingConfig {
        default_category: None,
        categories: Default::default(),
    };
    assert!(store.seed(&catalogue, &routing).unwrap());
    assert_eq!(
        store.module_catalogued_from_memory("search"),
        None,
        "nothing read yet"
    );

    store.module("code").unwrap();
    assert_eq!(store.module_catalogued_from_memory("search"), Some(true));
    assert_eq!(store.module_catalogued_from_memory("fresh"), Some(false));

    // Another handle on the file (another process, in effect) adds a module.
    let other = SqliteAdminStore::open(&path).unwrap();
    let draft = other
        .create_draft(&serde_json::json!({
            "id": "fresh", "name": "Fresh", "version": "1.0.0", "tools": [{"name": "run"}]
        }))
        .unwrap();
    other.publish_draft(draft.id, None).unwrap();
    assert_eq!(store.module_catalogued_from_memory("fresh"), None, "stale");
    store.module("search").unwrap();
    assert_eq!(store.module_catalogued_from_memory("fresh"), Some(true));

    // Any commit, this handle's own too (a readiness probe writes a row), makes it stale.
    store.check_ready().unwrap();
    assert_eq!(store.module_catalogued_from_memory("search"), None);
}
