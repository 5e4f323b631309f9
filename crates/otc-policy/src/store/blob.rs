//! The `arm_weights` BLOB of a checkpoint: msgpack (rmp-serde, compact array form) of a
//! version-tagged record holding the arms and the estimator's decayed call histogram, the
//! sufficient statistics an incremental update resumes from.
//!
//! Layout of version 1: `[1, total, [[reward_sum, pulls], ...], [[calls, weight], ...]]`.
//! Decoding never panics: malformed bytes, an unknown version or out-of-range numbers are a
//! [`BlobError`], which the store reports as a corrupt checkpoint that `rebuild` repairs.

use crate::arms::{Arm, Arms};
use crate::estimate::CallHistogram;
use serde::{Deserialize, Serialize};

/// The version this build writes.
pub const BLOB_VERSION: u8 = 1;

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

#[derive(Serialize, Deserialize)]
struct V1 {
    version: u8,
    total: f64,
    arms: Vec<(f64, f64)>,
    hist: Vec<(u32, f64)>,
}

/// Encodes arms and histogram.
pub fn encode(arms: &Arms, hist: &CallHistogram) -> Vec<u8> {
    let record = V1 {
        version: BLOB_VERSION,
        total: arms.total(),
        arms: arms
            .arms()
            .iter()
            .map(|a| (a.reward_sum, a.pulls))
            .collect(),
        hist: hist.bins().to_vec(),
    };
    // Serialising plain numbers and vectors into a Vec cannot fail.
    rmp_serde::to_vec(&record).unwrap_or_default()
}

/// Decodes a BLOB for a module set of `modules` modules.
pub fn decode(bytes: &[u8], modules: usize) -> Result<(Arms, CallHistogram), BlobError> {
    // Every version is a msgpack array (fixarray, 0x90..=0x9f) whose first element is the
    // version as a positive fixint, so the tag can be read before the shape is known.
    match bytes {
        [0x90..=0x9f, version @ 0x00..=0x7f, ..] if *version == BLOB_VERSION => {}
        [0x90..=0x9f, version @ 0x00..=0x7f, ..] => {
            return Err(BlobError::UnknownVersion(*version));
        }
        _ => return Err(BlobError::Malformed("no version tag".into())),
    }
    let record: V1 =
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
        .map(|(reward_sum, pulls)| Arm { reward_sum, pulls })
        .collect();
    let arms = Arms::from_parts(arms, record.total)
        .ok_or_else(|| BlobError::Inconsistent("negative or non-finite arm".into()))?;
    let hist = CallHistogram::from_bins(record.hist)
        .ok_or_else(|| BlobError::Inconsistent("bad call histogram".into()))?;
    Ok((arms, hist))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips() {
        let mut arms = Arms::new(3);
        arms.record(&[0, 2], 0.75);
        let mut hist = CallHistogram::default();
        hist.add(2);
        hist.add(5);
        let bytes = encode(&arms, &hist);
        assert_eq!(decode(&bytes, 3), Ok((arms, hist)));
        assert!(matches!(decode(&bytes, 4), Err(BlobError::Inconsistent(_))));
    }

    #[test]
    fn another_version_is_a_typed_error() {
        let bytes = rmp_serde::to_vec(&(
            7u8,
            0.0f64,
            Vec::<(f64, f64)>::new(),
            Vec::<(u32, f64)>::new(),
        ))
        .unwrap();
        assert_eq!(decode(&bytes, 0), Err(BlobError::UnknownVersion(7)));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256), modules in 0usize..8) {
            let _ = decode(&bytes, modules);
        }
    }
}
