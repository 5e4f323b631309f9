//! Checks of dev-mode: draft revisions and preconditions, publish and rollback.

use super::*;
use crate::dev::{DraftState, VersionSource};

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
