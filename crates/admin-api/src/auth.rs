//! Bearer-token authentication for every route but liveness (and readiness, unless
//! configured). The token is compared in constant time; a missing and a wrong token get the
//! same 401, so a client learns nothing about which it was.

use crate::error::AppError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// Routes that never require the token.
pub const LIVENESS_PATH: &str = "/admin/health";
/// The readiness route (token optional unless `--ready-requires-auth`).
pub const READINESS_PATH: &str = "/admin/ready";

/// Middleware: lets the request through when it carries the right bearer token.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let open =
        path == LIVENESS_PATH || (path == READINESS_PATH && !state.inner().ready_requires_auth);
    if open || bearer_ok(&request, &state.inner().token.0) {
        return next.run(request).await;
    }
    let mut response = AppError::Unauthorized.into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn bearer_ok(request: &Request, expected: &str) -> bool {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && token_eq(token.trim(), expected)
}

/// Constant-time comparison: the time taken depends only on the expected token's length,
/// never on where the given token first differs nor on its length.
pub fn token_eq(given: &str, expected: &str) -> bool {
    let (given, expected) = (given.as_bytes(), expected.as_bytes());
    let mut same = (given.len() as u64).ct_eq(&(expected.len() as u64));
    for (i, byte) in expected.iter().enumerate() {
        same &= given.get(i).copied().unwrap_or(0).ct_eq(byte);
    }
    same.into()
}

#[cfg(test)]
mod tests {
    use super::token_eq;

    #[test]
    fn token_compare_is_exact() {
        assert!(token_eq("abcdefgh", "abcdefgh"));
        assert!(!token_eq("abcdefg", "abcdefgh"));
        assert!(!token_eq("abcdefghi", "abcdefgh"));
        assert!(!token_eq("abcdefgX", "abcdefgh"));
        assert!(!token_eq("", "abcdefgh"));
    }
}
