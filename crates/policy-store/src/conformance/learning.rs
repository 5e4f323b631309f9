//! Learning and reading back: the backend decides exactly as the in-memory policy does, rebuild
//! reproduces the incremental checkpoints, the recommend fallback, the in-memory answer current
//! or none, checkpoint pages, concurrent writers on two handles, reopen, and corrupt
//! checkpoints (through the backend's own hook).

use super::{Corrupt, Open, T0, exported, names, say_which_call_answered, traj};
use crate::{BackendAdvisor, BatchReport, IngestOutcome, PolicyBackend, PolicyError};
use otc_policy::simulate::{self, Agent, MemoryPolicy, Scenario};
use otc_policy::synthetic::World;
use otc_policy::{PolicyConfig, RecommendationSource, Trajectory};
use std::collections::HashSet;
use std::sync::Arc;

/// The simulator against the backend and against the in-memory policy: the same decision for
/// every request (so the backend assigns ids and draws as the pure policy does), and a rebuild
/// reproduces the backend's checkpoints.
pub fn backend_and_memory_decide_alike_and_rebuild_reproduces_the_checkpoints(open: Open<'_>) {
    let store = open();
    let scenario = Scenario::steady(Agent::OverCaller, 120);
    let from_store = simulate::run(&scenario, 7, &mut BackendAdvisor(store.as_ref())).unwrap();
    let from_memory = simulate::run(
        &scenario,
        7,
        &mut MemoryPolicy::new(PolicyConfig::default()),
    )
    .unwrap();
    assert_eq!(from_store, from_memory);
    let incremental = store.checkpoints().unwrap();
    store.rebuild().unwrap();
    assert_eq!(store.checkpoints().unwrap(), incremental);
}

/// `recommend_from_memory` gives nothing or exactly what `recommend` gives at that moment:
/// after a write on another handle (another process, in effect) never the answer from before
/// it; invalid names are for `recommend` to explain.
pub fn recommend_from_memory_is_current_or_nothing(open: Open<'_>) {
    let (server, other) = (open(), open());
    let asked = names(&["mail", "web", "calc"]);
    let agrees = |store: &Arc<dyn PolicyBackend>| {
        let held = store.recommend_from_memory("search", &asked);
        let read = store.recommend("search", &asked).unwrap();
        assert!(
            held.is_none_or(|held| held == read),
            "memory and store disagree"
        );
        read
    };
    let cold = agrees(&server);
    assert_eq!(cold.source, RecommendationSource::Unseen);
    agrees(&server);
    other.ingest(&traj("m1", &["web", "calc"], true)).unwrap();
    let truth = other.recommend("search", &asked).unwrap();
    assert_eq!(truth.source, RecommendationSource::Exact);
    let held = server.recommend_from_memory("search", &asked);
    assert!(
        held.is_none_or(|held| held == truth),
        "an answer from before another handle's write"
    );
    assert_eq!(agrees(&server), truth);
    assert_eq!(
        server.recommend_from_memory("search", &names(&["web", "bad name"])),
        None
    );
}

