//! The tool-call policy of the orchestrator, pure: the OTC reward and everything that learns,
//! per (intent class, module set), how many tool calls a request should make, with no storage
//! and no I/O. The stores that keep it are the `policy-store` trait crate and its backends.
//!
//! [`reward`] (the OTC reward), [`cost`] (metered run-units to `r_cost`), [`estimate`] (OTC's
//! optimal call count `n`, used to score), [`budget`] (the budget a combination is served,
//! learnt in closed loop), [`arms`] (which module answers), [`decision`] (one decision:
//! exploration, propensity, loans from sibling module sets), [`advice`] (states to a
//! recommendation or a decision), [`state`] (how a trajectory updates a combination),
//! [`blob`] (the versioned bytes a backend stores a combination's state as) and [`trajectory`]
//! (input and validation). [`json_input`] names the member to blame when a trajectory written
//! as JSON does not parse. [`synthetic`] generates trajectories from a world with a known truth
//! and [`simulate`] runs an orchestrator that follows the policy in closed loop, for tests,
//! benches, the `otc simulate` command and demos. [`offpolicy`] estimates what a candidate
//! policy would have earned on logged decisions (IPS, SNIPS, doubly robust).
#![deny(missing_docs)]

pub mod advice;
pub mod arms;
pub mod blob;
pub mod budget;
pub mod config;
pub mod cost;
pub mod decision;
pub mod estimate;
pub mod evaluate;
pub mod json_input;
pub mod module_set;
pub mod offpolicy;
pub mod reward;
pub mod simulate;
pub mod state;
pub mod synthetic;
pub mod trajectory;

pub use advice::Decision;
pub use config::{PolicyConfig, RangeProblem};
pub use cost::{CostError, CostNormalizer};
pub use estimate::EstimatorConfig;
pub use reward::{RewardConfig, RewardError, Score, composite, r_tool, score};
pub use state::{ArmView, Checkpoint, Recommendation, RecommendationSource};
pub use trajectory::{ModuleSet, Trajectory, ValidationError};
