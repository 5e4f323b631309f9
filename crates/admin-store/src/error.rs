//! The one error type of the admin store, the same for every backend.

/// A backend's own error, carried as the `source()` of a storage failure so that no backend
/// type appears in this crate's API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an admin-store operation failed. A rejected write leaves the store unchanged.
///
/// The messages of the client-facing variants are safe to show: they name an identifier only
/// when it is a plain name (see [`crate::ident::named`]) and never repeat a secret.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The addressed module, credential, version or draft does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The input is well-formed but breaks a rule (an invalid routing config, an empty
    /// secret, ...).
    #[error("{0}")]
    Invalid(String),
    /// A document has problems at known places (a manifest at publish); every one is listed.
    #[error("the document has {} problem(s)", .0.len())]
    InvalidFields(Vec<FieldProblem>),
    /// The write conflicts with the current state (disable a routed module, publish what is
    /// already current, edit a published draft, ...).
    #[error("{0}")]
    Conflict(String),
    /// The write requires an `If-Match` precondition and none was given.
    #[error("this write requires If-Match with the current ETag")]
    PreconditionRequired,
    /// The `If-Match` precondition names a revision that is not current.
    #[error("{0}")]
    PreconditionFailed(String),
    /// A stored row does not decode (hand-edited or damaged data). Internal.
    #[error("corrupt admin data: {0}")]
    Corrupt(String),
    /// The storage is full: writes fail until space is freed; reads keep working.
    #[error("admin storage is full")]
    StorageFull(#[source] BoxError),
    /// Any other backend failure (I/O, lock timeout, a schema from a newer build). Internal.
    #[error("admin storage failed")]
    Storage(#[source] BoxError),
}

/// One problem of a document: where, as an RFC 6901 JSON pointer (`/tools/0/name`, empty for
/// the document as a whole), and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// JSON pointer to the offending member.
    pub pointer: String,
    /// What is wrong there; never repeats the value.
    pub detail: String,
}
