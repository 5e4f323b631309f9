//! Extractor wrappers whose rejections are problem+json like every other error.
//!
//! axum's own `Json`, `Query` and `Path` reject with plain-text bodies; these wrappers run
//! them and turn the rejection into an [`AppError`]. Rejection details do not echo the
//! request's string values (a credential sent with the wrong shape must not come back in the
//! error): quoted text in serde's messages is masked, and so is the value serde names in
//! "unknown variant". What does come back: field names (serde quotes them with backticks, and
//! an unknown field is named so the client can find it), numbers, and the expected types.

use crate::error::AppError;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A JSON body (request) or JSON response whose rejections are problem+json.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: &JsonRejection) -> AppError {
    match rejection {
        JsonRejection::JsonDataError(err) => {
            AppError::Unprocessable(client_words(&serde_detail(&err.body_text())))
        }
        JsonRejection::JsonSyntaxError(err) => {
            AppError::BadRequest(client_words(&serde_detail(&err.body_text())))
        }
        JsonRejection::MissingJsonContentType(_) => AppError::UnsupportedMediaType(
            "expected a body with Content-Type: application/json".into(),
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
        _ => AppError::BadRequest("the request body could not be read".into()),
    }
}

/// A query string deserialized into `T`; unknown or malformed values are a 400 problem.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(err)) => Err(AppError::BadRequest(
                client_words(&serde_detail(&err.body_text())),
            )),
            Err(_) => Err(AppError::BadRequest("invalid query string".into())),
        }
    }
}

/// Path parameters deserialized into `T`; a malformed parameter is a 400 problem.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(err)) => {
                Err(AppError::BadRequest(path_detail(err.kind())))
            }
            Err(_) => Err(AppError::BadRequest("invalid path parameters".into())),
        }
    }
}

/// The detail of a malformed path parameter: the same sentence for every endpoint, without
/// the value sent or a Rust type name (axum's own text says "Cannot parse `abc` to a `i64`").
fn path_detail(kind: &ErrorKind) -> String {
    let expected = match kind {
        ErrorKind::ParseErrorAtKey { expected_type, .. }
        | ErrorKind::ParseErrorAtIndex { expected_type, .. }
        | ErrorKind::ParseError { expected_type, .. } => Some(*expected_type),
        _ => None,
    };
    match expected {
        Some(t) if t.starts_with('i') || t.starts_with('u') => {
            "a number in the path is malformed: expected a whole number".into()
        }
        _ => "invalid path parameters".into(),
    }
}

/// A serde message as a client should read it: string values masked ([`mask_quoted`]) and
/// Rust type names ("expected i64") said in JSON's words.
fn client_words(text: &str) -> String {
    let mut text = mask_quoted(text);
    for (rust, json) in [
        ("f64", "a number"),
        ("f32", "a number"),
        ("i64", "an integer"),
        ("i32", "an integer"),
        ("u64", "a whole number"),
        ("u32", "a whole number"),
        ("u16", "a whole number"),
        ("u8", "a whole number"),
        ("usize", "a whole number"),
    ] {
        text = text.replace(&format!("expected {rust}"), &format!("expected {json}"));
    }
    text.replace("invalid digit found in string", "not a whole number")
}

/// Drops axum's prefix ("Failed to deserialize the JSON body into the target type: ") so the
/// detail is serde's own sentence.
fn serde_detail(text: &str) -> String {
    match text.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("Failed to") => rest.to_owned(),
        _ => text.to_owned(),
    }
}

/// Replaces the content of every double-quoted span with `…`, and the value after serde's
/// "unknown variant", so string values the client sent are not reflected in an error (field
/// names are quoted with backticks by serde and survive).
pub fn mask_quoted(text: &str) -> String {
    const VARIANT: &str = "unknown variant `";
    let text = match text.split_once(VARIANT) {
        Some((head, rest)) => match rest.split_once('`') {
            Some((_, tail)) => format!("{head}{VARIANT}…`{tail}"),
            None => format!("{head}{VARIANT}…"),
        },
        None => text.to_owned(),
    };
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for ch in text.chars() {
        if ch == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(ch);
        }
    }
    if inside {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{client_words, mask_quoted};

    #[test]
    fn rust_type_names_become_json_words() {
        assert_eq!(
            client_words("invalid type: string \"x\", expected i64 at line 1 column 9"),
            "invalid type: string \"…\", expected an integer at line 1 column 9"
        );
        assert_eq!(
            client_words("invalid type: boolean `true`, expected f64"),
            "invalid type: boolean `true`, expected a number"
        );
        assert_eq!(
            client_words("to_ms: invalid digit found in string"),
            "to_ms: not a whole number"
        );
    }

    #[test]
    fn quoted_values_are_masked_and_field_names_survive() {
        assert_eq!(
            mask_quoted("invalid type: string \"hunter2\", expected u64 for `units`"),
            "invalid type: string \"…\", expected u64 for `units`"
        );
        assert_eq!(mask_quoted("unterminated \"abc"), "unterminated \"…");
        // Regression: `{"period": "sk-live-secret"}` came back as "unknown variant
        // `sk-live-secret`"; the expected variants are ours and stay.
        assert_eq!(
            mask_quoted("unknown variant `sk-live-secret`, expected `day` or `month` at line 1"),
            "unknown variant `…`, expected `day` or `month` at line 1"
        );
    }
}
