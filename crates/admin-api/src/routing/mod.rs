//! Routing config endpoints: get, put, patch, delete a category, reload from the file, list
//! versions and roll back. Every change is a new version; writes carry `If-Match`.
//!
//! No-op writes make no version, so the history lists only real changes: when PUT, PATCH,
//! DELETE of a category or reload would leave the config exactly as it is, the answer is 200
//! with the current version unchanged (the write is idempotent); a rollback to a version whose
//! config is already current is 409 `…/conflict`. A rollback that changes something answers
//! 201 with the new version (and its `Location`), like a dev-mode rollback.
//!
//! Reload reads the routing file on the server. A missing or unreadable file (or a directory
//! at its path) is 409 `…/conflict`: the request is fine, the server's file is not; its path is
//! logged, never sent. A file that is not a valid routing config is 422.
//!
//! `If-Match` policy: PUT, PATCH, DELETE of a category and rollback REQUIRE it (428 without
//! it, 412 when stale; `*` opts out explicitly). Reload honours it when present, because an
//! operator reloading the file means "make the file current" whatever happened before.

use crate::error::{AppError, Problem};
use crate::extract::{Json, MergePatch, Path, Query};
use crate::page::Page;
use crate::precondition::if_match;
use crate::state::AppState;
use admin_store::routing::RoutingChange;
pub use admin_store::routing::{RoutingConfig, RoutingView, VersionSummary};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The endpoints of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_routing, put_routing, patch_routing))
        .routes(routes!(delete_category))
        .routes(routes!(reload_routing))
        .routes(routes!(list_versions))
        .routes(routes!(get_version))
        .routes(routes!(rollback_routing))
}

/// A routing version sent with its `ETag` header.
struct Versioned(RoutingView);

impl IntoResponse for Versioned {
    fn into_response(self) -> Response {
        let etag = self.0.etag.clone();
        crate::reply::json(StatusCode::OK, self.0, Some(&etag), None)
    }
}

async fn write(
    state: &AppState,
    headers: &HeaderMap,
    change: RoutingChange,
) -> Result<Versioned, AppError> {
    let tag = if_match(headers)?;
    state
        .admin(move |admin| admin.change_routing(change, tag.as_deref()))
        .await
        .map(Versioned)
}

/// Reads the current routing config and its version.
#[utoipa::path(get, path = "/admin/routing", tag = "routing",
    responses(
        (status = 200, description = "The current version; its ETag is also in the `ETag` header", body = RoutingView),
    ))]
async fn get_routing(State(state): State<AppState>) -> Result<Response, AppError> {
    state
        .admin(|admin| admin.routing())
        .await
        .map(|v| Versioned(v).into_response())
}

/// Replaces the routing config (a new version).
#[utoipa::path(put, path = "/admin/routing", tag = "routing",
    params(("If-Match" = String, Header, description = "ETag of the current version (required; `*` to overwrite whatever is current)")),
    request_body = RoutingConfig,
    responses(
        (status = 200, description = "The new version, or the current one unchanged when the config is identical (no version is made)", body = RoutingView),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid config: unknown or disabled module, empty category, ...", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_routing(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(config): Json<RoutingConfig>,
) -> Result<Versioned, AppError> {
    write(&state, &headers, RoutingChange::Put(config)).await
}

