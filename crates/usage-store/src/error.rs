//! The one error type of the usage store.

use crate::cost::CostError;
use sqlite_kit::KitError;

/// Why a usage-store operation failed. Every rejected write leaves the database unchanged.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// An input field is malformed (empty tenant, NaN or out-of-range run-units, a timestamp
    /// in the future, a bad history range, ...). The HTTP layer maps it to 400/422.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Name of the offending field, as spelled in the serde types.
        field: &'static str,
        /// Human-readable explanation, safe to show to the caller.
        reason: String,
    },
    /// A hard quota would be exceeded by this event; nothing was recorded. The HTTP layer maps
    /// it to 429 (or 402).
    #[error(
        "quota exhausted for tenant {tenant:?}: limit {limit}, used {used}, requested {requested} run-units"
    )]
    QuotaExhausted {
        /// The tenant whose quota is exhausted.
        tenant: String,
        /// The quota's limit for the period, in run-units.
        limit: f64,
        /// Run-units already metered in the event's quota period.
        used: f64,
        /// Run-units the rejected event asked for.
        requested: f64,
        /// End of the exhausted quota period (exclusive), Unix ms UTC: the quota resets then,
        /// so the HTTP layer can say when to retry.
        period_end_ms: i64,
    },
    /// The idempotency key was already used by this tenant for a *different* event: a client
    /// bug, not a retry. Nothing was recorded. The HTTP layer maps it to 409.
    #[error(
        "idempotency key {idempotency_key:?} of tenant {tenant:?} was already used for a different event"
    )]
    IdempotencyConflict {
        /// The tenant.
        tenant: String,
        /// The reused key.
        idempotency_key: String,
    },
    /// A batch holds more events than [`crate::MAX_BATCH_EVENTS`]; nothing was recorded.
    #[error("batch of {len} events is larger than the maximum of {max}")]
    BatchTooLarge {
        /// Events in the rejected batch.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The cost normaliser rejected its input.
    #[error(transparent)]
    Cost(#[from] CostError),
    /// The database failed (I/O, corruption, lock timeout, newer schema). Internal: the HTTP
    /// layer maps it to 500/503 and never shows the text to clients.
    // The cause is in the text (the HTTP layer logs `to_string()`), so it is not also the
    // `source()`: `{err:#}` chains would print it twice. Hence the hand-written `From`.
    #[error("usage database error: {0}")]
    Storage(KitError),
}

impl From<KitError> for UsageError {
    fn from(e: KitError) -> Self {
        Self::Storage(e)
    }
}

impl From<rusqlite::Error> for UsageError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(KitError::Sqlite(e))
    }
}

impl UsageError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}
