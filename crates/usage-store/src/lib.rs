//! Run-unit metering for the orchestrator's tool calls, backend-neutral: the [`UsageBackend`]
//! trait, its model types and input rules, [`UsageError`], period math, and the normalised
//! cost signal `r_cost` of the OTC reward. Knows nothing of HTTP, and no storage backend: the
//! SQLite implementation is the `usage-store-sqlite` crate.
//!
//! * Run-units are `f64` at the API and integer micro-units in storage, so sums and quota
//!   checks are exact (see [`model`]).
//! * [`cost`] turns a request's metered run-units into `r_cost` in `[0, 1)`.
//! * [`conformance`] (feature `conformance`) is the behaviour every backend must show, written
//!   once against the trait; each backend's tests run it.
#![deny(missing_docs)]

mod backend;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod cost;
mod error;
pub mod model;
pub mod period;

pub use backend::{DEFAULT_MAX_FUTURE_SKEW_MS, MAX_BATCH_EVENTS, UsageBackend};
pub use cost::{CostError, CostNormalizer};
pub use error::{BoxError, UsageError};
pub use model::{
    HistoryBucket, HistoryPage, HistoryQuery, HistoryRange, MeterEvent, MeterOutcome, ModuleTotal,
    Quota, QuotaKind, QuotaState, RequestUsage, Usage, ValidEvent,
};
pub use period::{BucketSize, PeriodWindow, QuotaPeriod};
