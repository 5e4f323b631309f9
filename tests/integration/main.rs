//! Integration suite: stores on real files: reopen after close, concurrency, crash safety.
//! (The usage store's reopen and concurrency checks are `usage_store::conformance`, run on
//! SQLite files by `crates/usage-store-sqlite/tests/conformance.rs`.)
mod policy_sizes;
mod policy_store;
