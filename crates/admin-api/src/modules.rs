//! Modules: the catalogue of tools the orchestrator may route to; list, get, enable, disable.

use crate::error::{AppError, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;
pub use admin_store::module::Module;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The endpoints of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_modules))
        .routes(routes!(get_module))
        .routes(routes!(enable_module))
        .routes(routes!(disable_module))
}

/// All modules, ordered by id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModuleList {
    /// The modules.
    pub modules: Vec<Module>,
}

/// Lists every module of the catalogue.
#[utoipa::path(get, path = "/admin/modules", tag = "modules",
    responses(
        (status = 200, description = "All modules, ordered by id", body = ModuleList),
    ))]
async fn list_modules(State(state): State<AppState>) -> Result<Json<ModuleList>, AppError> {
    let modules = state.admin(|admin| admin.modules()).await?;
    Ok(Json(ModuleList { modules }))
}

/// Reads one module.
#[utoipa::path(get, path = "/admin/modules/{id}", tag = "modules",
    params(("id" = String, Path, description = "Module id", pattern = "^[A-Za-z0-9_.-]{1,64}$", min_length = 1, max_length = 64)),
    responses(
        (status = 200, description = "The module", body = Module),
        (status = 404, description = "Unknown module", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_module(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Module>, AppError> {
    state.admin(move |admin| admin.module(&id)).await.map(Json)
}

/// Enables a module so routing may use it.
#[utoipa::path(post, path = "/admin/modules/{id}/enable", tag = "modules",
    params(("id" = String, Path, description = "Module id", pattern = "^[A-Za-z0-9_.-]{1,64}$", min_length = 1, max_length = 64)),
    responses(
        (status = 200, description = "The module, now enabled", body = Module),
        (status = 404, description = "Unknown module", body = Problem, content_type = "application/problem+json"),
    ))]
async fn enable_module(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Module>, AppError> {
    set_enabled(state, id, true).await
}

/// Disables a module. Refused with 409 while the current routing config routes to it, so the
/// current routing never names a disabled module.
#[utoipa::path(post, path = "/admin/modules/{id}/disable", tag = "modules",
    params(("id" = String, Path, description = "Module id", pattern = "^[A-Za-z0-9_.-]{1,64}$", min_length = 1, max_length = 64)),
    responses(
        (status = 200, description = "The module, now disabled", body = Module),
        (status = 404, description = "Unknown module", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The current routing config routes to this module", body = Problem, content_type = "application/problem+json"),
    ))]
async fn disable_module(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Module>, AppError> {
    set_enabled(state, id, false).await
}

async fn set_enabled(state: AppState, id: String, enabled: bool) -> Result<Json<Module>, AppError> {
    state
        .admin(move |admin| admin.set_enabled(&id, enabled))
        .await
        .map(Json)
}
