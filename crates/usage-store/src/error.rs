//! The one error type of the usage store, the same for every backend: no variant names a
//! backend's types. How each becomes an HTTP answer is the admin API's (`stores.rs`), stated
//! there only.

/// Why a usage-store operation failed. Every rejected write leaves the database unchanged.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// An input field is malformed (empty tenant, NaN or out-of-range run-units, a timestamp
    /// in the future, a bad history range, ...).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Name of the offending field, as spelled in the serde types.
        field: &'static str,
        /// Human-readable explanation, safe to show to the caller.
        reason: String,
    },
    /// A hard quota would be exceeded by this event; nothing was recorded.
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
        /// so a caller can say when to retry.
        period_end_ms: i64,
    },
    /// The idempotency key was already used by this tenant for a *different* event: a client
    /// bug, not a retry. Nothing was recorded.
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
    /// The backend's storage is full (a full disk or database): writes fail until space is
    /// freed, reads keep working. The backend's own error is the `source()`.
    #[error("usage storage is full")]
    StorageFull(#[source] BoxError),
    /// Any other failure of the backend (I/O, corruption, a lock timeout, a schema from a newer
    /// build). Internal: its text is for logs, not for clients. The backend's own error is the
    /// `source()`, so a printer walking the chain shows it once.
    #[error("usage storage failed")]
    Storage(#[source] BoxError),
}

/// A backend's own error, carried as the `source()` of [`UsageError::Storage`] and
/// [`UsageError::StorageFull`] so that this crate names no backend's types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl UsageError {
    /// An [`UsageError::InvalidInput`] for `field`: every backend rejects bad input with the
    /// same error.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}
