//! The tool-call policy of the orchestrator: the OTC reward and the store that learns, per
//! (intent class, module set), how many tool calls a request should make.
//!
//! Pure modules, which do no I/O and know nothing of SQL or HTTP: [`reward`] (the OTC reward),
//! [`estimate`] (the optimal call count `n`), [`arms`] (per-module bandit arms), [`state`] (how a
//! trajectory updates a combination) and [`trajectory`] (input and validation). The SQLite side
//! lives in [`store`] behind the [`PolicyBackend`] trait. [`json_input`] names the member to
//! blame when a trajectory written as JSON does not parse. [`synthetic`] generates trajectories
//! from a world with a known truth, for tests, benches and demos.
#![deny(missing_docs)]

pub mod arms;
pub mod backend;
pub mod config;
pub mod error;
pub mod estimate;
pub mod json_input;
pub mod reward;
pub mod state;
pub mod store;
pub mod synthetic;
pub mod trajectory;

pub use backend::{BatchReport, IngestOutcome, PolicyBackend, RebuildReport, RewardEvent};
pub use config::PolicyConfig;
pub use error::{ConflictItem, InvalidItem, PolicyError};
pub use estimate::EstimatorConfig;
pub use reward::{RewardConfig, RewardError, Score, composite, r_tool, score};
pub use state::{ArmView, Checkpoint, Recommendation, RecommendationSource};
pub use store::PolicyStore;
pub use trajectory::{ModuleSet, Trajectory, ValidationError};
