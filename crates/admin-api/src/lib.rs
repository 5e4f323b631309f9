//! The orchestrator's admin API: an axum `Router` built by `app(state)`, served by the
//! `admin-api` binary. Owns no business rules that belong to the stores.
#![deny(missing_docs)]