/// The exact combination; else a loan from siblings that share modules; else the cold start,
/// which is never an error.
pub fn recommend_falls_back_and_never_errors_for_the_unseen(open: Open<'_>) {
    let store = open();
    for i in 0..20 {
        store
            .ingest(&traj(&format!("r{i}"), &["web", "calc", "calc"], true))
            .unwrap();
    }
    let exact = store
        .recommend("search", &names(&["mail", "calc", "web"]))
        .unwrap();
    assert_eq!(
        (exact.source, exact.budget),
        (RecommendationSource::Exact, 3),
        "unlogged trajectories count as served the calls they made"
    );
    let ranked: Vec<&str> = exact.ranked.iter().map(|a| a.module.as_str()).collect();
    assert_eq!(
        ranked,
        ["calc", "mail", "web"],
        "the module that answered (last call) first, the untried one before the one that \
         was tried and never answered"
    );
    let other = store.recommend("search", &names(&["web", "ftp"])).unwrap();
    assert_eq!(other.source, RecommendationSource::IntentFallback);
    assert_eq!(other.budget, 3);
    assert!(other.reason.contains("borrowed"), "{}", other.reason);
    assert!(other.confidence < exact.confidence);
    assert_eq!(other.ranked[0].module, "ftp");
    assert_eq!(other.ranked[1].module, "web");
    // A sibling that shares no module lends nothing: the cold start.
    let unrelated = store.recommend("search", &names(&["ftp"])).unwrap();
    assert_eq!(unrelated.source, RecommendationSource::Unseen);
    let unseen = store
        .recommend("translate", &names(&["web", "ftp"]))
        .unwrap();
    assert_eq!(
        (unseen.source, unseen.budget, unseen.confidence),
        (RecommendationSource::Unseen, 1, 0.0),
        "the default cold start"
    );
    assert!(
        unseen.ranked.len() == 2 && unseen.ranked.iter().all(|arm| arm.pulls == 0.0),
        "every module untried: {:?}",
        unseen.ranked
    );
    // A combination learnt to answer without tools ranks nothing.
    for i in 0..20 {
        let mut without_tools = traj(&format!("n{i}"), &[], true);
        without_tools.intent = "chat".into();
        store.ingest(&without_tools).unwrap();
    }
    let chat = store
        .recommend("chat", &names(&["web", "calc", "mail"]))
        .unwrap();
    assert_eq!((chat.source, chat.budget), (RecommendationSource::Exact, 0));
    assert!(
        chat.ranked.is_empty(),
        "a budget of 0 means answer without tools: {:?}",
        chat.ranked
    );
}

/// Single ingests, batches and re-sent duplicates, then a rebuild: the same checkpoints. Some
/// trajectories say which call answered (`answered_at`), which ingest and rebuild must both
/// fold.
pub fn rebuild_equals_the_incremental_result(open: Open<'_>) {
    let store = open();
    let world = World::standard(4);
    let mut all = world.trajectories(3000, 11, "r", T0);
    say_which_call_answered(&mut all);
    for t in &all[..200] {
        store.ingest(t).unwrap();
    }
    for chunk in all[150..].chunks(700) {
        store.ingest_batch(chunk).unwrap();
    }
    let incremental = store.checkpoints().unwrap();
    let report = store.rebuild().unwrap();
    assert_eq!((report.trajectories, report.checkpoints), (3000, 4));
    assert_eq!(store.checkpoints().unwrap(), incremental);
}

/// Pages follow the full list's order (intent, then canonical module set), the total counts
/// every match whatever the page, and the intent filter is exact.
pub fn checkpoints_page_in_order_with_a_total(open: Open<'_>) {
    let store = open();
    let empty = store.checkpoint_page(None, 0, 10).unwrap();
    assert_eq!((empty.total, empty.checkpoints.len()), (0, 0));
    let mut batch = Vec::new();
    for (i, intent) in ["search", "code", "mail"].iter().enumerate() {
        for (j, set) in [&["web"][..], &["web", "calc"], &["calc"], &["ftp", "web"]]
            .iter()
            .enumerate()
        {
            batch.push(Trajectory {
                request_id: format!("p{i}-{j}"),
                intent: (*intent).into(),
                modules: names(set),
                calls: vec![set[0].to_owned()],
                ..traj("x", &[], true)
            });
        }
    }
    store.ingest_batch(&batch).unwrap();
    let all = store.checkpoints().unwrap();
    assert_eq!(all.len(), 12);
    let keys: Vec<(String, String)> = all
        .iter()
        .map(|c| (c.intent.clone(), c.modules.join(",")))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by intent, then module set");
    for (offset, limit) in [(0, 5), (5, 5), (10, 5), (3, 1), (11, 100), (12, 3), (40, 3)] {
        let page = store.checkpoint_page(None, offset, limit).unwrap();
        assert_eq!(page.total, 12, "offset {offset}, limit {limit}");
        let expected: Vec<_> = all
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .cloned()
            .collect();
        assert_eq!(page.checkpoints, expected, "offset {offset}, limit {limit}");
    }
    let code: Vec<_> = all.iter().filter(|c| c.intent == "code").cloned().collect();
    let page = store.checkpoint_page(Some("code"), 1, 2).unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(page.checkpoints, code[1..3]);
    let none = store.checkpoint_page(Some("nobody"), 0, 10).unwrap();
    assert_eq!((none.total, none.checkpoints.len()), (0, 0));
    assert_eq!(
        store
            .checkpoint_page(Some("search"), 0, u64::MAX)
            .unwrap()
            .total,
        4
    );
}

