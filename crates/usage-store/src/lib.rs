//! Run-unit metering for the orchestrator's tool calls: usage, history, quotas, and the
//! normalised cost signal `r_cost` of the OTC reward. Knows nothing of HTTP.
//!
//! * [`UsageBackend`] is the interface; [`UsageStore`] its SQLite implementation (append-only
//!   event log plus hourly and daily roll-ups, see [`schema`]).
//! * Run-units are `f64` at the API and integer micro-units in storage, so sums and quota
//!   checks are exact (see [`model`]).
//! * [`cost`] turns a request's metered run-units into `r_cost` in `[0, 1)`.
//!
//! ```no_run
//! use usage_store::{UsageBackend, UsageStore, MeterEvent};
//! let store = UsageStore::open("usage.db")?;
//! store.meter(&MeterEvent {
//!     tenant: "acme".into(), request_id: "req-1".into(), module: "search".into(),
//!     tool: "web_search".into(), run_units: 1.5, timestamp_ms: 1_764_000_000_000,
//!     idempotency_key: "req-1/0".into(),
//! })?;
//! assert_eq!(store.request_total("req-1")?, Some(1.5));
//! # Ok::<(), usage_store::UsageError>(())
//! ```
#![deny(missing_docs)]

mod backend;
pub mod cost;
mod error;
pub mod model;
pub mod period;
mod query;
pub mod schema;
mod store;
mod write;

pub use backend::UsageBackend;
pub use cost::{CostError, CostNormalizer};
pub use error::UsageError;
pub use model::{
    HistoryBucket, HistoryPage, HistoryQuery, MeterEvent, MeterOutcome, ModuleTotal, Quota,
    QuotaKind, QuotaState, RequestUsage, Usage,
};
pub use period::{BucketSize, PeriodWindow, QuotaPeriod};
pub use store::{DEFAULT_MAX_FUTURE_SKEW_MS, MAX_BATCH_EVENTS, UsageOptions, UsageStore};
