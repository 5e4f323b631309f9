//! Integration suite: stores on real files: reopen after close, concurrency, crash safety
//! (SIGKILL while several threads write, so that group commits are interrupted).
//! (The stores' reopen and concurrency checks are their conformance suites, run on SQLite files
//! by `crates/usage-store-sqlite/tests/conformance.rs` and
//! `crates/policy-store-sqlite/tests/conformance.rs`.)
mod advice_cache;
mod policy_sizes;
mod policy_store;
mod usage_store;
