//! [`PolicyError`]: every way a policy-store operation can fail, naming no backend's types: a
//! backend's own failure is [`PolicyError::StorageFull`] or [`PolicyError::Storage`], with the
//! backend's error as the `source()`.

use otc_policy::ValidationError;
use serde::Serialize;

/// A backend's own error, carried as the `source()` of [`PolicyError::Storage`] and
/// [`PolicyError::StorageFull`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One rejected item of a batch: its position in the input and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvalidItem {
    /// Index of the item in the batch.
    pub index: usize,
    /// Why it was rejected.
    pub error: ValidationError,
    /// The error as a sentence.
    pub message: String,
}

impl InvalidItem {
    /// Describes the rejection of item `index`.
    pub fn new(index: usize, error: ValidationError) -> Self {
        Self {
            index,
            message: error.to_string(),
            error,
        }
    }
}

/// One item of a batch whose request id is already stored (or came earlier in the batch) with
/// different content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictItem {
    /// Index of the item in the batch.
    pub index: usize,
    /// The request id it shares with the stored trajectory.
    pub request_id: String,
    /// The fields whose values differ from the stored ones, in declaration order
    /// (`intent`, `modules`, `calls`, `run_units`, `correct`, `latency_ms`, `timestamp_ms`,
    /// `decision_id`, `answered_by`, `answered_at`).
    pub fields: Vec<&'static str>,
}

impl std::fmt::Display for ConflictItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "request id {:?} is already stored with different content (differs in: {})",
            self.request_id,
            self.fields.join(", ")
        )
    }
}

// A note on the messages below: a variant either shows its cause in its own text or exposes it
// as `source()`, never both, so `{err:#}` (anyhow's chain) prints every cause once. The variants
// that carry a cause in their text therefore have hand-written `From` impls (thiserror's
// `#[from]` would also make it the source), and the HTTP layer's `to_string()` keeps the detail.

/// Errors of a policy store. Each backend maps its storage errors to `Storage` or
/// `StorageFull` at its boundary; every other variant means the same for every backend.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A trajectory or request failed validation; nothing was written.
    #[error("invalid input: {0}")]
    Invalid(ValidationError),
    /// Some items of a batch failed validation; nothing of the batch was written.
    #[error("invalid batch: {} item(s) rejected, first at index {}: {}", .0.len(), .0[0].index, .0[0].error)]
    InvalidBatch(Vec<InvalidItem>),
    /// The request id is already stored with different content (a client bug, not a retry: an
    /// identical resubmission is a `Duplicate`); nothing was written.
    #[error("{0}")]
    Conflict(ConflictItem),
    /// Items of a batch conflict with stored trajectories (or with earlier items of the same
    /// batch); nothing of the batch was written. Lists every conflicting item.
    #[error("conflicting batch: {} item(s) reuse a stored request id with different content, first at index {}: {}", .0.len(), .0[0].index, .0[0])]
    ConflictBatch(Vec<ConflictItem>),
    /// The configuration is out of range (e.g. a decay outside `(0, 1]`).
    #[error("invalid policy config: {0}")]
    InvalidConfig(String),
    /// A stored checkpoint's `arm_weights` BLOB could not be decoded; `rebuild` repairs it.
    #[error(
        "checkpoint of intent {intent:?} / modules {modules:?} is corrupt ({reason}); run rebuild"
    )]
    CorruptCheckpoint {
        /// Intent of the checkpoint.
        intent: String,
        /// Canonical module set of the checkpoint.
        modules: String,
        /// What failed.
        reason: String,
    },
    /// The decision log's id counter reached its maximum (only corrupt or hand-edited data gets
    /// there); no decision can be logged.
    #[error("decision ids are exhausted: the decision log's counter is at its maximum")]
    DecisionIdsExhausted,
    /// A stored trajectory row cannot be read back (its calls do not fit its module set).
    #[error("trajectory {request_id:?} is corrupt: {reason}")]
    CorruptTrajectory {
        /// Request id of the row.
        request_id: String,
        /// What failed.
        reason: String,
    },
    /// Two different module sets share a 64-bit fingerprint (astronomically unlikely).
    #[error("module sets {existing:?} and {new:?} share a fingerprint")]
    FingerprintCollision {
        /// The set already stored.
        existing: String,
        /// The set being stored.
        new: String,
    },
    /// An off-policy evaluation was refused (no decision in scope, a log that does not support
    /// the candidate), its candidate config is out of range, or the log could not be replayed.
    #[error(transparent)]
    Evaluation(#[from] otc_policy::evaluate::EvaluateError),
    /// The reward could not be computed (an input escaped validation).
    #[error(transparent)]
    Reward(#[from] otc_policy::RewardError),
    /// The cost could not be normalised (an input escaped validation).
    #[error(transparent)]
    Cost(#[from] otc_policy::CostError),
    /// The storage is full (a full disk or database); nothing was written. Retrying after
    /// space is freed can succeed.
    #[error("policy storage is full")]
    StorageFull(#[source] BoxError),
    /// The storage failed otherwise (cannot be opened, is damaged, was written by a newer
    /// build, I/O error).
    #[error("policy storage failed")]
    Storage(#[source] BoxError),
    /// Writing an export failed.
    #[error("export: {0}")]
    Io(std::io::Error),
}

impl From<ValidationError> for PolicyError {
    fn from(err: ValidationError) -> Self {
        Self::Invalid(err)
    }
}

impl From<std::io::Error> for PolicyError {
    fn from(err: std::io::Error) -> Self {
        Self::Io(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    /// Every message of `err`'s chain, outermost first, as `{err:#}` in anyhow prints them.
    fn chain(err: &(dyn Error + 'static)) -> Vec<String> {
        let mut messages = Vec::new();
        let mut next = Some(err);
        while let Some(e) = next {
            messages.push(e.to_string());
            next = e.source();
        }
        messages
    }

    /// Regression: `Invalid` showed its cause in its text and as its source, so
    /// `otc recommend --modules 'a b'` printed the reason twice (usage-store's `Storage` the
    /// same; the storage variants here keep the backend's error as the source only).
    #[test]
    fn each_cause_is_printed_once() {
        let errors = [
            PolicyError::from(ValidationError::BadModuleSet("must not be empty".into())),
            PolicyError::from(std::io::Error::other("disk full")),
            PolicyError::from(otc_policy::RewardError::InvalidCost(2.0)),
            PolicyError::Storage(Box::new(std::io::Error::other(
                "database schema version 9 is newer than this build knows (2)",
            ))),
            PolicyError::StorageFull(Box::new(std::io::Error::other("database or disk is full"))),
        ];
        let errors: Vec<&(dyn Error + 'static)> =
            errors.iter().map(|e| e as &(dyn Error + 'static)).collect();
        for err in errors {
            let messages = chain(err);
            for (i, outer) in messages.iter().enumerate() {
                for inner in &messages[i + 1..] {
                    assert!(!outer.contains(inner.as_str()), "{messages:?}");
                }
            }
            assert!(
                messages[0].len() > 10,
                "the text keeps the detail: {messages:?}"
            );
        }
    }
}
