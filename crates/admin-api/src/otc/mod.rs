//! The OTC tool-call policy through the policy store (`PolicyBackend`, whichever backend
//! `state.rs` opened): decide for a request (logged, with exploration), ingest trajectories (one
//! or a batch, idempotent on `request_id`), the read-only policy view for (intent, modules),
//! list checkpoints (paged by the store), rebuild; and evaluate a candidate config on the
//! logged decisions ([`evaluate`]).

pub mod evaluate;
pub mod schema;

use crate::error::{AppError, Problem, ProblemItem};
use crate::extract::{Json, JsonBytes, Query, client_words, decode, is_array};
use crate::state::{AppState, Inner};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use otc_policy::ValidationError;
use policy_store::ConflictItem;
use schema::{
    BatchReport, CheckpointList, Decision, DecisionRequest, IngestOutcome, IngestReply,
    RebuildReport, Recommendation, TrajectoryBody, TrajectoryIn,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The members of a trajectory, the only member names an error may repeat.
const TRAJECTORY_FIELDS: [&str; 11] = [
    "request_id",
    "intent",
    "modules",
    "calls",
    "run_units",
    "correct",
    "latency_ms",
    "timestamp_ms",
    "decision_id",
    "answered_by",
    "answered_at",
];

/// Most trajectories one batch may hold.
pub const MAX_BATCH: usize = 10_000;

/// The endpoints of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_decisions))
        .routes(routes!(post_trajectories))
        .routes(routes!(get_policy))
        .routes(routes!(get_checkpoints))
        .routes(routes!(post_rebuild))
        .merge(evaluate::router())
}

enum Posted {
    One(TrajectoryIn),
    Many(Vec<TrajectoryIn>),
}

/// Reads the body as one trajectory or a batch. A batch is checked whole before anything is
/// stored: every item that is wrongly shaped (serde) or invalid (the store's own validation
/// rules) is reported in one 422, each at its pointer (`/3/latency_ms`, or `/3` when no single
/// field is to blame), so a client fixes everything in one round trip.
fn parse(body: serde_json::Value) -> Result<Posted, AppError> {
    match body {
        serde_json::Value::Array(items) => {
            if items.is_empty() || items.len() > MAX_BATCH {
                return Err(AppError::Unprocessable(format!(
                    "a batch holds 1 to {MAX_BATCH} trajectories"
                )));
            }
            let now = jiff::Timestamp::now().as_millisecond();
            let mut ok = Vec::with_capacity(items.len());
            let mut problems = Vec::new();
            for (index, item) in items.into_iter().enumerate() {
                match read_item(item) {
                    Ok(t) => {
                        // `run_units` is resolved later (it may come from metering); the
                        // placeholder only lets the other fields be checked now, and the store
                        // checks the resolved value again.
                        let probe = t.clone().into_trajectory(t.run_units.unwrap_or(0.0));
                        match probe.validate(now) {
                            Ok(()) => ok.push(t),
                            Err(e) => problems.push(item_problem(index, &e)),
                        }
                    }
                    Err((path, detail)) => problems.push(ProblemItem {
                        pointer: pointer(index, path.as_deref()),
                        detail,
                    }),
                }
            }
            if problems.is_empty() {
                Ok(Posted::Many(ok))
            } else {
                Err(AppError::InvalidItems(problems))
            }
        }
        value @ serde_json::Value::Object(_) => read_item(value)
            .map(Posted::One)
            .map_err(|(_, detail)| AppError::Unprocessable(detail)),
        _ => Err(AppError::Unprocessable(
            "expected a trajectory object or an array of them".into(),
        )),
    }
}

