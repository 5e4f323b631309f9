//! The router, assembled in one place: one `.merge(...)` line per endpoint group (which adds
//! both its routes and its OpenAPI paths), then the layers every request passes.

use crate::error::{AppError, PROBLEM_JSON, problem_for_status, problem_response};
use crate::openapi::{ApiDoc, RenderedDoc};
use crate::state::AppState;
use crate::{auth, billing, credentials, health, modules, openapi, otc, routing};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Every endpoint group with its OpenAPI paths. A new group is one `.merge` line here.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(modules::router())
        .merge(credentials::router())
        .merge(routing::router())
        .merge(crate::dev::router())
        .merge(billing::router())
        .merge(otc::router())
        .merge(crate::observe::router())
        .merge(openapi::router())
}

/// The OpenAPI document of [`api`], rendered as served and committed.
pub fn openapi_document() -> String {
    openapi::render(&api().into_openapi())
}

/// The whole HTTP application over `state`.
///
/// Layers, outermost first: `Authorization` marked sensitive (never printed), request
/// tracing (method, path, status, latency; no headers, no bodies), panics turned into a 500
/// problem, bare error statuses (405, 408, 413, ...) turned into problem+json, the request
/// timeout (408, body included), the body limit (413), then bearer auth in front of every
/// route but liveness.
pub fn app(state: AppState) -> Router {
    let body_limit = state.inner().body_limit;
    let request_timeout = state.inner().timeouts.request;
    let (router, doc) = api().split_for_parts();
    let doc = Arc::new(RenderedDoc(openapi::render(&doc)));
    router
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            body_limit,
            read_whole_body,
        ))
        .layer(axum::Extension(doc))
        .layer(DefaultBodyLimit::max(body_limit))
        // Inside the problem layer, so a request that outlives the limit (a client stalling
        // in its body, say) gets a 408 problem.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(axum::middleware::map_response(problem_fallback))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked");
            problem_response(&problem_for_status(StatusCode::INTERNAL_SERVER_ERROR))
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::observe::track,
        ))
        .with_state(state)
}

/// Reads the whole request body (up to the limit) before anything answers.
///
/// A handler that rejects a request early (a bad query, an unknown id, a 401) never reads the
/// body; hyper then closes the connection after the response without saying so, and a client
/// that reuses its keep-alive connection, as HTTP/1.1 clients do, fails its next request with
/// "connection reset". Buffering first keeps every connection reusable whatever the answer.
/// A body over the limit is 413 and the connection is closed, explicitly. This runs before
/// auth, so an oversized body is 413 even without a valid token: answering 401 instead would
/// mean not reading the body, which is what breaks the connection; the 413 reveals only the
/// configured limit.
async fn read_whole_body(
    axum::extract::State(limit): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => {
            next.run(axum::extract::Request::from_parts(parts, bytes.into()))
                .await
        }
        Err(_) => {
            let mut response = AppError::PayloadTooLarge.into_response();
            response.headers_mut().insert(
                header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            response
        }
    }
}

async fn not_found() -> AppError {
    AppError::NotFound("no such route".into())
}

/// Gives every error response that is not already problem+json (the router's 405, a body
/// limit's 413, ...) a problem body with the same status, keeping headers such as `Allow`.
async fn problem_fallback(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let fresh = problem_response(&problem_for_status(status));
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in fresh.headers() {
        parts.headers.insert(name, value.clone());
    }
    let (fresh_parts, body) = fresh.into_parts();
    parts.extensions.extend(fresh_parts.extensions);
    Response::from_parts(parts, body)
}
