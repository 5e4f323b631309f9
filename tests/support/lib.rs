//! Helpers shared by the cross-crate suites (fixtures, temporary data directories, servers).
//! The suites themselves are the `[[test]]` targets of this package, one binary each.

pub mod admin;
pub mod schema;
