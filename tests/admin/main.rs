//! Admin suite: every admin endpoint over a real socket, success and error paths.
mod billing;
mod binary;
mod credentials;
mod dev_mode;
mod http_basics;
mod modules;
mod openapi;
mod otc;
mod otc_decisions;
mod regression;
mod restart;
mod robustness;
mod routing;
