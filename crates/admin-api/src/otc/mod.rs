//! The OTC tool-call policy through otc-policy: ingest trajectories (one or a batch,
//! idempotent on `request_id`), recommend for (intent, modules), list checkpoints, rebuild.

pub mod schema;

use crate::error::{AppError, Problem};
use crate::extract::{Json, Query, mask_quoted};
use crate::state::{AppState, Inner};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use otc_policy::PolicyBackend;
use schema::{
    BatchReport, CheckpointList, IngestOutcome, IngestReply, RebuildReport, Recommendation,
    TrajectoryBody, TrajectoryIn,
};
use serde::Deserialize;
use usage_store::UsageBackend;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Most trajectories one batch may hold.
pub const MAX_BATCH: usize = 10_000;

/// The endpoints of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_trajectories))
        .routes(routes!(get_policy))
        .routes(routes!(get_checkpoints))
        .routes(routes!(post_rebuild))
}

enum Posted {
    One(TrajectoryIn),
    Many(Vec<TrajectoryIn>),
}

fn parse(body: serde_json::Value) -> Result<Posted, AppError> {
    match body {
        serde_json::Value::Array(items) => {
            if items.is_empty() || items.len() > MAX_BATCH {
                return Err(AppError::Unprocessable(format!(
                    "a batch holds 1 to {MAX_BATCH} trajectories"
                )));
            }
            let mut ok = Vec::with_capacity(items.len());
            let mut errors = Vec::new();
            for (index, item) in items.into_iter().enumerate() {
                match serde_json::from_value::<TrajectoryIn>(item) {
                    Ok(t) => ok.push(t),
                    Err(e) => errors.push((index, mask_quoted(&e.to_string()))),
                }
            }
            if errors.is_empty() {
                Ok(Posted::Many(ok))
            } else {
                Err(AppError::invalid_batch(errors))
            }
        }
        value @ serde_json::Value::Object(_) => serde_json::from_value(value)
            .map(Posted::One)
            .map_err(|e| AppError::Unprocessable(mask_quoted(&e.to_string()))),
        _ => Err(AppError::Unprocessable(
            "expected a trajectory object or an array of them".into(),
        )),
    }
}

/// `run_units` as posted, else what the usage store metered for the request, else 0.
fn resolve(inner: &Inner, t: TrajectoryIn) -> Result<otc_policy::Trajectory, AppError> {
    let units = match t.run_units {
        Some(units) => units,
        None => inner.usage.request_total(&t.request_id)?.unwrap_or(0.0),
    };
    Ok(t.into_trajectory(units))
}

/// Ingests one trajectory (a JSON object) or a batch (a JSON array; one transaction, all or
/// nothing). Idempotent on `request_id`: a repeat is reported as `duplicate` and changes
/// nothing.
///
/// `run_units` may be omitted: the server then uses the run-units the usage store metered for
/// that `request_id` through `POST /admin/billing/meter` (0 when nothing was metered).
#[utoipa::path(post, path = "/admin/otc/trajectories", tag = "otc",
    request_body(description = "One trajectory, or an array of 1 to 10000", content = TrajectoryBody),
    responses(
        (status = 201, description = "One trajectory, stored and scored", body = IngestOutcome),
        (status = 200, description = "One trajectory already stored (`duplicate`), or a batch's report", body = IngestReply),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid trajectory; for a batch, `errors` lists every rejected item and nothing was stored", body = Problem, content_type = "application/problem+json"),
    ))]
async fn post_trajectories(
    State(state): State<AppState>,
    Json(body): Json<serde_json::Value>,
) -> Result<Response, AppError> {
    let posted = parse(body)?;
    state
        .blocking(move |inner| match posted {
            Posted::One(t) => {
                let outcome = inner.policy.ingest(&resolve(inner, t)?)?;
                let status = match outcome {
                    otc_policy::IngestOutcome::Accepted { .. } => StatusCode::CREATED,
                    otc_policy::IngestOutcome::Duplicate { .. } => StatusCode::OK,
                };
                Ok((status, Json(IngestOutcome::from(outcome))).into_response())
            }
            Posted::Many(items) => {
                let batch = items
                    .into_iter()
                    .map(|t| resolve(inner, t))
                    .collect::<Result<Vec<_>, _>>()?;
                let report = inner.policy.ingest_batch(&batch)?;
                Ok(Json(BatchReport::from(report)).into_response())
            }
        })
        .await
}

/// Which (intent, module set) to advise on.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PolicyParams {
    /// Intent class.
    pub intent: String,
    /// The available modules, comma-separated (order does not matter).
    pub modules: String,
}

/// The policy's advice for a request: a tool-call budget and the modules ranked. Never an
/// error for a combination never seen (`source` says where the advice came from).
#[utoipa::path(get, path = "/admin/otc/policy", tag = "otc", params(PolicyParams),
    responses(
        (status = 200, description = "The recommendation", body = Recommendation),
        (status = 400, description = "Missing or unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid intent or module names", body = Problem, content_type = "application/problem+json"),
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
    pub intent: Option<String>,
    /// How many to skip (default 0).
    #[serde(default)]
    pub offset: u32,
    /// How many to return, 1 to 1000 (default 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    100
}

/// The learnt checkpoints, ordered by intent then module set.
#[utoipa::path(get, path = "/admin/otc/checkpoints", tag = "otc", params(CheckpointParams),
    responses(
        (status = 200, description = "A page of checkpoints", body = CheckpointList),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_checkpoints(
    State(state): State<AppState>,
    Query(params): Query<CheckpointParams>,
) -> Result<Json<CheckpointList>, AppError> {
    if !(1..=1000).contains(&params.limit) {
        return Err(AppError::BadRequest(
            "limit must be between 1 and 1000".into(),
        ));
    }
    state
        .blocking(move |inner| {
            let all = inner.policy.checkpoints()?;
            let matching: Vec<_> = all
                .into_iter()
                .filter(|c| params.intent.as_ref().is_none_or(|i| *i == c.intent))
                .collect();
            Ok(Json(CheckpointList {
                total: matching.len() as u64,
                checkpoints: matching
                    .into_iter()
                    .skip(params.offset as usize)
                    .take(params.limit as usize)
                    .map(Into::into)
                    .collect(),
            }))
        })
        .await
}

/// Recomputes every checkpoint from the trajectory log (repairs a corrupt checkpoint; applies
/// a changed policy config to the past).
#[utoipa::path(post, path = "/admin/otc/rebuild", tag = "otc",
    responses(
        (status = 200, description = "Rebuilt", body = RebuildReport),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn post_rebuild(State(state): State<AppState>) -> Result<Json<RebuildReport>, AppError> {
    state
        .blocking(|inner| Ok(Json(inner.policy.rebuild()?.into())))
        .await
}
