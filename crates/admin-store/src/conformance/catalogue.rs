//! Checks of seeding, the module catalogue, credentials and reopening.

use super::*;
use crate::Sealed;
use crate::routing::RoutingChange;

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

/// The catalogue from memory (`module_catalogued_from_memory`) is current or nothing: after the
/// fallback read (`module`) and after another handle adds a module (as another process would),
/// every answer it gives is the catalogue's, never one from before a write that returned.
pub fn the_catalogue_from_memory_is_current_or_nothing(open: Open<'_>) {
    let store = seeded(open);
    let other = open();
    let agrees = |store: &dyn AdminBackend, known: &[&str], unknown: &[&str]| {
        for id in known {
            let answer = store.module_catalogued_from_memory(id);
            assert!(answer.is_none_or(|k| k), "{id} is catalogued: {answer:?}");
        }
        for id in unknown {
            let answer = store.module_catalogued_from_memory(id);
            assert!(answer.is_none_or(|k| !k), "{id} is not: {answer:?}");
        }
    };
    agrees(store.as_ref(), &["search", "legacy"], &["fresh", "nope"]);
    store.module("search").expect("the fallback read");
    agrees(store.as_ref(), &["search", "legacy"], &["fresh", "nope"]);
    let draft = other
        .create_draft(&manifest("fresh", "Fresh"))
        .expect("draft");
    other.publish_draft(draft.id, None).expect("publish");
    agrees(store.as_ref(), &["search", "fresh"], &["nope"]);
    store.module("fresh").expect("the fallback read");
    agrees(store.as_ref(), &["search", "fresh"], &["nope"]);
}
