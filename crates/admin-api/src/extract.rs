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
            AppError::Unprocessable(client_words(&data_error_detail(err)))
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

/// The detail of a body of the wrong shape: the path to the offending member, with any
/// segment that is not a plain name masked (a map key is the client's text), then serde's
/// message.
fn data_error_detail(err: &axum::extract::rejection::JsonDataError) -> String {
    type PathError = serde_path_to_error::Error<serde_json::Error>;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(found) = current.downcast_ref::<PathError>() {
            let path: Vec<String> = found
                .path()
                .iter()
                .filter(|segment| !matches!(segment, serde_path_to_error::Segment::Unknown))
                .map(|segment| match segment {
                    serde_path_to_error::Segment::Seq { index } => index.to_string(),
                    serde_path_to_error::Segment::Map { key } if plain_name(key) => key.clone(),
                    serde_path_to_error::Segment::Enum { variant } if plain_name(variant) => {
                        variant.clone()
                    }
                    _ => "…".to_owned(),
                })
                .collect();
            let inner = found.inner().to_string();
            return if path.is_empty() {
                inner
            } else {
                format!("{}: {inner}", path.join("."))
            };
        }
        source = current.source();
    }
    serde_detail(&err.body_text())
}

/// Whether an identifier the client sent may be repeated in an error: a plain name (1 to 64
/// letters, digits, `_`, `-`, `.`, `:`). Anything else (quotes, spaces, free text) is masked,
/// so no error echoes what the client wrote beyond a name it chose to identify something.
pub fn plain_name(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// Drops axum's prefix ("Failed to deserialize the JSON body into the target type: ") so the
/// detail is serde's own sentence.
fn serde_detail(text: &str) -> String {
    match text.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("Failed to") => rest.to_owned(),
        _ => text.to_owned(),
    }
}

pub use admin_store::redact::mask_quoted;

#[cfg(test)]
mod tests {
    use super::client_words;

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
}
