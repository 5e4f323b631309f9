//! The behaviour every admin-store backend must show, as one function per check. A backend
//! crate runs each against fresh storage (see `admin-store-sqlite/tests/conformance.rs`):
//! `open` opens the same storage every time it is called, so a check can reopen it or hold
//! two handles on it (two processes, in effect).
//!
//! Checks panic with a message on failure, like `assert!`. [`ALL`] names every check, so a
//! backend's test file can prove it runs them all.

use crate::dev::{DraftState, VersionSource};
use crate::module::{CatalogueEntry, CatalogueFile};
use crate::routing::{Category, RoutingChange, RoutingConfig};
use crate::{AdminBackend, AdminError, Sealed};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

/// Opens the storage under test (the same storage on every call).
pub type Open<'a> = &'a dyn Fn() -> Arc<dyn AdminBackend>;

/// Every check of this suite, by name.
pub const ALL: &[&str] = &[
    "seed_runs_once",
    "seed_refuses_an_invalid_routing_and_writes_nothing",
    "unknown_ids_are_not_found_and_only_plain_names_are_named",
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

fn module(id: &str, enabled: bool) -> CatalogueEntry {
    CatalogueEntry {
        id: id.into(),
        name: format!("{id} module"),
        description: String::new(),
        required_credentials: vec!["api_key".into()],
        enabled,
    }
}

/// Three enabled modules (`search`, `code`, `mail`) and one disabled (`legacy`).
fn catalogue() -> CatalogueFile {
    CatalogueFile {
        modules: vec![
            module("search", true),
            module("code", true),
            module("mail", true),
            module("legacy", false),
        ],
    }
}

fn routing(categories: &[(&str, &[&str])]) -> RoutingConfig {
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

fn seeded(open: Open<'_>) -> Arc<dyn AdminBackend> {
    let store = open();
    assert!(
        store
            .seed(&catalogue(), &routing(&[("research", &["search"])]))
            .expect("seed")
    );
    store
}

/// Everything a client can read, as one value: what "nothing changed" is compared on.
fn everything(store: &dyn AdminBackend) -> Value {
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

fn expect_err<T: std::fmt::Debug>(result: Result<T, AdminError>, what: &str) -> AdminError {
    match result {
        Ok(value) => panic!("{what}: expected an error, got {value:?}"),
        Err(e) => e,
    }
}

fn manifest(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name, "version": "1.0.0", "tools": [{"name": "run"}]})
}

/// The first seed loads the catalogue and routing version 1; a later one changes nothing.
pub fn seed_runs_once(open: Open<'_>) {
    let store = seeded(open);
    let ids: Vec<String> = store
        .modules()
        .expect("modules")
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, ["code", "legacy", "mail", "search"], "ordered by id");
    let v1 = store.routing().expect("routing");
    assert_eq!(
        (v1.version, v1.source.as_str(), v1.etag.as_str()),
        (1, "initial", "\"routing-v1\"")
    );
    let before = everything(store.as_ref());
    let other = CatalogueFile {
        modules: vec![module("other", true)],
    };
    assert!(
        !store
            .seed(&other, &routing(&[("x", &["other"])]))
            .expect("second seed")
    );
    assert_eq!(
        everything(store.as_ref()),
        before,
        "a second seed must change nothing"
    );
}

/// A routing config naming an unknown or disabled module is refused at seed, with nothing
/// written, so a corrected seed still runs.
pub fn seed_refuses_an_invalid_routing_and_writes_nothing(open: Open<'_>) {
    let store = open();
    for bad in [&["nowhere"][..], &["legacy"][..], &[][..]] {
        let err = expect_err(
            store.seed(&catalogue(), &routing(&[("r", bad)])),
            "bad seed",
        );
        assert!(matches!(err, AdminError::Invalid(_)), "{err:?}");
    }
    let dup = CatalogueFile {
        modules: vec![module("a", true), module("a", true)],
    };
    let err = expect_err(store.seed(&dup, &routing(&[])), "duplicate ids");
    assert!(matches!(err, AdminError::Invalid(_)), "{err:?}");
    assert!(
        store.modules().expect("modules").is_empty(),
        "nothing written"
    );
    assert!(
        store
            .seed(&catalogue(), &routing(&[("r", &["search"])]))
            .expect("seed")
    );
}

