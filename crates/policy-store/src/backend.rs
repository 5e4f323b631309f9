//! [`PolicyBackend`]: what any policy store does, independent of the database behind it, and the
//! serialisable results of its operations. The backends are policy-store-sqlite's
//! `SqlitePolicyStore` and policy-store-postgres's `PostgresPolicyStore`; both run the same
//! conformance suite ([`crate::conformance`], feature `conformance`).

use crate::error::PolicyError;
use otc_policy::evaluate::{EvaluationReport, Replay, Scope};
use otc_policy::simulate::Advisor;
use otc_policy::{Checkpoint, Decision, PolicyConfig, Recommendation, Score, Trajectory};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// The answer of [`PolicyBackend::recommend_when_current`]: resolves without a thread of the
/// caller's to the held answer once it is known current, or to `None` (then call
/// `recommend`). Runtime-agnostic (std's `Future`): the backend wakes it from a thread of
/// its own.
pub type CurrentAdvice = Pin<Box<dyn Future<Output = Option<Recommendation>> + Send + 'static>>;

/// The answer of [`PolicyBackend::ingest_queued`]: resolves, without a thread of the caller's,
/// to the outcome once the trajectory committed. Runtime-agnostic, like [`CurrentAdvice`].
pub type QueuedIngest = Pin<Box<dyn Future<Output = Result<IngestOutcome, PolicyError>> + Send>>;

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

impl BatchReport {
    /// A batch of one's result as the single ingest's: its only outcome, or its only refusal
    /// as `Invalid` / `Conflict` (a backend that ingests one trajectory as a batch of one
    /// answers `ingest` through this).
    pub fn into_single(report: Result<Self, PolicyError>) -> Result<IngestOutcome, PolicyError> {
        // A batch gives one outcome (or one refusal) per item, so a batch of one has one.
        match report {
            Ok(mut report) => Ok(report.items.remove(0)),
            Err(PolicyError::InvalidBatch(mut errors)) => {
                Err(PolicyError::Invalid(errors.remove(0).error))
            }
            Err(PolicyError::ConflictBatch(mut conflicts)) => {
                Err(PolicyError::Conflict(conflicts.remove(0)))
            }
            Err(other) => Err(other),
        }
    }
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
    pub policy_config: PolicyConfig,
}

/// One page of checkpoints ([`PolicyBackend::checkpoint_page`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointPage {
    /// How many checkpoints match the filter, on every page.
    pub total: u64,
    /// The page, ordered by intent then canonical module set.
    pub checkpoints: Vec<Checkpoint>,
}

/// A durable store that learns the tool-call policy. Implementations are `Send + Sync` and take
/// `&self`, so one instance can be shared in an `Arc` by many threads. Every method validates
/// its input with the pure crate's rules and folds trajectories through
/// `otc_policy::state::CombinationState::observe`, so two backends fed the same log hold the
/// same checkpoints and make the same decisions.
pub trait PolicyBackend: Send + Sync + std::fmt::Debug {
    /// Validates, stores, scores and folds one trajectory into its checkpoint, atomically.
    /// Idempotent on `request_id`: the same trajectory again is a `Duplicate`; different
    /// content under a stored request id is [`PolicyError::Conflict`] and writes nothing.
    fn ingest(&self, trajectory: &Trajectory) -> Result<IngestOutcome, PolicyError>;

    /// [`PolicyBackend::ingest`] without blocking the calling thread, for an async caller (a
    /// request handler) that would otherwise move the call to a blocking thread: the
    /// trajectory is queued for the backend's writer and the future resolves, once it
    /// committed, to what `ingest` would have returned, with every guarantee of `ingest`.
    /// Dropping the future does not withdraw the trajectory. `None` when the backend has no
    /// such writer (then call `ingest` where blocking is allowed). The default has none.
    fn ingest_queued(&self, trajectory: &Trajectory) -> Option<QueuedIngest> {
        let _ = trajectory;
        None
    }

    /// Ingests many trajectories in one transaction, all or nothing: if any item is invalid
    /// nothing is written and [`PolicyError::InvalidBatch`] lists every offender; if any item
    /// reuses a request id (stored, or earlier in the batch) with different content, nothing
    /// is written and [`PolicyError::ConflictBatch`] lists every such item.
    fn ingest_batch(&self, trajectories: &[Trajectory]) -> Result<BatchReport, PolicyError>;

    /// The advice for (intent, module set), read-only: no exploration, nothing logged (use
    /// [`PolicyBackend::decide`] on the request path). Never an error for a combination never
    /// seen (see [`otc_policy::RecommendationSource`]). A corrupt checkpoint of exactly this
    /// combination is [`PolicyError::CorruptCheckpoint`]; the intent fallback skips corrupt
    /// sibling checkpoints and fails only when none of the intent's checkpoints is readable.
    fn recommend(&self, intent: &str, modules: &[String]) -> Result<Recommendation, PolicyError>;

    /// [`PolicyBackend::recommend`]'s answer if the backend holds it in memory and knows it is
    /// current, without waiting on I/O, else `None` (then call `recommend`). For an async
    /// caller that can skip the hop to a blocking thread when the answer is at hand. Never
    /// an answer that `recommend` would not give at the same moment; invalid names are `None`
    /// (`recommend` says why). The default holds nothing.
    fn recommend_from_memory(&self, intent: &str, modules: &[String]) -> Option<Recommendation> {
        let _ = (intent, modules);
        None
    }

