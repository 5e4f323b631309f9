//! [`PolicyBackend`]: what any policy store does, independent of the database behind it, and the
//! serialisable results of its operations. The SQLite implementation is
//! [`crate::store::PolicyStore`]; a PostgreSQL one would implement the same trait and run the
//! same contract test (`tests/contract/policy_schema.rs`).

use crate::advice::Decision;
use crate::error::PolicyError;
use crate::reward::Score;
use crate::state::{Checkpoint, Recommendation};
use crate::trajectory::Trajectory;
use serde::{Deserialize, Serialize};

/// The result of ingesting one trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IngestOutcome {
    /// Stored and scored; the checkpoint was updated.
    Accepted {
        /// The request id.
        request_id: String,
        /// Its score, with every input (`n` used, `r_cost`, config).
        score: Score,
    },
    /// A trajectory with this request id was already stored; nothing changed.
    Duplicate {
        /// The request id.
        request_id: String,
    },
}

/// The result of a batch ingest (one transaction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReport {
    /// Trajectories stored.
    pub accepted: u64,
    /// Trajectories whose request id was already stored (or repeated earlier in the batch).
    pub duplicates: u64,
    /// One outcome per input item, in input order.
    pub items: Vec<IngestOutcome>,
}

/// The result of a rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildReport {
    /// Trajectories replayed.
    pub trajectories: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
}

/// A stored reward event, explained: the score as computed at ingest time and the full policy
/// config (reward weights, cost normaliser, estimator) it was computed with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardEvent {
    /// The request id of the scored trajectory.
    pub request_id: String,
    /// The score: calls, `n` used, `r_tool`, `r_correctness`, `r_cost`, composite.
    pub score: Score,
    /// The configuration in force when it was scored.
    pub policy_config: crate::config::PolicyConfig,
}

/// A durable store that learns the tool-call policy. Implementations are `Send + Sync` and take
/// `&self`, so one instance can be shared in an `Arc` by many threads.
pub trait PolicyBackend: Send + Sync {
    /// Validates, stores, scores and folds one trajectory into its checkpoint, atomically.
    /// Idempotent on `request_id`: the same trajectory again is a `Duplicate`; different
    /// content under a stored request id is [`PolicyError::Conflict`] and writes nothing.
    fn ingest(&self, trajectory: &Trajectory) -> Result<IngestOutcome, PolicyError>;

    /// Ingests many trajectories in one transaction, all or nothing: if any item is invalid
    /// nothing is written and [`PolicyError::InvalidBatch`] lists every offender; if any item
    /// reuses a request id (stored, or earlier in the batch) with different content, nothing
    /// is written and [`PolicyError::ConflictBatch`] lists every such item.
    fn ingest_batch(&self, trajectories: &[Trajectory]) -> Result<BatchReport, PolicyError>;

    /// The advice for (intent, module set), read-only: no exploration, nothing logged (use
    /// [`PolicyBackend::decide`] on the request path). Never an error for a combination never
    /// seen (see [`crate::state::RecommendationSource`]). A corrupt checkpoint of exactly this
    /// combination is [`PolicyError::CorruptCheckpoint`]; the intent fallback skips corrupt
    /// sibling checkpoints and fails only when none of the intent's checkpoints is readable.
    fn recommend(&self, intent: &str, modules: &[String]) -> Result<Recommendation, PolicyError>;

    /// Decides what to serve one request of (intent, module set) and logs the decision: the
    /// budget, the module order, whether it explored and with what propensity (see
    /// [`crate::decision`]). Never an error for a combination never seen. The request's
    /// trajectory should name the returned `decision_id`.
    fn decide(&self, intent: &str, modules: &[String]) -> Result<Decision, PolicyError>;

    /// The reward event of one trajectory, `None` if no trajectory has this request id.
    fn reward_event(&self, request_id: &str) -> Result<Option<RewardEvent>, PolicyError>;

    /// Every checkpoint, ordered by intent then module set.
    fn checkpoints(&self) -> Result<Vec<Checkpoint>, PolicyError>;

    /// Recomputes every checkpoint from the trajectory log under the current config.
    fn rebuild(&self) -> Result<RebuildReport, PolicyError>;

    /// Visits every stored trajectory in ingest order, `run_units` always set (so an export
    /// re-imports through `otc import` or the HTTP API as all duplicates); returns how many
    /// were visited.
    fn export(
        &self,
        visit: &mut dyn FnMut(&Trajectory) -> Result<(), PolicyError>,
    ) -> Result<u64, PolicyError>;
}
