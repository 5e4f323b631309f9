//! Sorting the server's errors by what a store does about them, by SQLSTATE.

use postgres::error::SqlState;

/// What a PostgreSQL error means to a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// `53100 disk_full`: the server cannot extend a file. Writes fail until space is freed
    /// while reads keep working, which is what the stores' `StorageFull` errors say (HTTP 503
    /// with `Retry-After`). Deliberately not `53200 out_of_memory` or `53300
    /// too_many_connections`: those pass by themselves and say nothing about the storage;
    /// they are [`ErrorClass::Other`] like any other failure of the server.
    StorageFull,
    /// `23505 unique_violation`: a row with the same key exists (an idempotency key, a version
    /// number another writer appended first).
    UniqueViolation,
    /// `40001 serialization_failure` or `40P01 deadlock_detected`: the transaction lost a race
    /// and was rolled back; running it again from the start may succeed.
    RetryableConflict,
    /// Anything else, and every error that is not the server's (I/O, a closed connection).
    Other,
}

impl ErrorClass {
    /// The class of a driver error.
    pub fn of(err: &postgres::Error) -> Self {
        err.code().map_or(Self::Other, Self::of_code)
    }

    /// The class of a SQLSTATE.
    pub fn of_code(code: &SqlState) -> Self {
        if *code == SqlState::DISK_FULL {
            Self::StorageFull
        } else if *code == SqlState::UNIQUE_VIOLATION {
            Self::UniqueViolation
        } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            Self::RetryableConflict
        } else {
            Self::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_fall_into_their_classes() {
        let class = |code: &str| ErrorClass::of_code(&SqlState::from_code(code));
        assert_eq!(class("53100"), ErrorClass::StorageFull);
        assert_eq!(class("23505"), ErrorClass::UniqueViolation);
        assert_eq!(class("40001"), ErrorClass::RetryableConflict);
        assert_eq!(class("40P01"), ErrorClass::RetryableConflict);
        for other in [
            "53200", "53300", "23503", "57014", "55P03", "42P01", "XX000",
        ] {
            assert_eq!(class(other), ErrorClass::Other, "{other}");
        }
    }
}
