//! Helpers shared by the cross-crate suites (fixtures, temporary data directories, servers).
//! The suites themselves are the `[[test]]` targets of this package, one binary each.

pub mod admin;
pub mod schema;

/// The current time as Unix milliseconds UTC (the clock the servers and stores read too).
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
