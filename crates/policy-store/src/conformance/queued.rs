//! Queued ingest ([`crate::PolicyBackend::ingest_queued`]): a sequence of trajectories queued
//! several at a time on one handle (so that they can share the backend's commits) gives, item
//! by item and in the policy it leaves, exactly what the same sequence gives through `ingest`
//! on another handle. A backend without a queued path answers `None` for every trajectory, and
//! the check then compares `ingest` with itself.

use super::{Open, T0};
use crate::{IngestOutcome, PolicyError};
use otc_policy::Trajectory;

/// The two lanes' prefixes: each lane has intents and request ids of its own, so the lanes
/// share the storage and nothing else.
const QUEUED: &str = "lane_q_";
const BLOCKING: &str = "lane_b_";

/// Retries (equal content), conflicting reuses of a request id, invalid items and new ones,
/// over two intents and three module sets, queued in waves of varying size: every queued
/// outcome, error included, equals the blocking lane's, and so does every recommendation
/// afterwards.
pub fn queued_ingests_match_ingest_one_by_one(open: Open<'_>) {
    let queueing = open();
    let blocking = open();
    let sequence = sequence(120);
    let mut has_path = None;
    // Accepted, duplicate, conflict, invalid: the sequence must show every kind.
    let mut kinds = [0usize; 4];
    let mut rest = &sequence[..];
    for size in [1usize, 7, 3, 12, 5, 9, 2].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (wave, after) = rest.split_at((*size).min(rest.len()));
        rest = after;
        let queued: Vec<_> = wave
            .iter()
            .map(|t| queueing.ingest_queued(&in_lane(t, QUEUED)))
            .collect();
        for (t, queued) in wave.iter().zip(queued) {
            assert_eq!(
                *has_path.get_or_insert(queued.is_some()),
                queued.is_some(),
                "a backend queues every trajectory or none"
            );
            let got = match queued {
                Some(queued) => pollster::block_on(queued),
                None => queueing.ingest(&in_lane(t, QUEUED)),
            };
            let want = blocking.ingest(&in_lane(t, BLOCKING));
            kinds[match &want {
                Ok(IngestOutcome::Accepted { .. }) => 0,
                Ok(IngestOutcome::Duplicate { .. }) => 1,
                Err(PolicyError::Conflict(_)) => 2,
                Err(_) => 3,
            }] += 1;
            assert_eq!(
                laneless(&got, QUEUED),
                laneless(&want, BLOCKING),
                "trajectory {t:?}"
            );
        }
    }
    assert!(
        kinds.iter().all(|n| *n > 0),
        "accepted, duplicate, conflict, invalid: {kinds:?}"
    );
    for intent in ["search", "mail"] {
        for set in SETS {
            let modules: Vec<String> = set.iter().map(|m| (*m).to_owned()).collect();
            let got = queueing.recommend(&format!("{QUEUED}{intent}"), &modules);
            let want = blocking.recommend(&format!("{BLOCKING}{intent}"), &modules);
            assert_eq!(
                laneless(&got, QUEUED),
                laneless(&want, BLOCKING),
                "{intent} over {set:?}"
            );
        }
    }
}

const SETS: [&[&str]; 3] = [&["web", "calc", "mail"], &["web", "calc"], &["mail"]];

/// `t` in a lane: its intent and request id prefixed.
fn in_lane(t: &Trajectory, lane: &str) -> Trajectory {
    let mut t = t.clone();
    t.intent = format!("{lane}{}", t.intent);
    t.request_id = format!("{lane}{}", t.request_id);
    t
}

/// A result with its lane's prefix taken out, to compare across lanes.
fn laneless<T: std::fmt::Debug>(result: &Result<T, PolicyError>, lane: &str) -> String {
    format!("{result:?}").replace(lane, "")
}

/// `len` trajectories from a fixed generator: request ids drawn from a pool a third of the
/// sequence's size, so ids repeat; a repeat is usually the same content (a retry) and
/// sometimes other content (a conflict); one item in eleven is invalid.
fn sequence(len: usize) -> Vec<Trajectory> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |below: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    };
    let mut first: std::collections::HashMap<u64, Trajectory> = Default::default();
    (0..len)
        .map(|i| {
            let id = next(len as u64 / 3);
            if let Some(seen) = first.get(&id)
                && next(4) != 0
            {
                let mut again = seen.clone();
                if next(4) == 0 {
                    again.correct = !again.correct;
                }
                return again;
            }
            let set = SETS[next(3) as usize];
            let calls = (0..next(4))
                .map(|_| set[next(set.len() as u64) as usize].to_owned())
                .collect();
            let mut t = Trajectory {
                request_id: format!("r{id}"),
                intent: ["search", "mail"][next(2) as usize].into(),
                modules: set.iter().map(|m| (*m).to_owned()).collect(),
                calls,
                run_units: next(5) as f64 * 0.5,
                correct: next(5) != 0,
                latency_ms: 20.0 + next(100) as f64,
                timestamp_ms: T0 + i as i64,
                decision_id: None,
                answered_by: None,
                answered_at: None,
            };
            if i % 11 == 10 {
                t.latency_ms = f64::NAN;
            }
            first.entry(id).or_insert_with(|| t.clone());
            t
        })
        .collect()
}