/// Deserializes one trajectory; on failure, the offending member (when one is to blame) and a
/// detail that names it, masks the client's string values and speaks JSON, not Rust, types.
fn read_item(item: serde_json::Value) -> Result<TrajectoryIn, (Option<String>, String)> {
    if !item.is_object() {
        // serde would read a trajectory from an array of its fields in order.
        return Err((None, "expected a trajectory object".to_owned()));
    }
    TrajectoryIn::deserialize(&item).map_err(|e| {
        // Only on failure: finding the member costs a deserialization per member.
        // A member is named (in the detail and the pointer) when the schema knows it or it is
        // a plain name; any other member name is the client's free text, never echoed.
        let member = item
            .as_object()
            .and_then(otc_policy::json_input::offending_member::<TrajectoryIn>)
            .filter(|name| {
                TRAJECTORY_FIELDS.contains(&name.as_str()) || crate::extract::plain_name(name)
            });
        let text = client_words(&e.to_string());
        let detail = match &member {
            Some(name) if !text.contains(&format!("`{name}`")) => format!("{name}: {text}"),
            _ => text,
        };
        (member, detail)
    })
}

/// The RFC 6901 pointer to item `index` of a batch, or to `member` inside it.
fn pointer(index: usize, member: Option<&str>) -> String {
    match member {
        // Member names of a trajectory are plain words, but escape per RFC 6901 anyway: an
        // unknown member is named by the client.
        Some(name) => format!("/{index}/{}", name.replace('~', "~0").replace('/', "~1")),
        None => format!("/{index}"),
    }
}

/// The problem item for a batch item that failed the store's validation, at its field.
pub(crate) fn item_problem(index: usize, err: &ValidationError) -> ProblemItem {
    ProblemItem {
        pointer: format!("/{index}/{}", err.field_path()),
        detail: err.to_string(),
    }
}

/// The 409 for a batch whose items reuse stored request ids with other content: `errors` has
/// every such item at its pointer (`/index`), as a 422 lists invalid items; the detail spells
/// out the first few, for a reader of the detail alone.
pub(crate) fn conflict_items(mut items: Vec<ConflictItem>) -> AppError {
    items.sort_by_key(|i| i.index);
    AppError::ConflictItems {
        detail: describe_conflicts(&items),
        items: items
            .iter()
            .map(|i| ProblemItem {
                pointer: format!("/{}", i.index),
                detail: i.to_string(),
            })
            .collect(),
    }
}

/// The detail of a 409 for a batch whose items reuse stored request ids with other content.
fn describe_conflicts(items: &[ConflictItem]) -> String {
    const SHOWN: usize = 5;
    let listed: Vec<String> = items
        .iter()
        .take(SHOWN)
        .map(|i| format!("/{} {i}", i.index))
        .collect();
    let more = match items.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!("; and {n} more"),
    };
    let (noun, verb) = if items.len() == 1 {
        ("item", "reuses")
    } else {
        ("items", "reuse")
    };
    format!(
        "{} {noun} of the batch {verb} a stored request id with different content, nothing was stored: {}{more}",
        items.len(),
        listed.join("; ")
    )
}

/// `run_units` as posted; else, for a retry of a stored trajectory, the value it was stored
/// with (metering that arrived since must not turn an identical retry into a conflict); else
/// what the usage store metered for the request; else 0.
fn resolve(inner: &Inner, t: TrajectoryIn) -> Result<otc_policy::Trajectory, AppError> {
    let units = match t.run_units {
        Some(units) => units,
        None => match inner.policy.stored_run_units(&t.request_id)? {
            Some(stored) => stored,
            None => inner.usage.request_total(&t.request_id)?.unwrap_or(0.0),
        },
    };
    Ok(t.into_trajectory(units))
}

