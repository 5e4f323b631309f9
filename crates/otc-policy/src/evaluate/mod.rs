//! Off-policy evaluation of a candidate [`crate::PolicyConfig`] on the logged traffic: what the
//! candidate would have earned (composite reward, accuracy, tool calls per request) on the
//! requests the current policy served, before it is rolled out. Pure: a store feeds the log
//! to a [`Replay`] in the order its policy saw it; [`Replay::finish`] gives the report.
//!
//! # How a candidate is replayed
//!
//! The log is folded twice through the same [`crate::state::CombinationState::observe`] the
//! stores use: once under the **logging** configs (each trajectory under the config it was
//! scored with, so the replayed states are the checkpoints each decision was taken from) and
//! once under the **candidate**. At every logged decision both are asked, through the same
//! [`crate::advice`] functions a store decides with, for their whole distribution over
//! actions, an action being the served (budget, first module) pair:
//!
//! * the logging distribution `μ` must give the logged action the logged propensity (a
//!   mismatch means the log was not produced the way it is being replayed, e.g. a rebuild
//!   under another config: counted in [`EvaluationReport::replay_mismatches`]), and says which
//!   actions the log could have taken (its support);
//! * the candidate's `π` gives the importance weight `π(a)/μ(a)` of the logged action, and the
//!   probability it puts on actions outside `μ`'s support, which no estimator can see.
//!
//! A decision whose trajectory arrived is one round of [`crate::offpolicy`]'s estimators (IPS,
//! SNIPS and doubly robust). The candidate's state is built from the logged traffic, not from
//! the traffic it would itself have caused: the standard replay approximation for a learning
//! policy, measured against closed-loop truth by the simulator (see ARCHITECTURE.md).
//!
//! Whether a probe was in flight (see [`crate::advice::decide`]) is part of a decision's
//! context and is replayed from the logged decisions, for both policies.
//!
//! # Rewards
//!
//! The reward of a round is the composite reward logged with its trajectory: a candidate that
//! changes the reward's weights is judged by the yardstick the traffic was scored with, so the
//! two values are comparable. Accuracy is the share of correct requests and calls the mean
//! tool calls per request.

mod ids;
mod log;
mod model;
mod path;
mod replay;
mod report;

pub use ids::{IdHasher, IdMap};
pub use log::MemoryLog;
pub use replay::Replay;
pub use report::{
    EvaluationReport, MAX_UNSUPPORTED, Metric, Outcomes, RELIABLE_ESS, UnsupportedMass,
};

use serde::{Deserialize, Serialize};

/// Which logged decisions to evaluate on. Every trajectory is still folded (a combination's
/// state depends on its whole history and on its siblings); only the decisions in scope become
/// rounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scope {
    /// Only decisions of this intent.
    pub intent: Option<String>,
    /// Only decisions of this module set (any order; compared as a set).
    pub modules: Option<Vec<String>>,
    /// Only decisions taken at or after this time, Unix milliseconds.
    pub since_ms: Option<i64>,
    /// Only decisions taken before this time, Unix milliseconds.
    pub until_ms: Option<i64>,
}

/// One logged decision as the replay reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoggedDecision {
    /// Its id (every random draw of the decision derives from it).
    pub decision_id: u64,
    /// Its combination, as returned by [`Replay::combination`].
    pub combination: usize,
    /// The budget served.
    pub budget: u32,
    /// The policy's budget at the time.
    pub policy_budget: u32,
    /// Whether it explored one call less (a probe: holds back the next probe while in flight).
    pub explored_down: bool,
    /// The module served first, as its index in the canonical set; `None` for a budget of 0.
    pub first_module: Option<usize>,
    /// The logged propensity of (budget, first module).
    pub propensity: f64,
    /// When it was decided, Unix milliseconds.
    pub decided_ms: i64,
    /// The config it was decided under, as an index into the logging configs given to
    /// [`Replay::new`].
    pub config: usize,
}

/// One logged trajectory as the replay reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoggedTrajectory<'a> {
    /// Its combination, as returned by [`Replay::combination`].
    pub combination: usize,
    /// Its calls, each a module's index in the canonical set.
    pub calls: &'a [u8],
    /// Whether the answer was correct.
    pub correct: bool,
    /// Metered run-units (the candidate's cost normalisation turns them into `r_cost`).
    pub run_units: f64,
    /// When the request completed, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The decision it answers, if it named one.
    pub decision_id: Option<u64>,
    /// The budget its decision served.
    pub served: Option<u32>,
    /// The policy's budget its decision was taken at.
    pub policy_budget: Option<u32>,
    /// Whether its decision explored the module order.
    pub order_explored: bool,
    /// The module whose result answered, as an index, if said.
    pub answered_by: Option<u8>,
    /// Which call answered (1-based; 0 no tool), if said.
    pub answered_at: Option<u32>,
    /// The composite reward it was logged with.
    pub composite: f64,
    /// The config it was scored under, as an index into the logging configs.
    pub config: usize,
}

/// Why the replay could not go on, or no estimate can be given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvaluateError {
    /// The candidate config is out of range.
    #[error("invalid candidate config: {0}")]
    InvalidConfig(String),
    /// The scope names an intent or module set no request could have (a name too long, a
    /// module listed twice, an empty set).
    #[error("invalid scope: {0}")]
    InvalidScope(String),
    /// An event names a combination or config index the replay was not given.
    #[error("the log is inconsistent: {0}")]
    Inconsistent(String),
    /// A trajectory could not be folded (its reward could not be computed).
    #[error("trajectory could not be replayed: {0}")]
    Fold(String),
    /// No estimate: the log is empty in scope, or gives no weight to the candidate.
    #[error(transparent)]
    Refused(#[from] crate::offpolicy::OffPolicyError),
    /// No estimate: the candidate puts more than [`MAX_UNSUPPORTED`] of its probability per
    /// round on actions the log could not have taken; the message says where it went.
    #[error("{}", mass.refusal(*rounds, *max_mass, changed))]
    Unsupported {
        /// Rounds where it puts any probability there.
        rounds: usize,
        /// The most it puts there in one round.
        max_mass: f64,
        /// Where it went, as the mean per round.
        mass: UnsupportedMass,
        /// The candidate's budget knobs that differ from a logging config's, as
        /// `name logged -> candidate`.
        changed: Vec<String>,
    },
}
