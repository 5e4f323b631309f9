//! The checkpoint BLOB: the bytes every policy store keeps for one (intent, module set) as its
//! `arm_weights` (SQLite's column name), whatever the database. msgpack (rmp-serde, compact array
//! form) of a version-tagged record holding everything an incremental update resumes from: the
//! arms' answer credit, OTC's decayed call histogram and the served budget's state.
//!
//! It lives in the pure crate, beside the state it encodes, because the format is the policy's
//! and not a backend's: every backend stores the same bytes (so a log moved between backends
//! carries its checkpoints' meaning), and the codec rebuilds states through constructors that
//! check the policy's own invariants (`Arms::from_parts`, `BudgetState::from_parts`).
//!
//! Layout of version 2 (version 1, written before the closed-loop policy, is no longer read:
//! SQLite's migration to schema 3 drops those rows and the store rebuilds them):
//!
//! ```text
//! [2,
//!  [[pulls, answered], ...],                      one per module, canonical order
//!  [[calls, weight], ...],                        OTC's histogram, sorted by calls
//!  [current | -1, recent_served, recent_succeeded, early,
//!   probing, failed_probes, since_probe,
//!   [[level, served, succeeded, paired, kept], ...]]]   sorted by level
//! ```
//!
//! Decoding never panics: malformed bytes, an unknown version or out-of-range numbers are a
//! [`BlobError`], which a store reports as a corrupt checkpoint that `rebuild` repairs.

use crate::arms::{Arm, Arms};
use crate::budget::{BudgetState, Level};
use crate::estimate::CallHistogram;
use serde::{Deserialize, Serialize};

/// The version this build writes.
pub const BLOB_VERSION: u8 = 2;

/// Why a BLOB could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BlobError {
    /// Not valid msgpack of the expected shape.
    #[error("not a checkpoint BLOB: {0}")]
    Malformed(String),
    /// Written by a build with another BLOB version.
    #[error("unknown BLOB version {0}")]
    UnknownVersion(u8),
    /// Well-formed, but its numbers are impossible or it does not fit its module set.
    #[error("inconsistent BLOB: {0}")]
    Inconsistent(String),
}

type LevelRecord = (u32, f64, f64, f64, f64);
type BudgetRecord = (i64, f64, f64, f64, bool, u32, u32, Vec<LevelRecord>);

#[derive(Serialize, Deserialize)]
struct V2 {
    version: u8,
    arms: Vec<(f64, f64)>,
    hist: Vec<(u32, f64)>,
    budget: BudgetRecord,
}

/// The parts of a checkpoint kept in its BLOB.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Answer credit per module.
    pub arms: Arms,
    /// OTC's call histogram.
    pub hist: CallHistogram,
    /// The served budget's state.
    pub budget: BudgetState,
}

/// Encodes arms, histogram and budget state.
pub fn encode(arms: &Arms, hist: &CallHistogram, budget: &BudgetState) -> Vec<u8> {
    let record = V2 {
        version: BLOB_VERSION,
        arms: arms.arms().iter().map(|a| (a.pulls, a.answered)).collect(),
        hist: hist.bins().to_vec(),
        budget: (
            budget.current.map_or(-1, i64::from),
            budget.recent_served,
            budget.recent_succeeded,
            budget.early,
            budget.probing,
            budget.failed_probes,
            budget.since_probe,
            budget
                .levels()
                .iter()
                .map(|(l, v)| (*l, v.served, v.succeeded, v.paired, v.kept))
                .collect(),
        ),
    };
    // Serialising plain numbers and vectors into a Vec cannot fail.
    rmp_serde::to_vec(&record).unwrap_or_default()
}

