//! Run-unit metering for the orchestrator's tool calls, backend-neutral: the [`UsageBackend`]
//! trait, its model types and input rules, [`UsageError`] and period math. Knows nothing of
//! HTTP, of the policy, and no storage backend: the SQLite implementation is the
//! `usage-store-sqlite` crate. (The cost signal `r_cost` that a request's metered total feeds is
//! policy vocabulary: otc-policy's `CostNormalizer`.)
//!
//! * Run-units are `f64` at the API and integer micro-units in storage, so sums and quota
//!   checks are exact (see [`model`]).
//! * `conformance` (feature `conformance`) is the behaviour every backend must show, written
//!   once against the trait; each backend's tests run it.
#![deny(missing_docs)]

mod backend;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod model;
pub mod period;

pub use backend::{DEFAULT_MAX_FUTURE_SKEW_MS, MAX_BATCH_EVENTS, QueuedMeter, UsageBackend};
pub use error::{BoxError, UsageError};
pub use model::{
    HistoryBucket, HistoryPage, HistoryQuery, HistoryRange, MeterEvent, MeterOutcome, ModuleTotal,
    Quota, QuotaKind, QuotaState, RequestUsage, Usage, ValidEvent,
};
pub use period::{BucketSize, PeriodWindow, QuotaPeriod};
