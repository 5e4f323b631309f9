//! Checks of the routing history: the write protocol, rejections, pages, racing writers.

use super::*;
use crate::routing::RoutingChange;
use std::sync::Barrier;

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