/// `stored_run_units` is what a trajectory was stored with (so a retry resolves to it), and a
/// healthy backend is ready, before and after writes.
pub fn stored_run_units_and_readiness(open: Open<'_>) {
    let store = open();
    store.check_ready().unwrap();
    assert_eq!(store.stored_run_units("r1").unwrap(), None);
    let mut t = traj("r1", &["web"], true);
    t.run_units = 7.25;
    store.ingest(&t).unwrap();
    assert_eq!(store.stored_run_units("r1").unwrap(), Some(7.25));
    assert_eq!(store.stored_run_units("r2").unwrap(), None);
    store.check_ready().unwrap();
    open().check_ready().unwrap();
}

/// Six threads on two handles (a second handle stands in for another process) send
/// overlapping trajectories, singly and in batches: each is accepted exactly once, none is
/// lost, no storage error (lock contention included) reaches a caller, and the checkpoints
/// still equal a rebuild.
pub fn concurrent_writers_on_two_handles_lose_nothing_and_double_nothing(open: Open<'_>) {
    let shared = open();
    let other = open();
    let world = World::standard(3);
    let all = Arc::new(world.trajectories(1200, 9, "c", T0));
    let threads: Vec<_> = (0..6)
        .map(|w| {
            let store: Arc<dyn PolicyBackend> = if w % 2 == 0 {
                shared.clone()
            } else {
                other.clone()
            };
            let all = all.clone();
            std::thread::spawn(move || {
                let start = (w / 2) * 400;
                let mine: Vec<Trajectory> = all[start..start + 400]
                    .iter()
                    .chain(&all[(start + 200) % 1200..(start + 200) % 1200 + 200])
                    .cloned()
                    .collect();
                let mut accepted = 0;
                for (i, chunk) in mine.chunks(30).enumerate() {
                    let report: BatchReport = if i % 3 == 0 {
                        let mut r = BatchReport {
                            accepted: 0,
                            duplicates: 0,
                            items: vec![],
                        };
                        for t in chunk {
                            match store.ingest(t).expect("no error, lock contention included") {
                                IngestOutcome::Accepted { .. } => r.accepted += 1,
                                IngestOutcome::Duplicate { .. } => r.duplicates += 1,
                            }
                        }
                        r
                    } else {
                        store
                            .ingest_batch(chunk)
                            .expect("no error, lock contention included")
                    };
                    accepted += report.accepted;
                }
                accepted
            })
        })
        .collect();
    let accepted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(
        accepted, 1200,
        "each distinct trajectory accepted exactly once"
    );
    let ids: HashSet<String> = exported(shared.as_ref())
        .into_iter()
        .map(|t| t.request_id)
        .collect();
    assert_eq!(ids.len(), 1200);
    assert_eq!(exported(other.as_ref()).len(), 1200, "no row doubled");
    let samples: u64 = shared
        .checkpoints()
        .unwrap()
        .iter()
        .map(|c| c.samples)
        .sum();
    assert_eq!(samples, 1200);
    // Commit order is log order, so even interleaved writers match a rebuild.
    let incremental = shared.checkpoints().unwrap();
    other.rebuild().unwrap();
    assert_eq!(shared.checkpoints().unwrap(), incremental);
}