/// Ingests one trajectory (a JSON object) or a batch (a JSON array; one transaction, all or
/// nothing). Idempotent on `request_id`: a repeat is reported as `duplicate` and changes
/// nothing; the same `request_id` with different content is a 409 `conflict` (the first
/// version stays: the log is append-only).
///
/// `run_units` may be omitted: the server then uses the run-units the usage store metered for
/// that `request_id` through `POST /admin/billing/meter` (0 when nothing was metered); a retry
/// of a stored trajectory keeps the value it was stored with, so late metering does not make
/// the retry a conflict.
#[utoipa::path(post, path = "/admin/otc/trajectories", tag = "otc",
    request_body(description = "One trajectory, or an array of 1 to 10000", content = TrajectoryBody),
    responses(
        (status = 201, description = "One trajectory, stored and scored", body = IngestOutcome),
        (status = 200, description = "One trajectory already stored (`duplicate`), or a batch's report", body = IngestReply),
        (status = 409, description = "A `request_id` is already stored with different content (problem type `conflict`); for a batch, `errors` lists every such item (pointer `/index`) and nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid trajectory; for a batch, `errors` lists every rejected item (at `/i` or `/i/field`) and nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The checkpoint of this combination is corrupt (problem type `corrupt-checkpoint`); `POST /admin/otc/rebuild` repairs it", body = Problem, content_type = "application/problem+json"),
    ))]
async fn post_trajectories(
    State(state): State<AppState>,
    JsonBytes(body): JsonBytes,
) -> Result<Response, AppError> {
    let metrics = state.clone();
    let count = move |outcome: &str, n: u64| {
        metrics.inner().metrics.count_trajectories(outcome, n);
    };
    // One well-formed trajectory, the common post, decodes straight into its struct; anything
    // else (a batch, or a body with a problem to point at) goes through a `Value`, which costs
    // two more passes over the body. A batch must not take the first way: serde would read a
    // trajectory from an array of its fields in order.
    let direct = if is_array(&body) {
        None
    } else {
        serde_json::from_slice::<TrajectoryIn>(&body).ok()
    };
    let posted = match direct {
        Some(one) => Ok(Posted::One(one)),
        None => decode::<serde_json::Value>(&body).and_then(parse),
    };
    let posted = match posted {
        Ok(posted) => posted,
        Err(err) => {
            let (outcome, n) = refused(&err);
            count(outcome, n);
            return Err(err);
        }
    };
    let result = match posted {
        // With its run-units given, a single trajectory needs no read before its write: the
        // store's writer takes it from here without the hop to the blocking pool (`load`
        // bench), if the store has such a writer.
        Posted::One(t) if t.run_units.is_some() => {
            let units = t.run_units.unwrap_or_default();
            let trajectory = t.into_trajectory(units);
            match state.inner().policy.ingest_queued(&trajectory) {
                Some(queued) => queued.await.map_err(AppError::from).map(single_reply),
                None => {
                    state
                        .blocking(move |inner| Ok(single_reply(inner.policy.ingest(&trajectory)?)))
                        .await
                }
            }
        }
        posted => ingest_blocking(&state, posted).await,
    };
    match result {
        Ok(((accepted, duplicates), response)) => {
            count("accepted", accepted);
            count("duplicate", duplicates);
            Ok(response)
        }
        Err(err) => {
            let (outcome, n) = refused(&err);
            count(outcome, n);
            Err(err)
        }
    }
}

/// Accepted and duplicate counts of a post, and its response.
type Ingested = ((u64, u64), Response);

/// A single trajectory's outcome as its response: 201 if stored, 200 if a retry.
fn single_reply(outcome: policy_store::IngestOutcome) -> Ingested {
    let status = match outcome {
        policy_store::IngestOutcome::Accepted { .. } => StatusCode::CREATED,
        policy_store::IngestOutcome::Duplicate { .. } => StatusCode::OK,
    };
    let accepted = u64::from(status == StatusCode::CREATED);
    (
        (accepted, 1 - accepted),
        (status, Json(IngestOutcome::from(outcome))).into_response(),
    )
}

