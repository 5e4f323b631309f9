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
    components(schemas(Problem, ProblemItem, PolicyName, Identifier)),
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

/// A string schema with a pattern and length bounds, for the names below.
fn name_schema(
    description: &str,
    pattern: &str,
    max: usize,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
        .min_length(Some(1))
        .max_length(Some(max))
        .build()
        .into()
}

/// A name the policy accepts (intent, module, request id): 1 to 128 characters of
/// `[A-Za-z0-9._:-]`. Schema only: the fields it describes are `String`s.
#[derive(Debug)]
pub struct PolicyName;

impl utoipa::PartialSchema for PolicyName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        name_schema(
            "A name of the policy (intent, module, request id): 1 to 128 characters of \
             `[A-Za-z0-9._:-]`",
            "^[A-Za-z0-9._:-]{1,128}$",
            128,
        )
    }
}

impl utoipa::ToSchema for PolicyName {}

/// A module id, credential name or routing category name: 1 to 64 characters of
/// `[A-Za-z0-9_.-]`. Schema only.
#[derive(Debug)]
pub struct Identifier;

impl utoipa::PartialSchema for Identifier {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        name_schema(
            "A module id, credential name or routing category name: 1 to 64 characters of \
             `[A-Za-z0-9_.-]`",
            "^[A-Za-z0-9_.-]{1,64}$",
            64,
        )
    }
}

impl utoipa::ToSchema for Identifier {}

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

/// Renders a document the way it is served and committed: the shared error responses added
/// ([`add_shared_responses`]), pretty JSON and a final newline.
pub fn render(doc: &utoipa::openapi::OpenApi) -> String {
    let mut doc = doc.clone();
    add_shared_responses(&mut doc);
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// A problem+json response with `description`.
fn problem_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            crate::error::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}

/// The error responses every operation of a kind can give, written once here instead of in
/// every handler's annotation (a handler states only what is particular to it; where it
/// states a status listed here, its own description wins):
/// * every operation behind the token: 401;
/// * every operation: 408 (the request timeout, body included) and 500 (a server fault,
///   logged, never detailed);
/// * every operation that reads or writes a store: 503 (`unavailable`, or
///   `storage-unavailable` with `Retry-After` when the disk is full);
/// * every operation with a request body: 400 (malformed JSON), 413 (`--body-limit`) and 415
///   (not JSON); every operation with parameters: 400 (a malformed query or path value).
pub fn add_shared_responses(doc: &mut utoipa::openapi::OpenApi) {
    let open = serde_json::json!([{}]);
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let is_open = serde_json::to_value(&operation.security).ok() == Some(open.clone());
            let uses_a_store = !matches!(path.as_str(), "/admin/health" | "/admin/openapi.json");
            let has_body = operation.request_body.is_some();
            let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let shared = [
                (!is_open, "401", "Missing or invalid token"),
                (
                    has_body || has_parameters,
                    "400",
                    "Malformed JSON body, query string or path parameter",
                ),
                (
                    true,
                    "408",
                    "The request, body included, took longer than `--request-timeout`",
                ),
                (
                    has_body,
                    "413",
                    "The body is larger than the limit (`--body-limit`)",
                ),
                (
                    has_body,
                    "415",
                    "The body's `Content-Type` is not one this operation lists",
                ),
                (
                    true,
                    "500",
                    "A server fault; its cause is in the server log, never in the response",
                ),
                (
                    uses_a_store,
                    "503",
                    "A database is unreachable (problem type `unavailable`), or the disk holding \
                     them is full (problem type `storage-unavailable`, with `Retry-After`)",
                ),
            ];
            for (applies, status, description) in shared {
                if applies {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem_response(description));
                }
            }
        }
    }
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/admin/openapi.json", tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object),
    ))]
async fn openapi_json(Extension(doc): Extension<Arc<RenderedDoc>>) -> Response {
    let mut response = doc.0.clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
