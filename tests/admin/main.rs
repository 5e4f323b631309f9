//! Admin suite: every admin endpoint over a real socket, success and error paths.
mod billing;
mod binary;
mod canary;
mod credentials;
mod dev_mode;
mod hardening;
mod http_basics;
mod metrics;
mod modules;
mod openapi;
mod otc;
mod otc_decisions;
mod regression;
mod restart;
mod robustness;
mod routing;
mod schema_conformance;