/// Decodes a BLOB for a module set of `modules` modules.
pub fn decode(bytes: &[u8], modules: usize) -> Result<Decoded, BlobError> {
    // Every version is a msgpack array (fixarray, 0x90..=0x9f) whose first element is the
    // version as a positive fixint, so the tag can be read before the shape is known.
    match bytes {
        [0x90..=0x9f, version @ 0x00..=0x7f, ..] if *version == BLOB_VERSION => {}
        [0x90..=0x9f, version @ 0x00..=0x7f, ..] => {
            return Err(BlobError::UnknownVersion(*version));
        }
        _ => return Err(BlobError::Malformed("no version tag".into())),
    }
    let record: V2 =
        rmp_serde::from_slice(bytes).map_err(|e| BlobError::Malformed(e.to_string()))?;
    if record.arms.len() != modules {
        return Err(BlobError::Inconsistent(format!(
            "{} arms for {modules} modules",
            record.arms.len()
        )));
    }
    let arms = record
        .arms
        .into_iter()
        .map(|(pulls, answered)| Arm { pulls, answered })
        .collect();
    let arms = Arms::from_parts(arms)
        .ok_or_else(|| BlobError::Inconsistent("negative or non-finite arm".into()))?;
    let hist = CallHistogram::from_bins(record.hist)
        .ok_or_else(|| BlobError::Inconsistent("bad call histogram".into()))?;
    let (current, recent_served, recent_succeeded, early, probing, failed, since, levels) =
        record.budget;
    let current = match current {
        -1 => None,
        c => Some(u32::try_from(c).map_err(|_| BlobError::Inconsistent("bad budget".into()))?),
    };
    let levels = levels
        .into_iter()
        .map(|(l, served, succeeded, paired, kept)| {
            (
                l,
                Level {
                    served,
                    succeeded,
                    paired,
                    kept,
                },
            )
        })
        .collect();
    let budget = BudgetState::from_parts(
        current,
        (recent_served, recent_succeeded),
        early,
        (probing, failed, since),
        levels,
    )
    .ok_or_else(|| BlobError::Inconsistent("bad budget evidence".into()))?;
    Ok(Decoded { arms, hist, budget })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arms::Answerer;
    use crate::budget::{BudgetConfig, BudgetObservation};
    use proptest::prelude::*;

    #[test]
    fn round_trips() {
        let mut arms = Arms::new(3);
        arms.record(&[0, 2], true, Answerer::LastCall);
        let mut hist = CallHistogram::default();
        hist.add(2);
        hist.add(5);
        let mut budget = BudgetState::default();
        for calls in [3, 1, 4, 1, 5] {
            budget.observe(
                BudgetObservation {
                    served: Some(4),
                    calls,
                    correct: calls < 5,
                    answered_at: None,
                },
                &BudgetConfig::default(),
                0.995,
            );
        }
        let bytes = encode(&arms, &hist, &budget);
        let decoded = decode(&bytes, 3).unwrap();
        assert_eq!(decoded, Decoded { arms, hist, budget });
        assert!(matches!(decode(&bytes, 4), Err(BlobError::Inconsistent(_))));
    }

    #[test]
    fn another_version_is_a_typed_error() {
        // A version-1 BLOB (the layout before the closed-loop policy).
        let bytes = rmp_serde::to_vec(&(
            1u8,
            0.0f64,
            Vec::<(f64, f64)>::new(),
            Vec::<(u32, f64)>::new(),
        ))
        .unwrap();
        assert_eq!(decode(&bytes, 0), Err(BlobError::UnknownVersion(1)));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256), modules in 0usize..8) {
            let _ = decode(&bytes, modules);
        }

        /// Mutating any byte of a valid BLOB either decodes to a consistent state or is a
        /// typed error, never a panic.
        #[test]
        fn corrupting_a_valid_blob_is_never_a_panic(at in 0usize..200, byte in any::<u8>()) {
            let mut arms = Arms::new(2);
            arms.record(&[0, 1], true, Answerer::Module(1));
            let mut hist = CallHistogram::default();
            hist.add(2);
            let budget = BudgetState::starting_at(2);
            let mut bytes = encode(&arms, &hist, &budget);
            let i = at % bytes.len();
            bytes[i] = byte;
            let _ = decode(&bytes, 2);
        }
    }
}
