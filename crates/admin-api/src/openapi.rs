//! The OpenAPI document: generated from the handlers' annotations (utoipa), served at
//! `GET /admin/openapi.json`, and committed as `crates/admin-api/openapi.json`.
//!
//! Regenerate the committed copy with
//! `cargo run -p admin-api -- openapi > crates/admin-api/openapi.json`;
//! the test `committed_openapi_is_current` fails while it is stale.

use crate::error::{Problem, ProblemItem};
use crate::state::AppState;
use axum::Extension;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The document's root: metadata, the bearer scheme and the shared schemas. The paths come
/// from the groups merged in [`crate::router::api`].
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "otc admin API",
        description = "The orchestrator's admin server: modules, credentials, routing, billing, \
dev-mode, health and the OTC tool-call policy. Every route but `GET /admin/health` needs \
`Authorization: Bearer <token>`. Every error is RFC 9457 `application/problem+json`."
    ),
    components(schemas(Problem, ProblemItem)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "modules", description = "The module catalogue"),
        (name = "credentials", description = "Module credentials, encrypted at rest, never returned"),
        (name = "routing", description = "Versioned routing config with If-Match"),
        (name = "billing", description = "Run-unit metering, usage, history and quota"),
        (name = "dev", description = "Dev-mode: module manifest drafts, versions and rollback"),
        (name = "otc", description = "The OTC tool-call policy"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The rendered document, shared with the handler.
#[derive(Debug)]
pub struct RenderedDoc(pub String);

/// The endpoints of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// Renders a document the way it is served and committed: pretty JSON and a final newline.
pub fn render(doc: &utoipa::openapi::OpenApi) -> String {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
    text.push('\n');
    text
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/admin/openapi.json", tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn openapi_json(Extension(doc): Extension<Arc<RenderedDoc>>) -> Response {
    let mut response = doc.0.clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
