//! HTTP shapes of the OTC policy endpoints. They mirror the serde types of otc-policy and
//! policy-store (same JSON) and add the OpenAPI schema; the `From` impls make the compiler check
//! every field.

use otc_policy as op;
use policy_store as ps;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One completed request, as the orchestrator reports it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrajectoryIn {
    /// Unique id of the request; ingest is idempotent on it.
    #[schema(value_type = crate::openapi::PolicyName)]
    pub request_id: String,
    /// Intent class of the request.
    #[schema(value_type = crate::openapi::PolicyName)]
    pub intent: String,
    /// The module set available when the request was decided (order does not matter).
    #[schema(value_type = Vec<crate::openapi::PolicyName>, min_items = 1, max_items = 64)]
    pub modules: Vec<String>,
    /// The module of each tool call, in call order; each one of `modules`.
    #[schema(value_type = Vec<crate::openapi::PolicyName>, max_items = 1024)]
    pub calls: Vec<String>,
    /// Run-units the request spent. Optional: when omitted, the server fills in what the
    /// usage store metered for `request_id` (`POST /admin/billing/meter`), or 0 when nothing
    /// was metered for it; a retry of a stored trajectory keeps the value it was stored with.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub run_units: Option<f64>,
    /// Whether the answer was correct.
    pub correct: bool,
    /// End-to-end latency in milliseconds, at most a day.
    #[schema(minimum = 0, maximum = 86_400_000)]
    pub latency_ms: f64,
    /// When the request completed, Unix ms UTC; at most a day ahead of the server's clock.
    #[schema(minimum = 0)]
    pub timestamp_ms: i64,
    /// The decision (`POST /admin/otc/decisions`) that served this request. It tells the
    /// policy which budget the request was given, which is what the budget is learnt from; it
    /// must be a logged decision for this intent and module set that served no other request.
    /// Without it the request counts as given the budget the policy serves without exploring
    /// (what `GET /admin/otc/policy` advises), or, for a combination's first trajectory, the
    /// calls it made.
    #[serde(default)]
    pub decision_id: Option<u64>,
    /// The module whose result answered, if the orchestrator knows (it must be one of
    /// `calls`; ignored on an incorrect trajectory). Without it a correct request credits the
    /// module of its last call (shared with the module before it when the request used its
    /// whole budget and ends with one call on another module after two or more on one): send
    /// it when the agent calls other tools after it has the answer.
    #[serde(default)]
    #[schema(value_type = Option<crate::openapi::PolicyName>)]
    pub answered_by: Option<String>,
    /// Which call's result the answer used, counted from 1 (1 is the first of `calls`; 0: the
    /// answer used no tool result), if the orchestrator knows (e.g. the call the answer cites;
    /// ignored on an incorrect trajectory). At most the number of `calls`; with `answered_by`
    /// it must be a call to that module, and not 0. It shows that a budget of this many calls
    /// would have answered: an agent that uses every call it is given then still shows that
    /// fewer calls would have answered.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1024)]
    pub answered_at: Option<u32>,
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
            decision_id: self.decision_id,
            answered_by: self.answered_by,
            answered_at: self.answered_at,
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

impl From<ps::IngestOutcome> for IngestOutcome {
    fn from(o: ps::IngestOutcome) -> Self {
        match o {
            ps::IngestOutcome::Accepted { request_id, score } => Self::Accepted {
                request_id,
                score: score.into(),
            },
            ps::IngestOutcome::Duplicate { request_id } => Self::Duplicate { request_id },
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

impl From<ps::BatchReport> for BatchReport {
    fn from(b: ps::BatchReport) -> Self {
        Self {
            accepted: b.accepted,
            duplicates: b.duplicates,
            items: b.items.into_iter().map(Into::into).collect(),
        }
    }
}

/// One module's answer credit. In the policy view of a module set whose own calls have fewer
/// than 10 correct requests behind them, the figures include what sibling module sets of the
/// intent lend (the `reason` says so); its checkpoint shows its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArmView {
    /// Module name.
    pub module: String,
    /// Posterior mean of "a call to it answers", `(answered + 1) / (pulls + 2)`: 0.5 for a
    /// module never tried.
    pub score: f64,
    /// Decayed number of requests that called it: correct ones, and failed ones served by a
    /// decision that called it and then left it for another module.
    pub pulls: f64,
    /// Of them, those it answered: it was the module `answered_by` named, else the module of
    /// the call `answered_at` named, else the module of the last call (a credit shared with
    /// the module before it counts half).
    pub answered: f64,
    /// Whether another module has exactly the same score (decisions break ties at random;
    /// this list shows tied modules in canonical order).
    pub tied: bool,
}

impl From<op::ArmView> for ArmView {
    fn from(a: op::ArmView) -> Self {
        Self {
            module: a.module,
            score: a.score,
            pulls: a.pulls,
            answered: a.answered,
            tied: a.tied,
        }
    }
}

/// Where the budget came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationSource {
    /// Learnt from this (intent, module set)'s own requests.
    Exact,
    /// Borrowed from the intent's module sets that share modules with this one, in proportion
    /// to the overlap, until this one has evidence of its own.
    IntentFallback,
    /// Nothing applies: the cold-start budget.
    Unseen,
}

impl From<op::RecommendationSource> for RecommendationSource {
    fn from(s: op::RecommendationSource) -> Self {
        match s {
            op::RecommendationSource::Exact => Self::Exact,
            op::RecommendationSource::IntentFallback => Self::IntentFallback,
            op::RecommendationSource::Unseen => Self::Unseen,
        }
    }
}

/// The evidence behind a budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BudgetEvidence {
    /// Decayed weight of requests served this budget.
    pub samples: f64,
    /// Their success rate; null before any.
    pub success_rate: Option<f64>,
}

impl From<op::budget::BudgetEvidence> for BudgetEvidence {
    fn from(e: op::budget::BudgetEvidence) -> Self {
        Self {
            samples: e.samples,
            success_rate: e.success_rate,
        }
    }
}

/// The policy's current advice for (intent, module set): read-only, no exploration, nothing
/// logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Recommendation {
    /// Intent class.
    pub intent: String,
    /// Module set, canonical (sorted) order.
    pub modules: Vec<String>,
    /// Tool-call budget; 0 means "answer without tools".
    pub budget: u32,
    /// How sure the policy is that the budget succeeds, in `[0, 1)`: the posterior mean of
    /// success of requests served it; lower for a borrowed budget, 0 at a cold start.
    pub confidence: f64,
    /// Where the budget came from.
    pub source: RecommendationSource,
    /// Why this budget, in a sentence.
    pub reason: String,
    /// The evidence behind the budget.
    pub evidence: BudgetEvidence,
    /// OTC's optimal `n`, the count trajectories are scored against (not the budget); null
    /// until a correct trajectory exists.
    pub optimal_n: Option<u32>,
    /// The modules, most likely to answer first; empty when the budget is 0.
    pub ranked: Vec<ArmView>,
}