/// A post whose run-units may need reading first, or a batch: on the blocking pool.
async fn ingest_blocking(state: &AppState, posted: Posted) -> Result<Ingested, AppError> {
    state
        .blocking(move |inner| match posted {
            Posted::One(t) => Ok(single_reply(inner.policy.ingest(&resolve(inner, t)?)?)),
            Posted::Many(items) => {
                let batch = items
                    .into_iter()
                    .map(|t| resolve(inner, t))
                    .collect::<Result<Vec<_>, _>>()?;
                let report = BatchReport::from(inner.policy.ingest_batch(&batch)?);
                let counts = (report.accepted, report.duplicates);
                Ok((counts, Json(report).into_response()))
            }
        })
        .await
}

/// How a refused post of trajectories counts in the metrics: a refused batch counts each item
/// it names (nothing of it was stored).
fn refused(err: &AppError) -> (&'static str, u64) {
    match err {
        AppError::Conflict(_) => ("conflict", 1),
        AppError::ConflictItems { items, .. } => ("conflict", items.len() as u64),
        AppError::Unprocessable(_) | AppError::BadRequest(_) => ("invalid", 1),
        AppError::InvalidItems(items) => ("invalid", items.len() as u64),
        _ => ("failed", 1),
    }
}

/// Decides what to serve one request: the tool-call budget, the order in which to try the
/// modules, and whether this decision explores (one call more or less than the policy's
/// budget, or another module first), with the probability the policy had of serving it. The
/// decision is logged; name its `decision_id` in the request's trajectory so the policy learns
/// from what the budget it served did. Asking creates a decision, hence a POST; for a
/// read-only view of the policy use `GET /admin/otc/policy`.
#[utoipa::path(post, path = "/admin/otc/decisions", tag = "otc",
    request_body(description = "The request's intent and the modules available to it", content = DecisionRequest),
    responses(
        (status = 201, description = "The decision, logged", body = Decision),
        (status = 422, description = "Invalid intent or module names, or a body of the wrong shape", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The checkpoint of this combination is corrupt, or every checkpoint of the intent is (problem type `corrupt-checkpoint`); `POST /admin/otc/rebuild` repairs it", body = Problem, content_type = "application/problem+json"),
    ))]
async fn post_decisions(
    State(state): State<AppState>,
    Json(body): Json<DecisionRequest>,
) -> Result<(StatusCode, Json<Decision>), AppError> {
    let modules: Vec<String> = body.modules.iter().map(|m| m.trim().to_owned()).collect();
    state
        .blocking(move |inner| {
            let decision = inner.policy.decide(&body.intent, &modules)?;
            let decision = Decision::from(decision);
            inner.metrics.count_decision(&decision.choice());
            Ok((StatusCode::CREATED, Json(decision)))
        })
        .await
}

/// Which (intent, module set) to advise on.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PolicyParams {
    /// Intent class.
    #[param(pattern = "^[A-Za-z0-9._:-]{1,128}$", min_length = 1, max_length = 128)]
    pub intent: String,
    /// The available modules, comma-separated (order does not matter; spaces around a
    /// name are ignored): 1 to 64 names.
    #[param(pattern = "^ *[A-Za-z0-9._:-]{1,128} *(, *[A-Za-z0-9._:-]{1,128} *){0,63}$")]
    pub modules: String,
}