/// Changes part of the routing config with an RFC 7396 JSON merge patch (a new version).
#[utoipa::path(patch, path = "/admin/routing", tag = "routing",
    params(("If-Match" = String, Header, description = "ETag of the current version (required)")),
    request_body(description = "A JSON merge patch (RFC 7396) of the config; `null` removes a member",
        content((Object = "application/merge-patch+json"), (Object = "application/json"))),
    responses(
        (status = 200, description = "The new version, or the current one unchanged when the patch changes nothing (no version is made)", body = RoutingView),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The patched config is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch_routing(
    State(state): State<AppState>,
    headers: HeaderMap,
    MergePatch(patch): MergePatch<serde_json::Value>,
) -> Result<Versioned, AppError> {
    write(&state, &headers, RoutingChange::Patch(patch)).await
}

/// Deletes one category (a new version).
#[utoipa::path(delete, path = "/admin/routing/categories/{name}", tag = "routing",
    params(("name" = String, Path, description = "Category name", pattern = "^[A-Za-z0-9_.-]{1,64}$", min_length = 1, max_length = 64),
        ("If-Match" = String, Header, description = "ETag of the current version (required)")),
    responses(
        (status = 200, description = "The new version", body = RoutingView),
        (status = 404, description = "No such category", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "It is the default category", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_category(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Versioned, AppError> {
    write(&state, &headers, RoutingChange::DeleteCategory(name)).await
}

/// Makes the routing file's content current (a new version), validated like any write.
#[utoipa::path(post, path = "/admin/routing/reload", tag = "routing",
    params(("If-Match" = Option<String>, Header, description = "Optional: when present it must match the current version")),
    responses(
        (status = 200, description = "The new version read from the routing file, or the current one unchanged when the file holds the current config (no version is made)", body = RoutingView),
        (status = 409, description = "The routing file is missing, unreadable or a directory (its path is in the server log)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The file's config is invalid", body = Problem, content_type = "application/problem+json"),
    ))]
async fn reload_routing(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Versioned, AppError> {
    let config = state
        .blocking(|inner| {
            let text = read_routing_file(&inner.routing_file)?;
            crate::extract::reject_duplicate_names(text.as_bytes()).map_err(|e| {
                AppError::Unprocessable(format!(
                    "the routing file is not a valid routing config: {e}"
                ))
            })?;
            serde_json::from_str::<RoutingConfig>(&text).map_err(|e| {
                AppError::Unprocessable(format!(
                    "the routing file is not a valid routing config: {}",
                    crate::extract::mask_quoted(&e.to_string())
                ))
            })
        })
        .await?;
    write(&state, &headers, RoutingChange::Reload(config)).await
}

/// The routing file's text, or a 409 that says what is wrong with the file without its path
/// (clients never see server paths; the log has it).
fn read_routing_file(path: &std::path::Path) -> Result<String, AppError> {
    let what = match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "is missing",
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory || path.is_dir() => "is a directory",
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => "is not UTF-8 text",
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            "is not readable by the server"
        }
        Err(_) => "cannot be read",
    };
    tracing::warn!(path = %path.display(), "routing reload: the routing file {what}");
    Err(AppError::Conflict(format!(
        "the routing file {what}; see the server log for its path"
    )))
}

/// A page of the routing version history, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionList {
    /// The current version.
    pub current: i64,
    /// How many versions exist.
    pub total: i64,
    /// This page.
    pub versions: Vec<VersionSummary>,
}

/// Lists routing versions, newest first.
#[utoipa::path(get, path = "/admin/routing/versions", tag = "routing", params(Page),
    responses(
        (status = 200, description = "A page of versions", body = VersionList),
        (status = 400, description = "Invalid pagination", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_versions(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<VersionList>, AppError> {
    let (offset, limit) = page.bounds()?;
    let page = state
        .admin(move |admin| admin.routing_versions(offset, limit))
        .await?;
    Ok(Json(VersionList {
        current: page.current,
        total: page.total,
        versions: page.versions,
    }))
}

/// Reads one routing version.
#[utoipa::path(get, path = "/admin/routing/versions/{version}", tag = "routing",
    params(("version" = i64, Path, description = "Version number")),
    responses(
        (status = 200, description = "The version", body = RoutingView),
        (status = 400, description = "The version is not a whole number", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_version(
    State(state): State<AppState>,
    Path(version): Path<i64>,
) -> Result<Json<RoutingView>, AppError> {
    state
        .admin(move |admin| admin.routing_version(version))
        .await
        .map(Json)
}

/// Body of a rollback.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// The earlier version whose config becomes current again.
    #[schema(minimum = 1)]
    pub to_version: i64,
}

/// Makes an earlier version's config current, as a new version (history is never rewritten).
/// The old config is validated against today's catalogue.
#[utoipa::path(post, path = "/admin/routing/rollback", tag = "routing",
    params(("If-Match" = String, Header, description = "ETag of the current version (required)")),
    request_body = Rollback,
    responses(
        (status = 201, description = "The new version; `Location` names it", body = RoutingView),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "That version's config is already current (no version is made)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The old config is invalid today (e.g. a module was disabled since)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    ))]
async fn rollback_routing(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<Rollback>,
) -> Result<Response, AppError> {
    let Versioned(made) = write(&state, &headers, RoutingChange::Rollback(body.to_version)).await?;
    let location = format!("/admin/routing/versions/{}", made.version);
    let etag = made.etag.clone();
    Ok(crate::reply::json(
        StatusCode::CREATED,
        made,
        Some(&etag),
        Some(location),
    ))
}
