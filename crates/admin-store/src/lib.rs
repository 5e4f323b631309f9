//! The admin store: the module catalogue, credentials (sealed by the caller), the versioned
//! routing config and dev-mode drafts and module versions, behind one backend-neutral trait.
//! Knows nothing of HTTP and of any database.
//!
//! * [`AdminBackend`] is the interface; `admin-store-sqlite` implements it on SQLite.
//! * The rules live here, pure, so every backend enforces the same ones inside its write
//!   transaction: [`precondition`] (`If-Match`), [`routing::plan_write`] (no-op writes,
//!   validation against the catalogue), [`module::check_disable`],
//!   [`dev::plan_publish`] and [`dev::plan_rollback`], [`manifest::validate`].
//! * [`AdminError`] is the one error; a backend's own error travels as its `source()`.
//! * With the `conformance` feature, `conformance` is the behaviour suite every backend
//!   runs.
#![deny(missing_docs)]

mod backend;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod credential;
pub mod dev;
mod error;
pub mod ident;
pub mod manifest;
pub mod module;
pub mod precondition;
pub mod redact;
pub mod routing;

pub use backend::AdminBackend;
pub use credential::{Sealed, StoredCredential};
pub use error::{AdminError, BoxError, FieldProblem};
pub use precondition::Precondition;