/// How long `GET /admin/otc/policy` waits for the store to confirm an answer it holds before
/// reading the store instead.
const CURRENT_ADVICE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The policy's current advice for (intent, modules), read-only: the budget a decision would
/// serve without exploring, why, the evidence behind it, and the modules ranked. No decision is
/// logged and nothing is explored; on the request path use `POST /admin/otc/decisions`. Never
/// an error for a combination never seen (`source` says where the advice came from).
#[utoipa::path(get, path = "/admin/otc/policy", tag = "otc", params(PolicyParams),
    responses(
        (status = 200, description = "The recommendation", body = Recommendation),
        (status = 400, description = "Missing or unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid intent or module names", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The checkpoint of this combination is corrupt, or every checkpoint of the intent is (problem type `corrupt-checkpoint`); `POST /admin/otc/rebuild` repairs it. Corrupt checkpoints of other module sets are skipped by the intent fallback", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_policy(
    State(state): State<AppState>,
    Query(params): Query<PolicyParams>,
) -> Result<Json<Recommendation>, AppError> {
    let modules: Vec<String> = params
        .modules
        .split(',')
        .map(|m| m.trim().to_owned())
        .collect();
    // An answer already in memory is served here, without the hop to the blocking pool
    // (which costs more than the lookup: 46 % of liveness throughput against 68 % without it,
    // `load` bench); anything else reads the store on the blocking pool.
    if let Some(recommendation) = state
        .inner()
        .policy
        .recommend_from_memory(&params.intent, &modules)
    {
        return Ok(Json(recommendation.into()));
    }
    // A store that must ask its database whether what it holds is current (PostgreSQL, shared
    // by replicas) answers after a version check it shares with the requests waiting beside
    // this one, also without the hop.
    let current = state
        .inner()
        .policy
        .recommend_when_current(&params.intent, &modules);
    // A round takes one round trip; the bound only matters for one that hangs (the store
    // then stops queueing requests behind it too).
    if let Some(current) = current
        && let Ok(Some(recommendation)) = tokio::time::timeout(CURRENT_ADVICE_WAIT, current).await
    {
        return Ok(Json(recommendation.into()));
    }
    state
        .blocking(move |inner| {
            Ok(Json(
                inner.policy.recommend(&params.intent, &modules)?.into(),
            ))
        })
        .await
}

/// Pagination of the checkpoint list.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckpointParams {
    /// Only this intent class.
    #[serde(default)]
    #[param(pattern = "^[A-Za-z0-9._:-]{1,128}$", min_length = 1, max_length = 128)]
    pub intent: Option<String>,
    /// How many to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub offset: Option<String>,
    /// How many to return, 1 to 1000 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// The learnt checkpoints, ordered by intent then module set.
#[utoipa::path(get, path = "/admin/otc/checkpoints", tag = "otc", params(CheckpointParams),
    responses(
        (status = 200, description = "A page of checkpoints", body = CheckpointList),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid intent name (as for `GET /admin/otc/policy`)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "A stored checkpoint is corrupt (problem type `corrupt-checkpoint`); `POST /admin/otc/rebuild` repairs it", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_checkpoints(
    State(state): State<AppState>,
    Query(params): Query<CheckpointParams>,
) -> Result<Json<CheckpointList>, AppError> {
    let offset = crate::page::page_offset(params.offset.as_deref())?;
    let limit = crate::page::page_size(params.limit.as_deref(), 100, 1000)?;
    // The same name rules as `/policy`: a malformed intent is a mistake to report, not a
    // filter that happens to match nothing.
    if let Some(intent) = &params.intent {
        otc_policy::trajectory::check_intent(intent)
            .map_err(|e| AppError::Unprocessable(e.to_string()))?;
    }
    state
        .blocking(move |inner| {
            let page = inner.policy.checkpoint_page(
                params.intent.as_deref(),
                offset.unsigned_abs(),
                limit.unsigned_abs(),
            )?;
            Ok(Json(CheckpointList {
                total: page.total,
                checkpoints: page.checkpoints.into_iter().map(Into::into).collect(),
            }))
        })
        .await
}

/// Recomputes every checkpoint from the trajectory log (repairs a corrupt checkpoint; applies
/// a changed policy config to the past).
#[utoipa::path(post, path = "/admin/otc/rebuild", tag = "otc",
    responses(
        (status = 200, description = "Rebuilt", body = RebuildReport),
    ))]
async fn post_rebuild(State(state): State<AppState>) -> Result<Json<RebuildReport>, AppError> {
    state
        .blocking(|inner| Ok(Json(inner.policy.rebuild()?.into())))
        .await
}