/// Close and reopen: the log, the checkpoints, reward events and the decision count are all
/// there, and learning resumes where it stopped (the rest equals a rebuild over everything).
pub fn everything_survives_a_reopen(open: Open<'_>) {
    let world = World::standard(3);
    let all = world.trajectories(1500, 3, "r", T0);
    let (checkpoints, log, event, decision) = {
        let store = open();
        store.ingest_batch(&all[..1000]).unwrap();
        for t in &all[1000..1100] {
            store.ingest(t).unwrap();
        }
        let decision = store.decide(&all[0].intent, &all[0].modules).unwrap();
        (
            store.checkpoints().unwrap(),
            exported(store.as_ref()),
            store.reward_event(&all[0].request_id).unwrap(),
            decision.decision_id,
        )
    };
    let store = open();
    assert_eq!(store.checkpoints().unwrap(), checkpoints);
    assert_eq!(exported(store.as_ref()), log);
    assert_eq!(log.len(), 1100);
    assert!(event.is_some());
    assert_eq!(store.reward_event(&all[0].request_id).unwrap(), event);
    assert_eq!(
        store
            .decide(&all[0].intent, &all[0].modules)
            .unwrap()
            .decision_id,
        decision + 1
    );
    store.ingest_batch(&all[1100..]).unwrap();
    let incremental = store.checkpoints().unwrap();
    store.rebuild().unwrap();
    assert_eq!(store.checkpoints().unwrap(), incremental);
}

/// A checkpoint that does not decode is `CorruptCheckpoint` when asked for, when listed, when
/// ingested into (writing nothing) and when decided on; rebuild repairs it.
pub fn a_corrupt_checkpoint_is_a_typed_error_and_rebuild_repairs_it(
    open: Open<'_>,
    corrupt: Corrupt<'_>,
) {
    let store = open();
    for i in 0..5 {
        store
            .ingest(&traj(&format!("r{i}"), &["web", "calc"], true))
            .unwrap();
    }
    let good = store.checkpoints().unwrap();
    corrupt("search", &["web", "calc", "mail"]);
    let modules = names(&["web", "calc", "mail"]);
    assert!(matches!(
        store.recommend("search", &modules),
        Err(PolicyError::CorruptCheckpoint { .. })
    ));
    assert!(matches!(
        store.decide("search", &modules),
        Err(PolicyError::CorruptCheckpoint { .. })
    ));
    assert!(matches!(
        store.checkpoints(),
        Err(PolicyError::CorruptCheckpoint { .. })
    ));
    assert!(matches!(
        store.checkpoint_page(Some("search"), 0, 1),
        Err(PolicyError::CorruptCheckpoint { .. })
    ));
    let log = exported(store.as_ref());
    assert!(matches!(
        store.ingest(&traj("r9", &["web"], true)),
        Err(PolicyError::CorruptCheckpoint { .. })
    ));
    assert_eq!(
        exported(store.as_ref()),
        log,
        "a failed ingest writes nothing"
    );
    store.rebuild().unwrap();
    assert_eq!(store.checkpoints().unwrap(), good);
    assert_eq!(store.recommend("search", &modules).unwrap().budget, 2);
}

/// The intent fallback serves other module sets: a corrupt sibling is skipped as long as a
/// readable one remains, and is an error only when none is readable.
pub fn the_fallback_skips_a_corrupt_sibling_checkpoint(open: Open<'_>, corrupt: Corrupt<'_>) {
    let store = open();
    let mut small = traj("s1", &["web"], true);
    small.modules = names(&["web"]);
    store
        .ingest_batch(&[traj("r1", &["web", "calc"], true), small])
        .unwrap();
    corrupt("search", &["calc", "mail", "web"]);
    let asked = names(&["web", "ftp"]);
    let rec = store.recommend("search", &asked).unwrap();
    assert_eq!(rec.source, RecommendationSource::IntentFallback);
    assert_eq!(rec.budget, 1, "from the readable sibling {{web}}");
    assert!(matches!(
        store.recommend("search", &names(&["web", "calc", "mail"])),
        Err(PolicyError::CorruptCheckpoint { .. })
    ));
    corrupt("search", &["web"]);
    assert!(matches!(
        store.recommend("search", &asked),
        Err(PolicyError::CorruptCheckpoint { .. })
    ));
}
