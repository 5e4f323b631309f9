//! The dev-mode endpoints under `/admin/dev`: drafts, publish, module versions, rollback.
//! Each handler parses and checks its input, then runs one store call on the blocking pool.

use crate::error::ProblemItem;
use crate::error::{AppError, Problem};
use crate::extract::{Json, Path, Query};
use crate::page::{self, Page};
use crate::precondition::if_match;
use crate::state::AppState;
use admin_store::dev::{Draft, DraftState, ModuleVersion, Published, version_etag};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The endpoints of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_drafts, create_draft))
        .routes(routes!(get_draft, put_draft, delete_draft))
        .routes(routes!(validate_draft))
        .routes(routes!(publish_draft))
        .routes(routes!(list_module_versions))
        .routes(routes!(get_module_version))
        .routes(routes!(rollback_module))
}

use crate::reply::json as reply;

/// Pagination and filter of the draft list.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DraftQuery {
    /// How many to skip (default 0).
    #[param(value_type = Option<u32>, minimum = 0)]
    pub offset: Option<String>,
    /// How many to return, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Only drafts in this state (`draft` or `published`); all when absent.
    #[serde(default)]
    #[param(inline)]
    pub state: Option<DraftState>,
}

/// A page of drafts, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DraftList {
    /// How many drafts match the filter.
    pub total: i64,
    /// This page.
    pub drafts: Vec<Draft>,
}

