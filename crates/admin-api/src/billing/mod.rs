//! Billing through usage-store: metering per tool call, usage, history, quota.
//!
//! An exhausted hard quota is refused with 429 and problem type `quota-exhausted` (429
//! rather than 402: the client may retry in the next period; nothing about payment changes).
//! Tenant defaults to `default` everywhere, for single-tenant installs.

pub mod schema;

use crate::error::{AppError, Problem};
use crate::extract::{Json, Query};
use crate::state::{AppState, Inner};
use axum::extract::State;
use axum::http::StatusCode;
use schema::{BucketSize, HistoryPage, MeterOutcome, MeterRequest, Quota, QuotaView, Usage};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The endpoints of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(meter))
        .routes(routes!(usage))
        .routes(routes!(history))
        .routes(routes!(get_quota, put_quota, delete_quota))
}

/// Which tenant.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TenantParam {
    /// The tenant (default `default`): not blank, at most 256 bytes of UTF-8, no control
    /// characters.
    #[serde(default = "default_tenant")]
    #[param(
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        min_length = 1,
        max_length = 256
    )]
    pub tenant: String,
}

fn default_tenant() -> String {
    schema::DEFAULT_TENANT.to_owned()
}

/// Records one tool call's run-units, atomically with the quota check. Idempotent per
/// `(tenant, idempotency_key)`. The module must be in the module catalogue.
#[utoipa::path(post, path = "/admin/billing/meter", tag = "billing",
    request_body = MeterRequest,
    responses(
        (status = 200, description = "A retry of a recorded event; nothing added", body = MeterOutcome),
        (status = 201, description = "Recorded", body = MeterOutcome),
        (status = 409, description = "The idempotency key was used for a different event", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid event, or its module is not in the module catalogue; nothing recorded", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The tenant's hard quota is exhausted (problem type `quota-exhausted`); nothing recorded", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the quota period ends and the quota resets (absent when the event's period is already over)"))),
    ))]
async fn meter(
    State(state): State<AppState>,
    Json(body): Json<MeterRequest>,
) -> Result<(StatusCode, Json<MeterOutcome>), AppError> {
    let event = body.into_event();
    let inner = state.inner();
    // With the module known catalogued from memory, the event goes to the store's writer
    // without the hop to the blocking pool (`load` bench), if the store has such a writer;
    // anything else (an unknown module's 422 included) runs on the blocking pool.
    let queued = match inner.admin.module_catalogued_from_memory(&event.module) {
        Some(true) => inner.usage.meter_queued(&event),
        _ => None,
    };
    let outcome = match queued {
        Some(queued) => queued.await?,
        None => {
            state
                .blocking(move |inner| {
                    require_catalogued(inner, &event.module)?;
                    Ok(inner.usage.meter(&event)?)
                })
                .await?
        }
    };
    let status = match outcome {
        usage_store::MeterOutcome::Recorded { .. } => StatusCode::CREATED,
        usage_store::MeterOutcome::Duplicate { .. } => StatusCode::OK,
    };
    Ok((status, Json(outcome.into())))
}

/// A metered module must be in the catalogue: a typo would otherwise bill run-units, for good
/// (the log is append-only), to a module that does not exist. The check lives here, not in usage-store, because only the admin layer
/// knows the catalogue.
fn require_catalogued(inner: &Inner, module: &str) -> Result<(), AppError> {
    match inner.admin.module(module) {
        Ok(_) => Ok(()),
        // The same "invalid <field>: <reason>" form as usage-store's validation; the name is
        // echoed only when it is a well-formed module id.
        Err(admin_store::AdminError::NotFound(_)) => {
            Err(AppError::Unprocessable(admin_store::ident::named(
                module,
                |m| format!("invalid module: `{m}` is not in the module catalogue"),
                "invalid module: not in the module catalogue",
            )))
        }
        Err(other) => Err(other.into()),
    }
}

/// Usage parameters.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// The tenant (default `default`): not blank, at most 256 bytes of UTF-8, no control
    /// characters.
    #[serde(default = "default_tenant")]
    #[param(
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        min_length = 1,
        max_length = 256
    )]
    pub tenant: String,
    /// The instant whose period to report, Unix ms UTC (default: now).
    #[serde(default)]
    pub at_ms: Option<i64>,
}

