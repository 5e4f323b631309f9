//! The tool-call policy of the orchestrator: the OTC reward and the store that learns, per
//! (intent class, module set), how many tool calls a request should make.
//!
//! Pure modules, which do no I/O and know nothing of SQL or HTTP: [`reward`] (the OTC reward),
//! [`estimate`] (OTC's optimal call count `n`, used to score), [`budget`] (the budget a
//! combination is served, learnt in closed loop), [`arms`] (which module answers), [`decision`]
//! (one decision: exploration, propensity, loans from sibling module sets), [`advice`] (states
//! to a recommendation or a decision), [`state`] (how a trajectory updates a combination) and
//! [`trajectory`] (input and validation). The SQLite side lives in [`store`] behind the
//! [`PolicyBackend`] trait. [`json_input`] names the member to blame when a trajectory written
//! as JSON does not parse. [`synthetic`] generates trajectories from a world with a known truth
//! and [`simulate`] runs an orchestrator that follows the policy in closed loop, for tests,
//! benches, the `otc simulate` command and demos.
#![deny(missing_docs)]

pub mod advice;
pub mod arms;
pub mod backend;
pub mod budget;
pub mod config;
pub mod decision;
pub mod error;
pub mod estimate;
pub mod json_input;
pub mod module_set;
pub mod reward;
pub mod simulate;
pub mod state;
pub mod store;
pub mod synthetic;
pub mod trajectory;

pub use advice::Decision;
pub use backend::{BatchReport, IngestOutcome, PolicyBackend, RebuildReport, RewardEvent};
pub use config::PolicyConfig;
pub use error::{ConflictItem, InvalidItem, PolicyError};
pub use estimate::EstimatorConfig;
pub use reward::{RewardConfig, RewardError, Score, composite, r_tool, score};
pub use state::{ArmView, Checkpoint, Recommendation, RecommendationSource};
pub use store::PolicyStore;
pub use trajectory::{ModuleSet, Trajectory, ValidationError};
