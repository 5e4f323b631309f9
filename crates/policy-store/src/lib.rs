//! The policy store's interface, backend-neutral: the [`PolicyBackend`] trait, the results of
//! its operations, [`PolicyError`], and the `conformance` suite (feature `conformance`) that
//! every backend runs. Knows nothing of SQL, of HTTP, or of any storage backend: the SQLite
//! implementation is the `policy-store-sqlite` crate (atuin's layout: one trait crate with its
//! types, errors and story test; one crate per backend, so a second backend never pulls in the
//! first one's driver).
//!
//! The policy itself (scoring, the budget, decisions, the checkpoint bytes) is the pure
//! `otc-policy` crate; a backend keeps its log and states and calls into it, so every backend
//! learns the same policy from the same log.
#![deny(missing_docs)]

mod backend;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod replay;

pub use backend::{
    BackendAdvisor, BatchReport, CheckpointPage, CurrentAdvice, IngestOutcome, PolicyBackend,
    QueuedIngest, RebuildReport, RewardEvent,
};
pub use error::{BoxError, ConflictItem, InvalidItem, PolicyError};
