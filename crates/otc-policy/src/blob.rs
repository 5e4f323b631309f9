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
//! Layout of version 4:
//!
//! ```text
//! [4,
//!  [[pulls, answered], ...],                      one per module, canonical order
//!  [[calls, weight], ...],                        OTC's histogram, sorted by calls
//!  [current | -1, recent_served, recent_succeeded, early,
//!   probing, quick_probe, failed_probes, since_probe, led_by | -1,
//!   [[level, served, succeeded, gave_up, paired, kept], ...]]]   sorted by level
//! ```
//!
//! Older versions are still read, so an upgraded store goes on serving without a rebuild:
//! version 3 (before the failures whose agent gave up were counted) with no such failures,
//! version 2 (before quick probes and the budget's path module) also with probes that are not
//! quick and its path the module that leads now ([`Arms::leader`]). Such a checkpoint was
//! learnt under an earlier budget rule, so it equals a rebuild from the log again only after
//! one (`otc rebuild`), which is worth running once after upgrading. Version 1, written before
//! the closed-loop policy, is no longer read (SQLite's migration to schema 3 drops those rows
//! and the store rebuilds them).
//!
//! Decoding never panics: malformed bytes, an unknown version or out-of-range numbers are a
//! [`BlobError`], which a store reports as a corrupt checkpoint that `rebuild` repairs.

use crate::arms::{Arm, Arms};
use crate::budget::{BudgetState, Level};
use crate::estimate::CallHistogram;
use serde::{Deserialize, Serialize};

/// The version this build writes.
pub const BLOB_VERSION: u8 = 4;

/// The oldest version this build still reads.
pub const OLDEST_READ_VERSION: u8 = 2;

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

/// `(level, served, succeeded, gave_up, paired, kept)`.
type LevelRecord = (u32, f64, f64, f64, f64, f64);
/// Version 2 and 3's level: `(level, served, succeeded, paired, kept)`.
type LevelRecordV3 = (u32, f64, f64, f64, f64);
type BudgetRecordV2 = (i64, f64, f64, f64, bool, u32, u32, Vec<LevelRecordV3>);
type BudgetRecordOf<L> = (i64, f64, f64, f64, bool, bool, u32, u32, i64, Vec<L>);
type BudgetRecord = BudgetRecordOf<LevelRecord>;
type BudgetRecordV3 = BudgetRecordOf<LevelRecordV3>;