/// Unknown modules, versions, drafts are `NotFound`; a message names the id only when it is
/// a plain identifier (a client's arbitrary text is never echoed).
pub fn unknown_ids_are_not_found_and_only_plain_names_are_named(open: Open<'_>) {
    let store = seeded(open);
    let AdminError::NotFound(detail) = expect_err(store.module("nope"), "unknown module") else {
        panic!("not NotFound");
    };
    assert!(detail.contains("`nope`"), "{detail}");
    let AdminError::NotFound(detail) = expect_err(store.module("s3cr3t value!"), "odd id") else {
        panic!("not NotFound");
    };
    assert!(!detail.contains("s3cr3t"), "{detail}");
    for err in [
        expect_err(store.routing_version(99), "routing version"),
        expect_err(store.draft(99), "draft"),
        expect_err(store.module_version("search", 1), "module version"),
        expect_err(
            store.module_versions("nope", 0, 10),
            "versions of unknown module",
        ),
        expect_err(store.credentials("nope"), "credentials of unknown module"),
        expect_err(store.set_enabled("nope", true), "enable unknown"),
        expect_err(store.rollback_module("search", 1, None), "never published"),
    ] {
        assert!(matches!(err, AdminError::NotFound(_)), "{err:?}");
    }
}

/// Disabling a module the current routing routes to is a conflict; otherwise enable and
/// disable toggle the flag.
pub fn disable_is_refused_while_routed(open: Open<'_>) {
    let store = seeded(open);
    let before = everything(store.as_ref());
    let err = expect_err(store.set_enabled("search", false), "disable routed");
    let AdminError::Conflict(detail) = err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("research"), "names the category: {detail}");
    assert_eq!(
        everything(store.as_ref()),
        before,
        "a refused disable changes nothing"
    );
    assert!(!store.set_enabled("code", false).expect("disable").enabled);
    assert!(!store.module("code").expect("code").enabled);
    assert!(store.set_enabled("code", true).expect("enable").enabled);
    assert!(
        store
            .set_enabled("code", true)
            .expect("enable again")
            .enabled
    );
}

/// Put, patch, delete-category, reload and rollback append versions; a write that changes
/// nothing appends none; a rollback to the current content is a conflict.
pub fn routing_writes_follow_the_protocol(open: Open<'_>) {
    let store = seeded(open);
    let put = routing(&[("research", &["search"]), ("coding", &["code", "search"])]);
    let v2 = store
        .change_routing(RoutingChange::Put(put.clone()), Some("\"routing-v1\""))
        .expect("put");
    assert_eq!(
        (v2.version, v2.source.as_str(), &v2.config),
        (2, "put", &put)
    );
    // The same config again: no version, the current one answered.
    let same = store
        .change_routing(RoutingChange::Put(put.clone()), Some("*"))
        .expect("no-op put");
    assert_eq!(
        same, v2,
        "a no-op write answers the current version unchanged"
    );
    let patched = store
        .change_routing(
            RoutingChange::Patch(json!({"default_category": "coding"})),
            Some(&v2.etag),
        )
        .expect("patch");
    assert_eq!(
        (patched.version, patched.config.default_category.as_deref()),
        (3, Some("coding"))
    );
    let err = expect_err(
        store.change_routing(RoutingChange::DeleteCategory("nope".into()), Some("*")),
        "delete unknown category",
    );
    assert!(matches!(err, AdminError::NotFound(_)), "{err:?}");
    let deleted = store
        .change_routing(
            RoutingChange::DeleteCategory("research".into()),
            Some("\"routing-v3\""),
        )
        .expect("delete category");
    assert_eq!(
        (deleted.version, deleted.source.as_str()),
        (4, "delete-category")
    );
    // Reload honours a missing If-Match.
    let reloaded = store
        .change_routing(RoutingChange::Reload(routing(&[("r", &["mail"])])), None)
        .expect("reload");
    assert_eq!((reloaded.version, reloaded.source.as_str()), (5, "reload"));
    let back = store
        .change_routing(RoutingChange::Rollback(2), Some(&reloaded.etag))
        .expect("rollback");
    assert_eq!(
        (back.version, back.source_version, &back.config),
        (6, Some(2), &put)
    );
    assert_eq!(back.source, "rollback:2");
    let err = expect_err(
        store.change_routing(RoutingChange::Rollback(2), Some("*")),
        "rollback to the current content",
    );
    assert!(matches!(err, AdminError::Conflict(_)), "{err:?}");
    assert_eq!(store.routing().expect("current").version, 6);
    assert_eq!(
        store.routing_version(2).expect("v2"),
        v2,
        "history is never rewritten"
    );
}

