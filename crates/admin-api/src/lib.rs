//! The orchestrator's admin API: an axum `Router` built by [`app`], served by the
//! `admin-api` binary. Owns no business rules that belong to the stores.
//!
//! Map: [`router`] assembles the endpoint groups ([`health`], [`modules`], [`credentials`],
//! [`routing`], ...) and the layers; [`state`] holds the stores (as their traits) and runs store
//! calls on the blocking pool; [`stores`] is where store errors become HTTP; [`error`] renders
//! every failure as RFC 9457 problem+json and [`extract`] makes extractor rejections do the
//! same; [`auth`] checks the bearer token; [`bootstrap`] creates the data directory's files on
//! first start; [`page`] is the one offset/limit parser of the version and draft lists.
#![deny(missing_docs)]

pub mod auth;
pub mod billing;
pub mod bootstrap;
pub mod config;
pub mod credentials;
pub mod crypto;
pub mod database;
pub mod dev;
pub mod error;
pub mod extract;
pub mod files;
pub mod health;
pub mod metrics;
pub mod modules;
pub mod observe;
pub mod openapi;
pub mod otc;
pub mod page;
pub mod precondition;
pub mod reply;
pub mod retention;
pub mod router;
pub mod routing;
pub mod server;
pub mod start_error;
pub mod state;
pub mod stores;

pub use config::ServerConfig;
pub use error::{AppError, Problem};
pub use router::{app, openapi_document};
pub use start_error::StartError;
pub use state::AppState;