impl From<op::Recommendation> for Recommendation {
    fn from(r: op::Recommendation) -> Self {
        Self {
            intent: r.intent,
            modules: r.modules,
            budget: r.budget,
            confidence: r.confidence,
            source: r.source.into(),
            reason: r.reason,
            evidence: r.evidence.into(),
            optimal_n: r.optimal_n,
            ranked: r.ranked.into_iter().map(Into::into).collect(),
        }
    }
}

/// Which way a decision explored the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// One call more than the policy's budget.
    Up,
    /// One call less (a probe of the level below).
    Down,
}

/// What a decision explored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Explored {
    /// The served budget is one level off the policy's; null when not.
    pub budget: Option<Direction>,
    /// Another module than the best-ranked one was put first (with one call more).
    pub order: bool,
}

impl Decision {
    /// What the decision chose, as the metrics count it: `policy` when it explored nothing,
    /// else `budget_up`, `budget_down`, `order` or `order_budget_up`.
    pub fn choice(&self) -> String {
        let budget = match self.explored.budget {
            None => None,
            Some(Direction::Up) => Some("budget_up"),
            Some(Direction::Down) => Some("budget_down"),
        };
        match (self.explored.order, budget) {
            (false, None) => "policy".into(),
            (false, Some(b)) => b.into(),
            (true, None) => "order".into(),
            (true, Some(b)) => format!("order_{b}"),
        }
    }
}

/// The body of `POST /admin/otc/decisions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Intent class of the request.
    #[schema(value_type = crate::openapi::PolicyName)]
    pub intent: String,
    /// The modules available to it (order does not matter).
    #[schema(value_type = Vec<crate::openapi::PolicyName>, min_items = 1, max_items = 64)]
    pub modules: Vec<String>,
}

