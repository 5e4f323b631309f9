//! `GET /admin/metrics` (behind the token) and the middleware that feeds it: every answer is
//! counted into [`crate::metrics::Metrics`] by route template, method and status.

use crate::metrics::OPENMETRICS;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The middleware that counts every answer (outermost, so 401s, 408s and 413s count too).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state
        .inner()
        .metrics
        .record(&method, &route, &response, started.elapsed().as_secs_f64());
    response
}

/// The endpoints of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus metrics: requests and latency by route and status, problems by type,
/// trajectories by outcome, decisions by choice.
#[utoipa::path(get, path = "/admin/metrics", tag = "meta",
    responses(
        (status = 200, description = "The metrics in the OpenMetrics text format", content_type = "application/openmetrics-text", body = String),
    ))]
async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.inner().metrics.render().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
    response
}
