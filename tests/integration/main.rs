//! Integration suite: stores on real files: reopen after close, concurrency, crash safety.
mod usage_quota;
mod usage_reopen;
mod policy_store;
mod policy_sizes;
