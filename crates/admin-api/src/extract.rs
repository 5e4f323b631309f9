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
        let bytes = checked_body(req, state, &["application/json"]).await?;
        // Malformed JSON is a 400 whatever it starts with: only a well-formed array is the
        // wrong shape.
        if is_array(&bytes) && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
            // serde reads a struct from an array of its fields in order too, so without this
            // `["x", ["a"]]` would pass for `{"intent": "x", "modules": ["a"]}`. Every body
            // this extractor reads is documented as an object.
            return Err(AppError::Unprocessable(
                "expected a JSON object, not an array".into(),
            ));
        }
        decode(&bytes).map(Self)
    }
}

/// Whether the body's top-level value is an array (its first byte past JSON whitespace is
/// `[`).
pub fn is_array(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        == Some(&b'[')
}

/// An RFC 7396 merge patch body: `application/merge-patch+json`, or plain `application/json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MergePatch<T>(pub T);

impl<T, S> FromRequest<S> for MergePatch<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        json_body(
            req,
            state,
            &["application/merge-patch+json", "application/json"],
        )
        .await
        .map(Self)
    }
}

/// A body checked as [`Json`] checks it before decoding (media type, size, no duplicate member
/// names), for a handler that decodes it its own way with [`decode`]'s rejections (e.g.
/// straight into a struct when it can, through a `serde_json::Value` to point at a problem
/// when not).
#[derive(Debug, Clone)]
pub struct JsonBytes(pub axum::body::Bytes);

impl<S> FromRequest<S> for JsonBytes
where
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        checked_body(req, state, &["application/json"])
            .await
            .map(Self)
    }
}

/// Reads a JSON body whose media type is one of `media` (parameters such as `charset`
/// aside; the document lists exactly these), refusing duplicate member names.
async fn json_body<T: DeserializeOwned, S: Send + Sync>(
    req: Request,
    state: &S,
    media: &[&str],
) -> Result<T, AppError> {
    decode(&checked_body(req, state, media).await?)
}

/// Decodes a body the extractors checked (media type, size, duplicate names), with [`Json`]'s
/// rejections.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    match axum::Json::<T>::from_bytes(bytes) {
        Ok(axum::Json(value)) => Ok(value),
        Err(rejection) => Err(json_rejection(&rejection)),
    }
}

/// The body of a request whose media type is one of `media`, within the size limit and
/// without duplicate member names (not yet known to be JSON: the decode says).
async fn checked_body<S: Send + Sync>(
    req: Request,
    state: &S,
    media: &[&str],
) -> Result<axum::body::Bytes, AppError> {
    if !has_media_type(req.headers(), media) {
        return Err(AppError::UnsupportedMediaType(format!(
            "expected a body with Content-Type: {}",
            media.join(" or ")
        )));
    }
    let bytes = axum::body::Bytes::from_request(req, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::BadRequest("the request body could not be read".into())
            }
        })?;
    reject_duplicate_names(&bytes).map_err(AppError::BadRequest)?;
    Ok(bytes)
}

/// Whether the request's `Content-Type` is one of `media`, parameters aside.
fn has_media_type(headers: &axum::http::HeaderMap, media: &[&str]) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|essence| media.contains(&essence.as_str()))
}