/// Lists drafts, newest first.
#[utoipa::path(get, path = "/admin/dev/drafts", tag = "dev", params(DraftQuery),
    responses(
        (status = 200, description = "A page of drafts", body = DraftList),
        (status = 400, description = "Invalid pagination or state", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_drafts(
    State(state): State<AppState>,
    Query(query): Query<DraftQuery>,
) -> Result<Json<DraftList>, AppError> {
    let (offset, limit) = page::bounds(query.offset.as_deref(), query.limit.as_deref())?;
    let (drafts, total) = state
        .admin(move |admin| admin.drafts(query.state, offset, limit))
        .await?;
    Ok(Json(DraftList { total, drafts }))
}

/// Creates a draft from a module manifest. Any JSON object is accepted (a draft may be
/// incomplete); the manifest is validated fully at publish.
#[utoipa::path(post, path = "/admin/dev/drafts", tag = "dev",
    request_body(content = Object, description = "A module manifest, possibly incomplete: any JSON object is accepted; publish validates it against the `ModuleManifest` schema"),
    responses(
        (status = 201, description = "The draft; `Location` names it, `ETag` is its revision", body = Draft),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body is not a JSON object", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_draft(
    State(state): State<AppState>,
    Json(manifest): Json<Value>,
) -> Result<Response, AppError> {
    let draft = state
        .admin(move |admin| admin.create_draft(&manifest))
        .await?;
    let location = format!("/admin/dev/drafts/{}", draft.id);
    let etag = draft.etag.clone();
    Ok(reply(
        StatusCode::CREATED,
        draft,
        Some(&etag),
        Some(location),
    ))
}

/// Reads one draft.
#[utoipa::path(get, path = "/admin/dev/drafts/{id}", tag = "dev",
    params(("id" = i64, Path, description = "Draft id")),
    responses(
        (status = 200, description = "The draft; `ETag` is its revision", body = Draft),
        (status = 400, description = "The id is not a whole number", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such draft", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_draft(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let draft = state.admin(move |admin| admin.draft(id)).await?;
    let etag = draft.etag.clone();
    Ok(reply(StatusCode::OK, draft, Some(&etag), None))
}

/// Replaces a draft's manifest (a new revision).
#[utoipa::path(put, path = "/admin/dev/drafts/{id}", tag = "dev",
    params(("id" = i64, Path, description = "Draft id"),
        ("If-Match" = String, Header, description = "ETag of the draft's current revision (required; `*` to overwrite whatever is current)")),
    request_body(content = Object, description = "The new manifest, possibly incomplete: any JSON object is accepted; publish validates it against the `ModuleManifest` schema"),
    responses(
        (status = 200, description = "The draft's new revision", body = Draft),
        (status = 400, description = "Malformed JSON body or query string, or the id is not a whole number", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such draft", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The draft is published and read-only", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body is not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_draft(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Json(manifest): Json<Value>,
) -> Result<Response, AppError> {
    let tag = if_match(&headers)?;
    let draft = state
        .admin(move |admin| admin.replace_draft(id, tag.as_deref(), &manifest))
        .await?;
    let etag = draft.etag.clone();
    Ok(reply(StatusCode::OK, draft, Some(&etag), None))
}

/// Deletes a draft. The versions a published draft made stay.
#[utoipa::path(delete, path = "/admin/dev/drafts/{id}", tag = "dev",
    params(("id" = i64, Path, description = "Draft id"),
        ("If-Match" = Option<String>, Header, description = "Optional: when present it must match the draft's revision")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a whole number", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such draft", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_draft(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    let tag = if_match(&headers)?;
    state
        .admin(move |admin| admin.delete_draft(id, tag.as_deref()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What publishing a draft would say, without publishing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DraftCheck {
    /// Whether the manifest would publish.
    pub valid: bool,
    /// Every problem (empty when valid).
    pub errors: Vec<ProblemItem>,
}

/// Validates a draft's manifest as publish would, changing nothing.
#[utoipa::path(post, path = "/admin/dev/drafts/{id}/validate", tag = "dev",
    params(("id" = i64, Path, description = "Draft id")),
    responses(
        (status = 200, description = "The verdict and every problem", body = DraftCheck),
        (status = 400, description = "The id is not a whole number", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such draft", body = Problem, content_type = "application/problem+json"),
    ))]
async fn validate_draft(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<DraftCheck>, AppError> {
    let draft = state.admin(move |admin| admin.draft(id)).await?;
    let errors: Vec<ProblemItem> = admin_store::manifest::validate(&draft.manifest)
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(ProblemItem::from)
        .collect();
    Ok(Json(DraftCheck {
        valid: errors.is_empty(),
        errors,
    }))
}

fn version_location(version: &ModuleVersion) -> String {
    format!(
        "/admin/dev/modules/{}/versions/{}",
        version.module_id, version.version
    )
}

/// Publishes a draft: its manifest, fully validated, becomes the module's new current
/// version and the catalogue follows (a new module starts disabled; an existing one keeps its
/// enabled state). The draft becomes read-only, state `published`.
#[utoipa::path(post, path = "/admin/dev/drafts/{id}/publish", tag = "dev",
    params(("id" = i64, Path, description = "Draft id"),
        ("If-Match" = Option<String>, Header, description = "Optional: when present it must match the draft's revision")),
    responses(
        (status = 201, description = "The new version, the catalogue entry and the published draft; `Location` names the version", body = Published),
        (status = 400, description = "The id is not a whole number", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such draft", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The draft is already published, or its manifest equals the module's current version (nothing is published)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The manifest is invalid; `errors` lists every problem", body = Problem, content_type = "application/problem+json"),
    ))]
async fn publish_draft(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tag = if_match(&headers)?;
    let published = state
        .admin(move |admin| admin.publish_draft(id, tag.as_deref()))
        .await?;
    let location = version_location(&published.version);
    let etag = published.version.etag.clone();
    Ok(reply(
        StatusCode::CREATED,
        published,
        Some(&etag),
        Some(location),
    ))
}

/// A page of a module's version history, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModuleVersionList {
    /// The module.
    pub module_id: String,
    /// The current version; absent while the module was never published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<i64>,
    /// How many versions exist.
    pub total: i64,
    /// This page.
    pub versions: Vec<ModuleVersion>,
}

/// Lists a module's versions, newest first, marking the current one. The `ETag` header is
/// the current version's (for `If-Match` on rollback).
#[utoipa::path(get, path = "/admin/dev/modules/{id}/versions", tag = "dev",
    params(("id" = String, Path, description = "Module id", pattern = "^[A-Za-z0-9_.-]{1,64}$", min_length = 1, max_length = 64), Page),
    responses(
        (status = 200, description = "A page of versions", body = ModuleVersionList),
        (status = 400, description = "Invalid pagination", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown module", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_module_versions(
    State(state): State<AppState>,
    Path(module_id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Response, AppError> {
    let (offset, limit) = page.bounds()?;
    let list = state
        .admin(move |admin| {
            let page = admin.module_versions(&module_id, offset, limit)?;
            Ok(ModuleVersionList {
                module_id,
                current: page.current,
                total: page.total,
                versions: page.versions,
            })
        })
        .await?;
    let etag = list.current.map(|v| version_etag(&list.module_id, v));
    Ok(reply(StatusCode::OK, list, etag.as_deref(), None))
}

/// Reads one version of a module.
#[utoipa::path(get, path = "/admin/dev/modules/{id}/versions/{version}", tag = "dev",
    params(("id" = String, Path, description = "Module id", pattern = "^[A-Za-z0-9_.-]{1,64}$", min_length = 1, max_length = 64),
        ("version" = i64, Path, description = "Version number")),
    responses(
        (status = 200, description = "The version", body = ModuleVersion),
        (status = 400, description = "The version is not a number", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown module or version", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_module_version(
    State(state): State<AppState>,
    Path((module_id, version)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let found = state
        .admin(move |admin| admin.module_version(&module_id, version))
        .await?;
    let etag = found.etag.clone();
    Ok(reply(StatusCode::OK, found, Some(&etag), None))
}

/// Body of a module rollback.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModuleRollback {
    /// The earlier version whose manifest becomes current again, as a new version.
    #[schema(minimum = 1)]
    pub to_version: i64,
}

/// Makes an earlier version's manifest current as a new version (`source_version` names it);
/// history is never rewritten and the catalogue follows.
#[utoipa::path(post, path = "/admin/dev/modules/{id}/rollback", tag = "dev",
    params(("id" = String, Path, description = "Module id", pattern = "^[A-Za-z0-9_.-]{1,64}$", min_length = 1, max_length = 64),
        ("If-Match" = Option<String>, Header, description = "Optional: when present it must match the module's current version")),
    request_body = ModuleRollback,
    responses(
        (status = 201, description = "The new version and the catalogue entry; `Location` names the version", body = Published),
        (status = 404, description = "Unknown module, no published version, or no such version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "That version, or one with the same manifest, is already current", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn rollback_module(
    State(state): State<AppState>,
    Path(module_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<ModuleRollback>,
) -> Result<Response, AppError> {
    let tag = if_match(&headers)?;
    let published = state
        .admin(move |admin| admin.rollback_module(&module_id, body.to_version, tag.as_deref()))
        .await?;
    let location = version_location(&published.version);
    let etag = published.version.etag.clone();
    Ok(reply(
        StatusCode::CREATED,
        published,
        Some(&etag),
        Some(location),
    ))
}
