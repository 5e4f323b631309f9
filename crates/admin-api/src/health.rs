//! Liveness (no auth, touches nothing) and readiness (every database answers).

use crate::error::{AppError, Problem};
use crate::extract::Json;
use crate::state::AppState;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The endpoints of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
}

/// A health answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` for liveness, `ready` for readiness.
    pub status: String,
    /// Readiness only: where the stores live, `sqlite` (files under the data directory) or
    /// `postgres` (`--database-url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// Liveness: the process answers. No auth, no I/O.
#[utoipa::path(get, path = "/admin/health", tag = "health", security(()),
    responses((status = 200, description = "The server is alive", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        database: None,
    })
}

/// Readiness: every database answers a query and the admin database takes a write. Auth is
/// optional unless the server runs with `--ready-requires-auth`.
#[utoipa::path(get, path = "/admin/ready", tag = "health", security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Every database is reachable", body = Health),
        (status = 401, description = "Missing or invalid token (only with `--ready-requires-auth`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn ready(State(state): State<AppState>) -> Result<Json<Health>, AppError> {
    let database = state.inner().database.kind().to_owned();
    state.blocking(crate::stores::check_ready).await.map(|()| {
        Json(Health {
            status: "ready".into(),
            database: Some(database),
        })
    })
}
