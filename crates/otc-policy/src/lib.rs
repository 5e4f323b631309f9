//! The tool-call policy of the orchestrator: the OTC reward and the store that learns, per
//! (intent class, module set), how many tool calls a request should make.
//!
//! The [`reward`] module is pure arithmetic: it does no I/O and knows nothing of SQL or HTTP.
#![deny(missing_docs)]

pub mod reward;

pub use reward::{RewardConfig, RewardError, Score, composite, r_tool, score};