/// The tenant's totals by module in its current quota period (calendar month without one).
#[utoipa::path(get, path = "/admin/billing/usage", tag = "billing", params(UsageParams),
    responses(
        (status = 200, description = "Usage in the current period", body = Usage),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid tenant or instant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn usage(
    State(state): State<AppState>,
    Query(params): Query<UsageParams>,
) -> Result<Json<Usage>, AppError> {
    let at = params
        .at_ms
        .unwrap_or_else(|| jiff::Timestamp::now().as_millisecond());
    let usage = state
        .blocking(move |inner| Ok(inner.usage.usage(&params.tenant, at)?))
        .await?;
    Ok(Json(usage.into()))
}

/// History parameters: the range `[from_ms, to_ms)` in `bucket`s, paginated by `cursor`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// The tenant (default `default`): not blank, at most 256 bytes of UTF-8, no control
    /// characters.
    #[serde(default = "default_tenant")]
    #[param(
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        min_length = 1,
        max_length = 256
    )]
    pub tenant: String,
    /// `hour` or `day` (default `day`).
    #[serde(default = "default_bucket")]
    #[param(inline)]
    pub bucket: BucketSize,
    /// Start of the range, Unix ms UTC (inclusive).
    pub from_ms: i64,
    /// End of the range, Unix ms UTC (exclusive; default now).
    #[serde(default)]
    pub to_ms: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<i64>,
    /// Buckets per page, 1 to 1000 (default 100).
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

fn default_bucket() -> BucketSize {
    BucketSize::Day
}

/// The tenant's usage in hour or day buckets, one page at a time (empty buckets omitted).
#[utoipa::path(get, path = "/admin/billing/history", tag = "billing", params(HistoryParams),
    responses(
        (status = 200, description = "One page of buckets", body = HistoryPage),
        (status = 400, description = "Invalid query (unknown parameter, bad bucket, limit out of range, ...)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid range or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn history(
    State(state): State<AppState>,
    Query(params): Query<HistoryParams>,
) -> Result<Json<HistoryPage>, AppError> {
    // Bounds as usage-store has them, checked here so that a bad limit is the same 400 as on
    // every other list.
    let limit = crate::page::page_size(
        params.limit.as_deref(),
        usage_store::model::DEFAULT_HISTORY_LIMIT.into(),
        usage_store::model::MAX_HISTORY_LIMIT.into(),
    )?;
    let query = usage_store::HistoryQuery {
        tenant: params.tenant,
        bucket: params.bucket.into(),
        from_ms: params.from_ms,
        to_ms: params
            .to_ms
            .unwrap_or_else(|| jiff::Timestamp::now().as_millisecond()),
        cursor: params.cursor,
        limit: u32::try_from(limit).ok(),
    };
    let page = state
        .blocking(move |inner| Ok(inner.usage.history(&query)?))
        .await?;
    Ok(Json(page.into()))
}

async fn quota_view(state: &AppState, tenant: String) -> Result<QuotaView, AppError> {
    state
        .blocking(move |inner| {
            let quota = inner.usage.quota(&tenant)?;
            let state = match quota {
                Some(_) => {
                    inner
                        .usage
                        .usage(&tenant, jiff::Timestamp::now().as_millisecond())?
                        .state
                }
                None => None,
            };
            Ok(QuotaView {
                quota: quota.map(Into::into),
                state: state.map(Into::into),
                tenant,
            })
        })
        .await
}

/// The tenant's quota and its state in the current period (`quota: null` when it has none).
#[utoipa::path(get, path = "/admin/billing/quota", tag = "billing", params(TenantParam),
    responses(
        (status = 200, description = "The quota (or null) and its state", body = QuotaView),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid tenant name", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_quota(
    State(state): State<AppState>,
    Query(params): Query<TenantParam>,
) -> Result<Json<QuotaView>, AppError> {
    quota_view(&state, params.tenant).await.map(Json)
}

/// Sets (or replaces) the tenant's quota; applies to events metered from now on.
#[utoipa::path(put, path = "/admin/billing/quota", tag = "billing", params(TenantParam),
    request_body = Quota,
    responses(
        (status = 200, description = "The new quota and its state", body = QuotaView),
        (status = 422, description = "Invalid quota", body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_quota(
    State(state): State<AppState>,
    Query(params): Query<TenantParam>,
    Json(quota): Json<Quota>,
) -> Result<Json<QuotaView>, AppError> {
    let tenant = params.tenant.clone();
    state
        .blocking(move |inner| Ok(inner.usage.set_quota(&tenant, &quota.into())?))
        .await?;
    quota_view(&state, params.tenant).await.map(Json)
}

/// Removes the tenant's quota.
#[utoipa::path(delete, path = "/admin/billing/quota", tag = "billing", params(TenantParam),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "The tenant has no quota", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid tenant name", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_quota(
    State(state): State<AppState>,
    Query(params): Query<TenantParam>,
) -> Result<StatusCode, AppError> {
    let tenant = params.tenant.clone();
    let removed = state
        .blocking(move |inner| Ok(inner.usage.delete_quota(&params.tenant)?))
        .await?;
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        // Named only when it is a plain name: an error never echoes free text.
        Err(AppError::NotFound(if crate::extract::plain_name(&tenant) {
            format!("tenant `{tenant}` has no quota")
        } else {
            "this tenant has no quota".into()
        }))
    }
}
