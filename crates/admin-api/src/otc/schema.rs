//! HTTP shapes of the OTC policy endpoints. They mirror otc-policy's serde types (same JSON)
//! and add the OpenAPI schema; the `From` impls make the compiler check every field.

use otc_policy as op;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One completed request, as the orchestrator reports it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrajectoryIn {
    /// Unique id of the request; ingest is idempotent on it.
    pub request_id: String,
    /// Intent class of the request.
    pub intent: String,
    /// The module set available when the request was decided (order does not matter).
    pub modules: Vec<String>,
    /// The module of each tool call, in call order.
    pub calls: Vec<String>,
    /// Run-units the request spent. Optional: when omitted, the server fills in what the
    /// usage store metered for `request_id` (`POST /admin/billing/meter`), or 0 when nothing
    /// was metered for it; a retry of a stored trajectory keeps the value it was stored with.
    #[serde(default)]
    pub run_units: Option<f64>,
    /// Whether the answer was correct.
    pub correct: bool,
    /// End-to-end latency in milliseconds.
    pub latency_ms: f64,
    /// When the request completed, Unix ms UTC.
    pub timestamp_ms: i64,
}

impl TrajectoryIn {
    /// The store's trajectory with `run_units` resolved.
    pub fn into_trajectory(self, run_units: f64) -> op::Trajectory {
        op::Trajectory {
            request_id: self.request_id,
            intent: self.intent,
            modules: self.modules,
            calls: self.calls,
            run_units,
            correct: self.correct,
            latency_ms: self.latency_ms,
            timestamp_ms: self.timestamp_ms,
        }
    }
}

/// The reward configuration a score was computed with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RewardConfig {
    /// Weight of `r_tool·r_correctness`.
    pub alpha: f64,
    /// Weight of `r_cost`.
    pub beta: f64,
    /// The smoothing constant `c` of the `n = 0` branch.
    pub smoothing: f64,
}

/// Every input and output of one scoring.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Score {
    /// Tool calls made.
    pub calls: u32,
    /// Optimal tool calls used for scoring; null when unknown.
    pub optimal: Option<f64>,
    /// The tool reward; null when the optimum is unknown.
    pub r_tool: Option<f64>,
    /// 1 for a correct answer, 0 otherwise.
    pub r_correctness: f64,
    /// Normalised cost in `[0, 1]`.
    pub r_cost: f64,
    /// `α·r_tool·r_correctness − β·r_cost`.
    pub composite: f64,
    /// The configuration used.
    pub config: RewardConfig,
}

impl From<op::Score> for Score {
    fn from(s: op::Score) -> Self {
        Self {
            calls: s.calls,
            optimal: s.optimal,
            r_tool: s.r_tool,
            r_correctness: s.r_correctness,
            r_cost: s.r_cost,
            composite: s.composite,
            config: RewardConfig {
                alpha: s.config.alpha(),
                beta: s.config.beta(),
                smoothing: s.config.smoothing(),
            },
        }
    }
}

/// The result of ingesting one trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IngestOutcome {
    /// Stored and scored (HTTP 201 for a single trajectory).
    Accepted {
        /// The request id.
        request_id: String,
        /// Its score.
        score: Score,
    },
    /// Already stored; nothing changed (HTTP 200 for a single trajectory).
    Duplicate {
        /// The request id.
        request_id: String,
    },
}

impl From<op::IngestOutcome> for IngestOutcome {
    fn from(o: op::IngestOutcome) -> Self {
        match o {
            op::IngestOutcome::Accepted { request_id, score } => Self::Accepted {
                request_id,
                score: score.into(),
            },
            op::IngestOutcome::Duplicate { request_id } => Self::Duplicate { request_id },
        }
    }
}

/// The result of a batch (one transaction, all or nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BatchReport {
    /// Trajectories stored.
    pub accepted: u64,
    /// Trajectories already stored (or repeated earlier in the batch).
    pub duplicates: u64,
    /// One outcome per input item, in input order.
    pub items: Vec<IngestOutcome>,
}

impl From<op::BatchReport> for BatchReport {
    fn from(b: op::BatchReport) -> Self {
        Self {
            accepted: b.accepted,
            duplicates: b.duplicates,
            items: b.items.into_iter().map(Into::into).collect(),
        }
    }
}