/// Duplicate member names in a JSON object are refused everywhere (400), because parsers
/// disagree on them (first wins, last wins, error): a body that two components would read
/// differently is ambiguous, and typed fields, maps and free-form documents used to treat it
/// three different ways. The name is repeated in the message only when it is a plain name.
/// A body that is not JSON at all passes here and is reported by the typed parse.
pub fn reject_duplicate_names(bytes: &[u8]) -> Result<(), String> {
    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::collections::HashSet;

    /// Walks any JSON value, failing on the first object that repeats a member name.
    struct UniqueNames;

    impl<'de> de::Deserialize<'de> for UniqueNames {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(UniqueNames)
        }
    }

    impl<'de> Visitor<'de> for UniqueNames {
        type Value = UniqueNames;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
            let mut seen = HashSet::new();
            while let Some(name) = map.next_key::<String>()? {
                if !seen.insert(name.clone()) {
                    return Err(de::Error::custom(DUPLICATE_MARK.to_owned() + &name));
                }
                map.next_value::<UniqueNames>()?;
            }
            Ok(self)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
            while seq.next_element::<UniqueNames>()?.is_some() {}
            Ok(self)
        }

        fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_unit<E>(self) -> Result<Self, E> {
            Ok(self)
        }
    }

    const DUPLICATE_MARK: &str = "duplicate member name: ";
    let _ = IgnoredAny;
    let Err(err) = serde_json::from_slice::<UniqueNames>(bytes) else {
        return Ok(());
    };
    let text = err.to_string();
    let Some(rest) = text.strip_prefix(DUPLICATE_MARK) else {
        // Not JSON, or not only JSON: the typed parse says what is wrong.
        return Ok(());
    };
    let name = rest.split(" at line ").next().unwrap_or("");
    let named = if !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        format!("`{name}`")
    } else {
        "a member name".to_owned()
    };
    Err(format!(
        "the body repeats {named} in one object at line {} column {}; member names must be \
         unique",
        err.line(),
        err.column()
    ))
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
        if !query_is_utf8(parts.uri.query().unwrap_or("")) {
            // Decoded lossily, `%FF` would silently become U+FFFD and name another tenant.
            return Err(AppError::BadRequest(
                "the query string is not valid UTF-8 once percent-decoded".into(),
            ));
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(err)) => Err(AppError::BadRequest(
                client_words(&serde_detail(&err.body_text())),
            )),
            Err(_) => Err(AppError::BadRequest("invalid query string".into())),
        }
    }
}

/// Whether every name and value of a query string is UTF-8 once percent-decoded (`+` is a
/// space; a `%` not followed by two hex digits stands for itself, as in form decoding).
fn query_is_utf8(query: &str) -> bool {
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    query.split(['&', '=']).all(|part| {
        let raw = part.as_bytes();
        let mut bytes = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            match (
                raw[i],
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) {
                (b'%', Some(high), Some(low)) => {
                    bytes.push(high << 4 | low);
                    i += 3;
                }
                (b'+', _, _) => {
                    bytes.push(b' ');
                    i += 1;
                }
                (b, _, _) => {
                    bytes.push(b);
                    i += 1;
                }
            }
        }
        std::str::from_utf8(&bytes).is_ok()
    })
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
/// Rust type names ("expected i64") said in JSON's words. Also the trajectory parser's, whose
/// members include unsigned integers (`decision_id`, `answered_at`).
pub(crate) fn client_words(text: &str) -> String {
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
    fn duplicate_member_names_are_refused_at_any_depth() {
        use super::reject_duplicate_names as check;
        assert!(check(br#"{"a": 1, "b": {"a": 2}, "c": [{"a": 1}, {"a": 1}]}"#).is_ok());
        let top = check(br#"{"limit": 1, "limit": 2}"#).expect_err("top level");
        assert!(top.contains("`limit`") && top.contains("line 1"), "{top}");
        let deep = check(br#"{"a": [{"x": {"k": 1, "k": 2}}]}"#).expect_err("nested");
        assert!(deep.contains("`k`"), "{deep}");
        // A name that is not a plain name is not repeated back.
        let odd = check(br#"{"S3cr3t value": 1, "S3cr3t value": 2}"#).expect_err("odd name");
        assert!(
            !odd.contains("S3cr3t") && odd.contains("a member name"),
            "{odd}"
        );
        // Not JSON: left to the typed parse, which reports the syntax error.
        assert!(check(b"{not json").is_ok());
    }

    #[test]
    fn a_query_must_be_utf8_once_decoded() {
        use super::query_is_utf8;
        for ok in [
            "",
            "tenant=acme",
            "a=%C3%A9t%C3%A9",
            "a=100%",
            "a=%zz",
            "a=b+c&d",
        ] {
            assert!(query_is_utf8(ok), "{ok}");
        }
        for bad in ["tenant=%FF", "%C3=1", "a=%C3", "a=x&b=%80%80"] {
            assert!(!query_is_utf8(bad), "{bad}");
        }
    }

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