    /// [`PolicyBackend::recommend`]'s answer from memory, for a backend that must ask its
    /// database whether the answer it holds is still current (a server that other replicas
    /// write to): a future that waits, without blocking a thread of the caller's, for a check
    /// of the database's policy version begun after this call, and resolves to the held answer
    /// only if no checkpoint changed since it was read, else to `None` (then call `recommend`,
    /// which refreshes what is held). So, like `recommend_from_memory`, never an answer older
    /// than a write acknowledged (by any replica) before the call. `None` at once when the
    /// backend holds nothing of the kind or the names are invalid. The default holds nothing.
    fn recommend_when_current(&self, intent: &str, modules: &[String]) -> Option<CurrentAdvice> {
        let _ = (intent, modules);
        None
    }

    /// Decides what to serve one request of (intent, module set) and logs the decision: the
    /// budget, the module order, whether it explored and with what propensity (see
    /// [`otc_policy::decision`]). Never an error for a combination never seen. The request's
    /// trajectory should name the returned `decision_id`. Decision ids count up from 1 and are
    /// never given twice, not even after [`PolicyBackend::prune_decisions`]; every random draw
    /// derives from the id, so the same log and the same id give the same decision.
    fn decide(&self, intent: &str, modules: &[String]) -> Result<Decision, PolicyError>;

    /// Deletes decisions made before `before_ms` (Unix milliseconds) that no trajectory refers
    /// to: requests that never reported back. Decisions a trajectory refers to are kept for
    /// good, like the trajectory itself. Returns how many were deleted.
    fn prune_decisions(&self, before_ms: i64) -> Result<u64, PolicyError>;

    /// The reward event of one trajectory, `None` if no trajectory has this request id.
    fn reward_event(&self, request_id: &str) -> Result<Option<RewardEvent>, PolicyError>;

    /// The run-units the stored trajectory with this request id was scored with, `None` if no
    /// trajectory has this request id. Lets a caller that fills in omitted run-units from
    /// metering resolve a retry to the stored value, so metering that arrived since cannot make
    /// the retry a conflict.
    fn stored_run_units(&self, request_id: &str) -> Result<Option<f64>, PolicyError>;

    /// A page of checkpoints, ordered by intent then canonical module set: those of `intent`
    /// (every intent when `None`), skipping `offset`, at most `limit`, with how many match in
    /// all. Only the page is decoded, so a corrupt checkpoint is
    /// [`PolicyError::CorruptCheckpoint`] when it is on the page.
    fn checkpoint_page(
        &self,
        intent: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<CheckpointPage, PolicyError>;

    /// Every checkpoint, ordered by intent then module set.
    fn checkpoints(&self) -> Result<Vec<Checkpoint>, PolicyError> {
        Ok(self.checkpoint_page(None, 0, u64::MAX)?.checkpoints)
    }

    /// Recomputes every checkpoint from the trajectory log under the current config.
    fn rebuild(&self) -> Result<RebuildReport, PolicyError>;

    /// Visits every stored trajectory in ingest order, `run_units` always set (so an export
    /// re-imports through `otc import` or the HTTP API as all duplicates); returns how many
    /// were visited.
    fn export(
        &self,
        visit: &mut dyn FnMut(&Trajectory) -> Result<(), PolicyError>,
    ) -> Result<u64, PolicyError>;

    /// A cheap read that proves the storage answers, for readiness probes: no scan, nothing
    /// written. `StorageFull` or `Storage` when it does not.
    fn check_ready(&self) -> Result<(), PolicyError>;

    /// Feeds the whole decision and trajectory log to `replay` in the order the policy saw it
    /// (see [`otc_policy::evaluate::Replay`]), from one consistent snapshot: every logging config
    /// first, then each decision after the trajectories logged before it was taken. Decisions
    /// taken after `until_ms` (Unix milliseconds) may be left out.
    fn replay_log(&self, replay: &mut Replay, until_ms: Option<i64>) -> Result<(), PolicyError>;

    /// What `candidate` would have done on the logged decisions in `scope`: its composite
    /// reward, accuracy and calls per request estimated off-policy next to the logged values
    /// ([`otc_policy::evaluate`]), or why no number can be given
    /// ([`PolicyError::Evaluation`]). Read-only.
    fn evaluate(
        &self,
        candidate: &PolicyConfig,
        scope: &Scope,
    ) -> Result<EvaluationReport, PolicyError> {
        let mut replay = Replay::new(candidate.clone(), scope.clone())?;
        self.replay_log(&mut replay, scope.until_ms)?;
        Ok(replay.finish()?)
    }
}

/// Any backend as the simulator's policy ([`otc_policy::simulate::run`]): decisions and reports
/// go through the storage, so a simulation exercises the real store.
#[derive(Debug, Clone, Copy)]
pub struct BackendAdvisor<'a>(pub &'a dyn PolicyBackend);

impl Advisor for BackendAdvisor<'_> {
    type Error = PolicyError;

    fn decide(&mut self, intent: &str, modules: &[String]) -> Result<Decision, PolicyError> {
        self.0.decide(intent, modules)
    }

    fn report(&mut self, trajectory: &Trajectory) -> Result<(), PolicyError> {
        self.0.ingest(trajectory).map(drop)
    }
}
