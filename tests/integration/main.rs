//! Integration suite: stores on real files: reopen after close, concurrency, crash safety.
mod policy_sizes;
mod policy_store;
mod usage_quota;
mod usage_reopen;
