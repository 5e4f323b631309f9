//! How SQLite's errors become the backend-neutral [`UsageError`]: a full disk is
//! [`UsageError::StorageFull`], anything else [`UsageError::Storage`], the SQLite error kept as
//! the `source()`.
//!
//! The orphan rule forbids `impl From<rusqlite::Error> for UsageError` here, so the store's
//! internals return [`Fail`], which converts from both and into [`UsageError`] at the trait's
//! boundary.

use sqlite_kit::KitError;
use usage_store::UsageError;

/// A [`KitError`] or `rusqlite::Error` as a [`UsageError`].
pub(crate) fn storage(e: impl Into<KitError>) -> UsageError {
    match e.into() {
        KitError::Sqlite(e) if sqlite_kit::is_disk_full(&e) => UsageError::StorageFull(Box::new(e)),
        KitError::Sqlite(e) => UsageError::Storage(Box::new(e)),
        other => UsageError::Storage(Box::new(other)),
    }
}

/// The error of the store's internals: a [`UsageError`] that `?` can also make from SQLite's
/// errors (which `sqlite_kit::write_tx` requires of its body's error type).
#[derive(Debug)]
pub(crate) struct Fail(pub(crate) UsageError);

impl From<UsageError> for Fail {
    fn from(e: UsageError) -> Self {
        Self(e)
    }
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Self(storage(e))
    }
}

impl From<KitError> for Fail {
    fn from(e: KitError) -> Self {
        Self(storage(e))
    }
}

impl From<Fail> for UsageError {
    fn from(f: Fail) -> Self {
        f.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn a_full_disk_is_storage_full_and_the_cause_is_the_source() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let err = storage(full);
        assert!(matches!(err, UsageError::StorageFull(_)), "{err:?}");
        assert_eq!(err.to_string(), "usage storage is full");
        assert!(err.source().is_some());

        let newer = storage(KitError::NewerSchema { found: 9, known: 1 });
        assert!(matches!(newer, UsageError::Storage(_)), "{newer:?}");
        assert_eq!(newer.to_string(), "usage storage failed");
        let cause = newer.source().unwrap().to_string();
        assert!(cause.contains("newer than this build"), "{cause}");
    }
}