/// Stale or missing preconditions and invalid configs are refused with nothing appended.
pub fn routing_rejections_change_nothing(open: Open<'_>) {
    let store = seeded(open);
    let good = routing(&[("r", &["code"])]);
    store
        .change_routing(RoutingChange::Put(good), Some("\"routing-v1\""))
        .expect("put");
    let before = everything(store.as_ref());
    type Expected = fn(&AdminError) -> bool;
    let cases: Vec<(RoutingChange, Option<&str>, Expected)> = vec![
        (
            RoutingChange::Put(routing(&[("r", &["mail"])])),
            None,
            |e| matches!(e, AdminError::PreconditionRequired),
        ),
        (
            RoutingChange::Put(routing(&[("r", &["mail"])])),
            Some("\"routing-v1\""),
            |e| matches!(e, AdminError::PreconditionFailed(_)),
        ),
        (
            RoutingChange::Put(routing(&[("r", &["nowhere"])])),
            Some("*"),
            |e| matches!(e, AdminError::Invalid(_)),
        ),
        (
            RoutingChange::Put(routing(&[("r", &["legacy"])])),
            Some("*"),
            |e| matches!(e, AdminError::Invalid(_)),
        ),
        (
            RoutingChange::Put(routing(&[("r", &["code", "code"])])),
            Some("*"),
            |e| matches!(e, AdminError::Invalid(_)),
        ),
        (
            RoutingChange::Put(routing(&[("bad name", &["code"])])),
            Some("*"),
            |e| matches!(e, AdminError::Invalid(_)),
        ),
        (
            RoutingChange::Patch(json!({"default_category": "missing"})),
            Some("*"),
            |e| matches!(e, AdminError::Invalid(_)),
        ),
        (
            RoutingChange::Patch(json!({"categories": 7})),
            Some("*"),
            |e| matches!(e, AdminError::Invalid(_)),
        ),
        (RoutingChange::Rollback(42), Some("*"), |e| {
            matches!(e, AdminError::NotFound(_))
        }),
        (
            RoutingChange::Reload(routing(&[("r", &["mail"])])),
            Some("\"routing-v1\""),
            |e| matches!(e, AdminError::PreconditionFailed(_)),
        ),
    ];
    for (change, tag, expected) in cases {
        let what = format!("{change:?} with {tag:?}");
        let err = expect_err(store.change_routing(change, tag), &what);
        assert!(expected(&err), "{what}: {err:?}");
        assert_eq!(
            everything(store.as_ref()),
            before,
            "{what} changed something"
        );
    }
}