#[derive(Serialize, Deserialize)]
struct Record<B> {
    version: u8,
    arms: Vec<(f64, f64)>,
    hist: Vec<(u32, f64)>,
    budget: B,
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

/// Marks a path module not recorded (a version-2 BLOB); never written.
const UNKNOWN_PATH: i64 = -2;

/// A version-2 record in version 3's shape.
fn upgrade_v2(old: Record<BudgetRecordV2>) -> Record<BudgetRecordV3> {
    let (current, served, succeeded, early, probing, failed, since, levels) = old.budget;
    Record {
        version: 3,
        arms: old.arms,
        hist: old.hist,
        budget: (
            current,
            served,
            succeeded,
            early,
            probing,
            false,
            failed,
            since,
            UNKNOWN_PATH,
            levels,
        ),
    }
}

/// A version-3 record in this version's shape: no failure was counted as given up.
fn upgrade_v3(old: Record<BudgetRecordV3>) -> Record<BudgetRecord> {
    let (current, served, succeeded, early, probing, quick, failed, since, led_by, levels) =
        old.budget;
    let levels = levels
        .into_iter()
        .map(|(l, served, succeeded, paired, kept)| (l, served, succeeded, 0.0, paired, kept))
        .collect();
    Record {
        version: BLOB_VERSION,
        arms: old.arms,
        hist: old.hist,
        budget: (
            current, served, succeeded, early, probing, quick, failed, since, led_by, levels,
        ),
    }
}

/// Encodes arms, histogram and budget state.
pub fn encode(arms: &Arms, hist: &CallHistogram, budget: &BudgetState) -> Vec<u8> {
    let record: Record<BudgetRecord> = Record {
        version: BLOB_VERSION,
        arms: arms.arms().iter().map(|a| (a.pulls, a.answered)).collect(),
        hist: hist.bins().to_vec(),
        budget: (
            budget.current.map_or(-1, i64::from),
            budget.recent_served,
            budget.recent_succeeded,
            budget.early,
            budget.probing,
            budget.quick_probe,
            budget.failed_probes,
            budget.since_probe,
            budget.led_by.map_or(-1, i64::from),
            budget
                .levels()
                .iter()
                .map(|(l, v)| (*l, v.served, v.succeeded, v.gave_up, v.paired, v.kept))
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
    let version = match bytes {
        [0x90..=0x9f, version @ 0x00..=0x7f, ..] => *version,
        _ => return Err(BlobError::Malformed("no version tag".into())),
    };
    fn read<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, BlobError> {
        rmp_serde::from_slice(bytes).map_err(|e| BlobError::Malformed(e.to_string()))
    }
    let record: Record<BudgetRecord> = match version {
        BLOB_VERSION => read(bytes)?,
        3 => upgrade_v3(read(bytes)?),
        OLDEST_READ_VERSION => upgrade_v3(upgrade_v2(read(bytes)?)),
        other => return Err(BlobError::UnknownVersion(other)),
    };
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
    let (
        current,
        recent_served,
        recent_succeeded,
        early,
        probing,
        quick,
        failed,
        since,
        led_by,
        levels,
    ) = record.budget;
    let current = match current {
        -1 => None,
        c => Some(u32::try_from(c).map_err(|_| BlobError::Inconsistent("bad budget".into()))?),
    };
    let led_by = match led_by {
        // A version-2 BLOB: its path is the module first now.
        UNKNOWN_PATH => arms.leader().and_then(|i| u8::try_from(i).ok()),
        -1 => None,
        m => match u8::try_from(m) {
            Ok(m) if usize::from(m) < modules => Some(m),
            _ => return Err(BlobError::Inconsistent("bad path module".into())),
        },
    };
    let levels = levels
        .into_iter()
        .map(|(l, served, succeeded, gave_up, paired, kept)| {
            (
                l,
                Level {
                    served,
                    succeeded,
                    gave_up,
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
        (probing, quick, failed, since),
        led_by,
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
        arms.record_answered(&[0, 2], Answerer::LastCall);
        let mut hist = CallHistogram::default();
        hist.add(2);
        hist.add(5);
        let mut budget = BudgetState::default();
        budget.new_regime(None, Some(2));
        for calls in [3, 1, 4, 1, 5] {
            budget.observe(
                BudgetObservation {
                    served: Some(4),
                    calls,
                    correct: calls != 1,
                    answered_at: None,
                },
                &BudgetConfig::default(),
                0.995,
            );
        }
        assert!(budget.levels().iter().any(|(_, l)| l.gave_up > 0.0));
        let bytes = encode(&arms, &hist, &budget);
        let decoded = decode(&bytes, 3).unwrap();
        assert_eq!(decoded, Decoded { arms, hist, budget });
        assert!(matches!(decode(&bytes, 4), Err(BlobError::Inconsistent(_))));
    }

    #[test]
    fn a_version_2_blob_is_read_with_its_path_the_module_first_now() {
        let levels: Vec<LevelRecordV3> = vec![(2, 10.0, 9.0, 0.0, 0.0)];
        let budget: BudgetRecordV2 = (2, 1.0, 1.0, 0.0, true, 1, 7, levels);
        let old = Record {
            version: 2,
            arms: vec![(4.0, 1.0), (5.0, 4.0)],
            hist: vec![(2, 3.0)],
            budget,
        };
        let bytes = rmp_serde::to_vec(&old).unwrap();
        let decoded = decode(&bytes, 2).unwrap();
        let budget = &decoded.budget;
        assert_eq!(budget.current, Some(2));
        assert_eq!((budget.probing, budget.quick_probe), (true, false));
        assert_eq!((budget.failed_probes, budget.since_probe), (1, 7));
        assert_eq!(budget.led_by, Some(1), "module 1 answers more often");
        assert_eq!(budget.level(2).served, 10.0);
        // Written again, it is a BLOB of this version that reads back the same.
        let again = encode(&decoded.arms, &decoded.hist, &decoded.budget);
        assert_eq!(again[1], BLOB_VERSION);
        assert_eq!(decode(&again, 2).unwrap(), decoded);
    }

    #[test]
    fn a_version_3_blob_is_read_with_no_failure_given_up() {
        let levels: Vec<LevelRecordV3> = vec![(1, 6.0, 1.0, 0.0, 0.0), (3, 10.0, 9.0, 4.0, 3.0)];
        let budget: BudgetRecordV3 = (3, 1.0, 1.0, 0.5, false, true, 0, 7, 1, levels);
        let old = Record {
            version: 3,
            arms: vec![(4.0, 1.0), (5.0, 4.0)],
            hist: vec![(2, 3.0)],
            budget,
        };
        let decoded = decode(&rmp_serde::to_vec(&old).unwrap(), 2).unwrap();
        let budget = &decoded.budget;
        assert_eq!((budget.current, budget.led_by), (Some(3), Some(1)));
        assert_eq!((budget.quick_probe, budget.since_probe), (true, 7));
        let (low, high) = (budget.level(1), budget.level(3));
        assert_eq!((low.served, low.succeeded, low.gave_up), (6.0, 1.0, 0.0));
        assert_eq!((high.gave_up, high.paired, high.kept), (0.0, 4.0, 3.0));
        let again = encode(&decoded.arms, &decoded.hist, &decoded.budget);
        assert_eq!(again[1], BLOB_VERSION);
        assert_eq!(decode(&again, 2).unwrap(), decoded);
    }

    #[test]
    fn more_failures_given_up_than_failures_is_inconsistent() {
        let with_given_up = |gave_up: f64| {
            let levels: Vec<LevelRecord> = vec![(2, 10.0, 8.0, gave_up, 0.0, 0.0)];
            let record = Record {
                version: BLOB_VERSION,
                arms: vec![(1.0, 1.0)],
                hist: Vec::new(),
                budget: (2, 0.0, 0.0, 0.0, false, false, 0, 0, -1, levels),
            };
            decode(&rmp_serde::to_vec(&record).unwrap(), 1)
        };
        // Two failures: both may have given up, not three.
        assert_eq!(with_given_up(2.0).unwrap().budget.level(2).gave_up, 2.0);
        assert!(matches!(
            with_given_up(3.0),
            Err(BlobError::Inconsistent(_))
        ));
    }

    #[test]
    fn a_path_module_outside_the_set_is_inconsistent() {
        let mut budget = BudgetState::starting_at(1);
        budget.led_by = Some(5);
        let bytes = encode(&Arms::new(2), &CallHistogram::default(), &budget);
        assert!(matches!(decode(&bytes, 2), Err(BlobError::Inconsistent(_))));
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
            arms.record_answered(&[0, 1], Answerer::Module(1));
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