/// A decision served to one request, logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    /// Its id: the request's trajectory names it in `decision_id`.
    pub decision_id: u64,
    /// Intent class.
    pub intent: String,
    /// Module set, canonical order.
    pub modules: Vec<String>,
    /// The tool-call budget to give the request; 0 means "answer without tools".
    pub budget: u32,
    /// The policy's budget: what a decision that does not explore serves.
    pub policy_budget: u32,
    /// The modules in the order to try them; empty when the budget is 0.
    pub order: Vec<String>,
    /// Whether anything was explored.
    pub explore: bool,
    /// What was explored.
    pub explored: Explored,
    /// The probability the policy had of serving this budget with this first module.
    pub propensity: f64,
    /// Where the policy's budget came from.
    pub source: RecommendationSource,
    /// Why, in a sentence.
    pub reason: String,
    /// How sure the policy is that its budget succeeds.
    pub confidence: f64,
    /// The evidence behind the policy's budget.
    pub evidence: BudgetEvidence,
    /// When it was decided, Unix ms.
    pub decided_ms: i64,
}

impl From<op::Decision> for Decision {
    fn from(d: op::Decision) -> Self {
        let direction = |dir: op::budget::Direction| match dir {
            op::budget::Direction::Up => Direction::Up,
            op::budget::Direction::Down => Direction::Down,
        };
        Self {
            decision_id: d.decision_id,
            intent: d.intent,
            modules: d.modules,
            budget: d.budget,
            policy_budget: d.policy_budget,
            order: d.order,
            explore: d.explore,
            explored: Explored {
                budget: d.explored.budget.map(direction),
                order: d.explored.order,
            },
            propensity: d.propensity,
            source: d.source.into(),
            reason: d.reason,
            confidence: d.confidence,
            evidence: d.evidence.into(),
            decided_ms: d.decided_ms,
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
    /// The budget decisions serve when they do not explore.
    pub budget: u32,
    /// OTC's optimal tool-call count, used to score; null until a correct trajectory exists.
    pub optimal_n: Option<u32>,
    /// Trajectories observed.
    pub samples: u64,
    /// Correct trajectories observed.
    pub correct_samples: u64,
    /// How sure the policy is that its budget succeeds, in `[0, 1)`.
    pub confidence: f64,
    /// The evidence behind the budget.
    pub evidence: BudgetEvidence,
    /// Modules, most likely to answer first.
    pub arms: Vec<ArmView>,
    /// Latest trajectory timestamp folded in, Unix ms.
    pub updated_ms: i64,
}

impl From<op::Checkpoint> for Checkpoint {
    fn from(c: op::Checkpoint) -> Self {
        Self {
            intent: c.intent,
            modules: c.modules,
            budget: c.budget,
            optimal_n: c.optimal_n,
            samples: c.samples,
            correct_samples: c.correct_samples,
            confidence: c.confidence,
            evidence: c.evidence.into(),
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

impl From<ps::RebuildReport> for RebuildReport {
    fn from(r: ps::RebuildReport) -> Self {
        Self {
            trajectories: r.trajectories,
            checkpoints: r.checkpoints,
        }
    }
}

/// The body of `POST /admin/otc/trajectories`: one trajectory or an array of them (schema
/// only; the handler tells them apart by the JSON type).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TrajectoryBody {
    /// One trajectory.
    One(TrajectoryIn),
    /// A batch of 1 to 10000, ingested in one transaction.
    Many(Vec<TrajectoryIn>),
}

// Written by hand because utoipa's derive cannot bound the items of a variant's array.
impl utoipa::PartialSchema for TrajectoryBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Ref};
        let mut one = Ref::from_schema_name("TrajectoryIn");
        one.description = "One trajectory.".into();
        let many = ArrayBuilder::new()
            .items(Ref::from_schema_name("TrajectoryIn"))
            .min_items(Some(1))
            .max_items(Some(super::MAX_BATCH))
            .description(Some("A batch of 1 to 10000, ingested in one transaction."));
        let one_of = OneOfBuilder::new()
            .item(one)
            .item(many)
            .description(Some(
                "The body of `POST /admin/otc/trajectories`: one trajectory or an array of them \
                 (schema only; the handler tells them apart by the JSON type).",
            ))
            .build();
        utoipa::openapi::schema::Schema::OneOf(one_of).into()
    }
}

impl ToSchema for TrajectoryBody {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            TrajectoryIn::name().into(),
            <TrajectoryIn as utoipa::PartialSchema>::schema(),
        ));
        <TrajectoryIn as ToSchema>::schemas(schemas);
    }
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