/// The history lists newest first with the total, the current version marked, in pages.
pub fn routing_history_pages_newest_first(open: Open<'_>) {
    let store = seeded(open);
    for (i, id) in ["code", "mail", "search", "code"].iter().enumerate() {
        store
            .change_routing(
                RoutingChange::Put(routing(&[("r", &[*id]), ("n", &["search"])])),
                Some("*"),
            )
            .unwrap_or_else(|e| panic!("put {i}: {e:?}"));
    }
    let page = store.routing_versions(0, 2).expect("first page");
    assert_eq!((page.current, page.total), (5, 5));
    let numbers: Vec<(i64, bool)> = page
        .versions
        .iter()
        .map(|v| (v.version, v.current))
        .collect();
    assert_eq!(numbers, [(5, true), (4, false)]);
    let page = store.routing_versions(4, 2).expect("last page");
    assert_eq!(
        page.versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(page.versions[0].source, "initial");
    assert!(
        store
            .routing_versions(10, 5)
            .expect("past the end")
            .versions
            .is_empty()
    );
}

/// Writers holding the same ETag, on separate handles (as separate processes would), race:
/// exactly one appends, every other gets `PreconditionFailed`. The same for draft edits.
pub fn of_two_writers_with_one_etag_exactly_one_wins(open: Open<'_>) {
    let store = seeded(open);
    let draft = store.create_draft(&manifest("m", "M")).expect("draft");
    const WRITERS: usize = 6;
    let barrier = Arc::new(Barrier::new(WRITERS));
    let handles: Vec<_> = (0..WRITERS)
        .map(|i| {
            let store = open();
            let barrier = Arc::clone(&barrier);
            let etag = draft.etag.clone();
            std::thread::spawn(move || {
                let target = ["code", "mail", "search"][i % 3];
                let config = routing(&[("r", &[target]), (&format!("c{i}"), &["search"])]);
                barrier.wait();
                let routed =
                    store.change_routing(RoutingChange::Put(config), Some("\"routing-v1\""));
                let edited =
                    store.replace_draft(draft.id, Some(&etag), &manifest("m", &format!("M{i}")));
                (routed.map(|v| v.version), edited.map(|d| d.revision))
            })
        })
        .collect();
    let (mut routing_wins, mut draft_wins) = (0, 0);
    for handle in handles {
        let (routed, edited) = handle.join().expect("writer thread");
        match routed {
            Ok(version) => {
                assert_eq!(version, 2);
                routing_wins += 1;
            }
            Err(AdminError::PreconditionFailed(_)) => {}
            Err(other) => panic!("routing writer: {other:?}"),
        }
        match edited {
            Ok(revision) => {
                assert_eq!(revision, 2);
                draft_wins += 1;
            }
            Err(AdminError::PreconditionFailed(_)) => {}
            Err(other) => panic!("draft writer: {other:?}"),
        }
    }
    assert_eq!(
        (routing_wins, draft_wins),
        (1, 1),
        "exactly one writer wins each race"
    );
    assert_eq!(store.routing_versions(0, 10).expect("versions").total, 2);
}

/// Credentials are stored sealed, per module, replaced in place, deleted one by one or all.
pub fn credentials_are_kept_sealed_per_module(open: Open<'_>) {
    let store = seeded(open);
    let sealed = |b: u8| Sealed {
        nonce: vec![b; 24],
        ciphertext: vec![b, b, b],
    };
    store
        .put_credential("search", "api_key", sealed(1))
        .expect("put");
    store
        .put_credential("search", "extra", sealed(2))
        .expect("put extra");
    let replaced = store
        .put_credential("search", "api_key", sealed(3))
        .expect("replace");
    assert_eq!(replaced.sealed, sealed(3));
    store
        .put_credential("mail", "api_key", sealed(4))
        .expect("put mail");
    let (module, stored) = store.credentials("search").expect("list");
    assert_eq!(module.id, "search");
    let names: Vec<(&str, &Sealed)> = stored
        .iter()
        .map(|c| (c.name.as_str(), &c.sealed))
        .collect();
    assert_eq!(
        names,
        [("api_key", &sealed(3)), ("extra", &sealed(2))],
        "ordered by name"
    );
    assert_eq!(store.all_credentials().expect("all").len(), 3);
    let err = expect_err(
        store.put_credential("nope", "api_key", sealed(5)),
        "unknown module",
    );
    assert!(matches!(err, AdminError::NotFound(_)), "{err:?}");
    store.delete_credential("search", "extra").expect("delete");
    let err = expect_err(store.delete_credential("search", "extra"), "delete twice");
    assert!(matches!(err, AdminError::NotFound(_)), "{err:?}");
    assert_eq!(store.delete_all_credentials().expect("delete all"), 2);
    assert!(store.all_credentials().expect("none left").is_empty());
}

/// Drafts: any JSON object, revisions +1 per edit, `If-Match` required to edit and honoured
/// to delete, listed newest first with a state filter.
pub fn drafts_have_revisions_and_preconditions(open: Open<'_>) {
    let store = seeded(open);
    let err = expect_err(store.create_draft(&json!([1, 2])), "non-object draft");
    assert!(matches!(err, AdminError::Invalid(_)), "{err:?}");
    let first = store
        .create_draft(&json!({"id": "x"}))
        .expect("incomplete draft");
    assert_eq!(
        (first.revision, first.state, first.module_id.as_deref()),
        (1, DraftState::Draft, Some("x"))
    );
    assert_eq!(first.etag, format!("\"draft-{}-r1\"", first.id));
    let before = everything(store.as_ref());
    for (tag, expected) in [(None, "required"), (Some("\"draft-0-r0\""), "failed")] {
        let err = expect_err(
            store.replace_draft(first.id, tag, &json!({"id": "y"})),
            "edit",
        );
        let ok = match expected {
            "required" => matches!(err, AdminError::PreconditionRequired),
            _ => matches!(err, AdminError::PreconditionFailed(_)),
        };
        assert!(ok, "{tag:?}: {err:?}");
    }
    let err = expect_err(
        store.replace_draft(first.id, Some("*"), &json!("text")),
        "non-object edit",
    );
    assert!(matches!(err, AdminError::Invalid(_)), "{err:?}");
    assert_eq!(
        everything(store.as_ref()),
        before,
        "refused edits change nothing"
    );
    let edited = store
        .replace_draft(first.id, Some(&first.etag), &manifest("x", "X"))
        .expect("edit");
    assert_eq!(edited.revision, 2);
    let second = store.create_draft(&json!({})).expect("second draft");
    assert!(second.id > first.id, "ids grow");
    store
        .publish_draft(first.id, Some(&edited.etag))
        .expect("publish");
    let (drafts, total) = store.drafts(None, 0, 10).expect("list");
    assert_eq!(
        (total, drafts.iter().map(|d| d.id).collect::<Vec<_>>()),
        (2, vec![second.id, first.id])
    );
    let (published, total) = store
        .drafts(Some(DraftState::Published), 0, 10)
        .expect("published");
    assert_eq!(
        (total, published[0].id, published[0].published_version),
        (1, first.id, Some(1))
    );
    let (open_drafts, total) = store
        .drafts(Some(DraftState::Draft), 0, 1)
        .expect("open drafts");
    assert_eq!((total, open_drafts.len()), (1, 1));
    let err = expect_err(
        store.replace_draft(first.id, Some("*"), &json!({})),
        "edit published",
    );
    assert!(matches!(err, AdminError::Conflict(_)), "{err:?}");
    let err = expect_err(
        store.delete_draft(second.id, Some("\"stale\"")),
        "stale delete",
    );
    assert!(matches!(err, AdminError::PreconditionFailed(_)), "{err:?}");
    store.delete_draft(second.id, None).expect("delete");
    store
        .delete_draft(first.id, None)
        .expect("delete a published draft");
    assert_eq!(
        store
            .module_versions("x", 0, 10)
            .expect("versions stay")
            .total,
        1
    );
    let err = expect_err(store.delete_draft(first.id, None), "delete twice");
    assert!(matches!(err, AdminError::NotFound(_)), "{err:?}");
}

/// Publish validates fully and appends; a new module starts disabled and an existing one
/// keeps its state; identical content is a conflict; rollback appends a copy.
pub fn publish_and_rollback_follow_the_rules(open: Open<'_>) {
    let store = seeded(open);
    let bad = store
        .create_draft(&json!({"id": "new mod", "name": "", "tools": []}))
        .expect("bad draft");
    let before = everything(store.as_ref());
    let AdminError::InvalidFields(problems) =
        expect_err(store.publish_draft(bad.id, None), "invalid")
    else {
        panic!("not InvalidFields");
    };
    let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        ["/id", "/name", "/version", "/tools"],
        "every problem at once"
    );
    assert_eq!(
        everything(store.as_ref()),
        before,
        "an invalid publish changes nothing"
    );

    let draft = store
        .create_draft(&manifest("fresh", "Fresh"))
        .expect("draft");
    let published = store
        .publish_draft(draft.id, Some(&draft.etag))
        .expect("publish");
    assert_eq!(
        (published.version.version, published.version.source),
        (1, VersionSource::Publish)
    );
    assert_eq!(published.version.draft_id, Some(draft.id));
    assert!(!published.module.enabled, "a new module starts disabled");
    let published_draft = published.draft.expect("the draft");
    assert_eq!(
        (published_draft.state, published_draft.revision),
        (DraftState::Published, 2)
    );
    let err = expect_err(store.publish_draft(draft.id, None), "publish twice");
    assert!(matches!(err, AdminError::Conflict(_)), "{err:?}");
    let same = store
        .create_draft(&manifest("fresh", "Fresh"))
        .expect("same manifest");
    let err = expect_err(store.publish_draft(same.id, None), "publish identical");
    assert!(matches!(err, AdminError::Conflict(_)), "{err:?}");
    assert_eq!(
        store.draft(same.id).expect("stays").state,
        DraftState::Draft
    );

    store.set_enabled("fresh", true).expect("enable");
    let renamed = store
        .create_draft(&manifest("fresh", "Renamed"))
        .expect("v2 draft");
    let v2 = store.publish_draft(renamed.id, None).expect("publish v2");
    assert_eq!(v2.version.version, 2);
    assert!(
        v2.module.enabled,
        "an existing module keeps its enabled state"
    );
    assert_eq!(
        v2.module.name, "Renamed",
        "the catalogue follows the manifest"
    );
    // A catalogue module published for the first time keeps its state too.
    let search = store
        .publish_draft(
            store.create_draft(&manifest("search", "S")).expect("d").id,
            None,
        )
        .expect("publish over a catalogue module");
    assert!(search.module.enabled);

    let err = expect_err(
        store.rollback_module("fresh", 1, Some("\"module-fresh-v1\"")),
        "stale",
    );
    assert!(matches!(err, AdminError::PreconditionFailed(_)), "{err:?}");
    let err = expect_err(store.rollback_module("fresh", 2, None), "to current");
    assert!(matches!(err, AdminError::Conflict(_)), "{err:?}");
    let err = expect_err(store.rollback_module("fresh", 9, None), "unknown version");
    assert!(matches!(err, AdminError::NotFound(_)), "{err:?}");
    let back = store
        .rollback_module("fresh", 1, Some("\"module-fresh-v2\""))
        .expect("rollback");
    assert_eq!(
        (
            back.version.version,
            back.version.source,
            back.version.source_version
        ),
        (3, VersionSource::Rollback, Some(1))
    );
    assert_eq!(back.module.name, "Fresh");
    let err = expect_err(
        store.rollback_module("fresh", 1, None),
        "same content again",
    );
    assert!(matches!(err, AdminError::Conflict(_)), "{err:?}");
    let page = store.module_versions("fresh", 0, 2).expect("versions");
    assert_eq!((page.current, page.total), (Some(3), 3));
    let listed: Vec<(i64, bool)> = page
        .versions
        .iter()
        .map(|v| (v.version, v.current))
        .collect();
    assert_eq!(listed, [(3, true), (2, false)]);
    assert_eq!(page.versions[0].etag, "\"module-fresh-v3\"");
    assert!(!store.module_version("fresh", 1).expect("v1").current);
}

/// Everything written is there after the storage is closed and opened again.
pub fn everything_survives_a_reopen(open: Open<'_>) {
    let store = seeded(open);
    store
        .change_routing(RoutingChange::Put(routing(&[("r", &["code"])])), Some("*"))
        .expect("put");
    store
        .put_credential(
            "code",
            "api_key",
            Sealed {
                nonce: vec![7; 24],
                ciphertext: vec![1],
            },
        )
        .expect("credential");
    let draft = store.create_draft(&manifest("n", "N")).expect("draft");
    store.publish_draft(draft.id, None).expect("publish");
    store.create_draft(&json!({"wip": true})).expect("wip");
    store.check_ready().expect("ready");
    let before = everything(store.as_ref());
    drop(store);
    let again = open();
    assert_eq!(everything(again.as_ref()), before);
    assert!(
        !again
            .seed(&catalogue(), &routing(&[]))
            .expect("seed after reopen")
    );
    again.check_ready().expect("ready after reopen");
}