/// One module's bandit arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArmView {
    /// Module name.
    pub module: String,
    /// Decayed mean composite reward; null if never pulled.
    pub mean: Option<f64>,
    /// Decayed pull count.
    pub pulls: f64,
    /// UCB1 score; null if never pulled (ranked first: explore).
    pub ucb: Option<f64>,
}

impl From<op::ArmView> for ArmView {
    fn from(a: op::ArmView) -> Self {
        Self {
            module: a.module,
            mean: a.mean,
            pulls: a.pulls,
            ucb: a.ucb,
        }
    }
}

/// Where a recommendation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationSource {
    /// The checkpoint of exactly this (intent, module set).
    Exact,
    /// Pooled from the intent's other module sets.
    IntentFallback,
    /// The intent was never seen.
    Unseen,
}

/// What the policy advises for a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Recommendation {
    /// Intent class.
    pub intent: String,
    /// Module set, canonical (sorted) order.
    pub modules: Vec<String>,
    /// Tool-call budget (estimated optimal n); null when unknown.
    pub budget: Option<u32>,
    /// Confidence in the budget, in `[0, 1)`.
    pub confidence: f64,
    /// Where the advice came from.
    pub source: RecommendationSource,
    /// The modules ranked best first by UCB (unexplored first).
    pub ranked: Vec<ArmView>,
}

impl From<op::Recommendation> for Recommendation {
    fn from(r: op::Recommendation) -> Self {
        Self {
            intent: r.intent,
            modules: r.modules,
            budget: r.budget,
            confidence: r.confidence,
            source: match r.source {
                op::RecommendationSource::Exact => RecommendationSource::Exact,
                op::RecommendationSource::IntentFallback => RecommendationSource::IntentFallback,
                op::RecommendationSource::Unseen => RecommendationSource::Unseen,
            },
            ranked: r.ranked.into_iter().map(Into::into).collect(),
        }
    }
}

/// A stored checkpoint of one (intent, module set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Checkpoint {
    /// Intent class.
    pub intent: String,
    /// Module set, canonical order.
    pub modules: Vec<String>,
    /// Estimated optimal tool-call count; null until a correct trajectory exists.
    pub optimal_n: Option<u32>,
    /// Trajectories observed.
    pub samples: u64,
    /// Correct trajectories observed.
    pub correct_samples: u64,
    /// Confidence in `optimal_n`, in `[0, 1)`.
    pub confidence: f64,
    /// Arms ranked best first.
    pub arms: Vec<ArmView>,
    /// Latest trajectory timestamp folded in, Unix ms.
    pub updated_ms: i64,
}

impl From<op::Checkpoint> for Checkpoint {
    fn from(c: op::Checkpoint) -> Self {
        Self {
            intent: c.intent,
            modules: c.modules,
            optimal_n: c.optimal_n,
            samples: c.samples,
            correct_samples: c.correct_samples,
            confidence: c.confidence,
            arms: c.arms.into_iter().map(Into::into).collect(),
            updated_ms: c.updated_ms,
        }
    }
}

/// A page of checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckpointList {
    /// How many checkpoints exist.
    pub total: u64,
    /// This page, ordered by intent then module set.
    pub checkpoints: Vec<Checkpoint>,
}

/// The result of a rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RebuildReport {
    /// Trajectories replayed.
    pub trajectories: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
}

impl From<op::RebuildReport> for RebuildReport {
    fn from(r: op::RebuildReport) -> Self {
        Self {
            trajectories: r.trajectories,
            checkpoints: r.checkpoints,
        }
    }
}

/// The body of `POST /admin/otc/trajectories`: one trajectory or an array of them (schema
/// only; the handler tells them apart by the JSON type).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TrajectoryBody {
    /// One trajectory.
    One(TrajectoryIn),
    /// A batch of 1 to 10000, ingested in one transaction.
    Many(Vec<TrajectoryIn>),
}

/// A `200` of `POST /admin/otc/trajectories`: a duplicate single trajectory, or a batch's
/// report (schema only).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum IngestReply {
    /// A single trajectory that was already stored.
    One(IngestOutcome),
    /// A batch's report.
    Many(BatchReport),
}
