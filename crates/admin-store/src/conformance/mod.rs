//! The behaviour every admin-store backend must show, as one function per check. A backend
//! crate runs each against fresh storage (see `admin-store-sqlite/tests/conformance.rs`):
//! `open` opens the same storage every time it is called, so a check can reopen it or hold
//! two handles on it (two processes, in effect).
//!
//! Checks panic with a message on failure, like `assert!`. [`ALL`] names every check, so a
//! backend's test file can prove it runs them all.

mod catalogue;
mod dev;
mod routing;

pub use catalogue::*;
pub use dev::*;
pub use routing::*;

use crate::module::{CatalogueEntry, CatalogueFile};
use crate::routing::{Category, RoutingConfig};
use crate::{AdminBackend, AdminError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Opens the storage under test (the same storage on every call).
pub type Open<'a> = &'a dyn Fn() -> Arc<dyn AdminBackend>;

/// Every check of this suite, by name.
pub const ALL: &[&str] = &[
    "seed_runs_once",
    "seed_refuses_an_invalid_routing_and_writes_nothing",
    "unknown_ids_are_not_found_and_only_plain_names_are_named",
    "the_catalogue_from_memory_is_current_or_nothing",
    "disable_is_refused_while_routed",
    "routing_writes_follow_the_protocol",
    "routing_rejections_change_nothing",
    "routing_history_pages_newest_first",
    "of_two_writers_with_one_etag_exactly_one_wins",
    "credentials_are_kept_sealed_per_module",
    "drafts_have_revisions_and_preconditions",
    "publish_and_rollback_follow_the_rules",
    "everything_survives_a_reopen",
];

pub(super) fn module(id: &str, enabled: bool) -> CatalogueEntry {
    CatalogueEntry {
        id: id.into(),
        name: format!("{id} module"),
        description: String::new(),
        required_credentials: vec!["api_key".into()],
        enabled,
    }
}

/// Three enabled modules (`search`, `code`, `mail`) and one disabled (`legacy`).
pub(super) fn catalogue() -> CatalogueFile {
    CatalogueFile {
        modules: vec![
            module("search", true),
            module("code", true),
            module("mail", true),
            module("legacy", false),
        ],
    }
}

pub(super) fn routing(categories: &[(&str, &[&str])]) -> RoutingConfig {
    RoutingConfig {
        default_category: None,
        categories: categories
            .iter()
            .map(|(name, modules)| {
                (
                    (*name).to_owned(),
                    Category {
                        modules: modules.iter().map(|m| (*m).to_owned()).collect(),
                        description: String::new(),
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

pub(super) fn seeded(open: Open<'_>) -> Arc<dyn AdminBackend> {
    let store = open();
    assert!(
        store
            .seed(&catalogue(), &routing(&[("research", &["search"])]))
            .expect("seed")
    );
    store
}

/// Everything a client can read, as one value: what "nothing changed" is compared on.
pub(super) fn everything(store: &dyn AdminBackend) -> Value {
    let page = store.routing_versions(0, 1000).expect("versions");
    let routing: Vec<Value> = page
        .versions
        .iter()
        .map(|v| json!(store.routing_version(v.version).expect("version")))
        .collect();
    let modules = store.modules().expect("modules");
    let versions: Vec<Value> = modules
        .iter()
        .map(|m| {
            let page = store
                .module_versions(&m.id, 0, 1000)
                .expect("module versions");
            json!({"current": page.current, "total": page.total, "versions": page.versions})
        })
        .collect();
    let credentials: Vec<Value> = store
        .all_credentials()
        .expect("credentials")
        .into_iter()
        .map(|c| {
            json!([
                c.module_id,
                c.name,
                c.sealed.nonce,
                c.sealed.ciphertext,
                c.updated_ms
            ])
        })
        .collect();
    let (drafts, total) = store.drafts(None, 0, 1000).expect("drafts");
    json!({
        "modules": modules, "routing": routing, "module_versions": versions,
        "credentials": credentials, "drafts": drafts, "draft_total": total,
    })
}

pub(super) fn expect_err<T: std::fmt::Debug>(
    result: Result<T, AdminError>,
    what: &str,
) -> AdminError {
    match result {
        Ok(value) => panic!("{what}: expected an error, got {value:?}"),
        Err(e) => e,
    }
}

pub(super) fn manifest(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name, "version": "1.0.0", "tools": [{"name": "run"}]})
}
