//! The one way a versioned resource is answered: JSON with its status, its `ETag` and, for
//! something new, its `Location`.

use crate::extract::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A JSON response with `status`, and an `ETag` and a `Location` header when given.
pub fn json(
    status: StatusCode,
    body: impl Serialize,
    etag: Option<&str>,
    location: Option<String>,
) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(header::ETAG, tag);
    }
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    response
}
