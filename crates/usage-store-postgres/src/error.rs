//! How PostgreSQL's errors become the backend-neutral [`UsageError`]: a full database is
//! [`UsageError::StorageFull`], anything else [`UsageError::Storage`], the driver's or
//! postgres-kit's error kept as the `source()`.
//!
//! The orphan rule forbids `impl From<postgres::Error> for UsageError` here, so the store's
//! internals return [`Fail`], which converts from both and into [`UsageError`] at the trait's
//! boundary (`postgres_kit`'s transactions need `From<postgres::Error>` of their body's error).

use postgres_kit::{ErrorClass, KitError};
use usage_store::UsageError;

/// A driver error as the store's error.
pub(crate) fn storage(err: postgres::Error) -> UsageError {
    match ErrorClass::of(&err) {
        ErrorClass::StorageFull => UsageError::StorageFull(Box::new(err)),
        _ => UsageError::Storage(Box::new(err)),
    }
}

/// A postgres-kit failure (connecting, pooling, migrating) as the store's error.
pub(crate) fn kit(err: KitError) -> UsageError {
    match err {
        KitError::Postgres(e) => storage(e),
        other => UsageError::Storage(Box::new(other)),
    }
}

/// Whether `err` is the server refusing a row because no partition holds its month
/// (`23514`, "no partition of relation ... found for row"): the row is not written anywhere,
/// the statement fails, and the store's cache of known months is stale.
pub(crate) fn no_partition(err: &UsageError) -> bool {
    let UsageError::Storage(source) = err else {
        return false;
    };
    source
        .downcast_ref::<postgres::Error>()
        .and_then(postgres::Error::as_db_error)
        .is_some_and(|db| {
            *db.code() == postgres::error::SqlState::CHECK_VIOLATION
                && db.message().starts_with("no partition of relation")
        })
}

/// The error of the store's internals: a [`UsageError`] that `?` also makes from the driver's.
#[derive(Debug)]
pub(crate) struct Fail(pub(crate) UsageError);

impl From<UsageError> for Fail {
    fn from(e: UsageError) -> Self {
        Self(e)
    }
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
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
    fn kit_errors_are_storage_errors_with_their_source() {
        let newer = kit(KitError::NewerSchema {
            schema: "otc_usage".into(),
            found: 3,
            known: 1,
        });
        assert!(matches!(newer, UsageError::Storage(_)), "{newer:?}");
        assert_eq!(newer.to_string(), "usage storage failed");
        let cause = newer.source().unwrap().to_string();
        assert!(cause.contains("newer than this build"), "{cause}");
    }
}
