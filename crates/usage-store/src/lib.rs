//! Run-unit metering for the orchestrator's tool calls: usage, history, quotas, and the
//! normalised cost signal `r_cost` of the OTC reward. Knows nothing of HTTP.
#![deny(missing_docs)]

pub mod cost;

pub use cost::{CostError, CostNormalizer};
