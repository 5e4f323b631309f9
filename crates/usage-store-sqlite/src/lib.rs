//! The SQLite backend of `usage-store`: [`SqliteUsageStore`] implements
//! [`usage_store::UsageBackend`] with an append-only event log plus hourly and daily roll-ups
//! (see [`schema`]), opened through `sqlite-kit`.
//!
//! SQLite's errors become the backend-neutral [`usage_store::UsageError`] here: a full disk is
//! `StorageFull`, any other failure `Storage`, with the SQLite error as the `source()`.
//!
//! ```no_run
//! use usage_store::{MeterEvent, UsageBackend};
//! use usage_store_sqlite::SqliteUsageStore;
//! let store = SqliteUsageStore::open("usage.db")?;
//! store.meter(&MeterEvent {
//!     tenant: "acme".into(), request_id: "req-1".into(), module: "search".into(),
//!     tool: "web_search".into(), run_units: 1.5, timestamp_ms: 1_764_000_000_000,
//!     idempotency_key: "req-1/0".into(),
//! })?;
//! assert_eq!(store.request_total("req-1")?, Some(1.5));
//! # Ok::<(), usage_store::UsageError>(())
//! ```
#![deny(missing_docs)]

mod error;
mod query;
pub mod schema;
mod store;
mod write;

pub use store::{SqliteOptions, SqliteUsageStore};
