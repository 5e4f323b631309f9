//! Admin suite: every admin endpoint over a real socket, success and error paths.
mod http_basics;
mod modules;
mod credentials;
mod routing;
mod restart;
mod billing;
mod dev_mode;
mod otc;
mod openapi;
mod binary;
mod robustness;
