//! The `If-Match` header. The rule it feeds (428 when required and missing, 412 when stale,
//! `*` to overwrite) is the admin store's `admin_store::precondition`, the same for every
//! versioned resource.

use crate::error::AppError;
use axum::http::{HeaderMap, header};

/// The `If-Match` header as text, if any (400 when it is not valid text).
pub fn if_match(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    headers
        .get(header::IF_MATCH)
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| AppError::BadRequest("If-Match is not valid text".into()))
        })
        .transpose()
}
