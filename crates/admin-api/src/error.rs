//! `AppError`: every failure the API reports, rendered as RFC 9457 `application/problem+json`.
//!
//! Handlers return `Result<_, AppError>`; `From` impls let `?` convert store and extractor errors.
//! Internal details (SQL text, file paths, secrets) never reach the client: a server fault is
//! logged here with its cause and answered with a generic 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Base of the problem `type` URIs; the suffix names the problem (e.g. `…/not-found`).
pub const PROBLEM_BASE: &str = "https://otc.example/problems/";

/// An RFC 9457 problem document, the body of every error response.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; stable, machine-readable.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short human-readable summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, for a human.
    pub detail: String,
    /// Every problem with the request body, where one was found at a known place (absent
    /// otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemItem>>,
}

impl From<admin_store::FieldProblem> for ProblemItem {
    fn from(problem: admin_store::FieldProblem) -> Self {
        Self {
            pointer: problem.pointer,
            detail: problem.detail,
        }
    }
}

/// One problem with a request body (RFC 9457's `errors` extension member): where, as an
/// RFC 6901 JSON pointer into the body (`/3` is the fourth item of a batch, `/tools/0/name` a
/// field of a manifest, empty for the body as a whole), and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct ProblemItem {
    /// JSON pointer to the offending member of the request body.
    pub pointer: String,
    /// What is wrong there.
    pub detail: String,
}

/// The `detail` of a problem with items: how many, and the first few spelled out.
fn describe_items(items: &[ProblemItem]) -> String {
    const SHOWN: usize = 5;
    let listed: Vec<String> = items
        .iter()
        .take(SHOWN)
        .map(|i| {
            let at = if i.pointer.is_empty() {
                "(body)"
            } else {
                i.pointer.as_str()
            };
            format!("{at} {}", i.detail)
        })
        .collect();
    let more = match items.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!("; and {n} more"),
    };
    let noun = if items.len() == 1 {
        "problem"
    } else {
        "problems"
    };
    format!(
        "the request body has {} {noun}, nothing was changed: {}{more}",
        items.len(),
        listed.join("; ")
    )
}

/// Every error the admin API reports. Each variant has its own status and problem type.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed or fails validation (400).
    #[error("{0}")]
    BadRequest(String),
    /// The bearer token is missing or wrong (401); never says which.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The addressed resource does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The method is not allowed on this route (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request conflicts with the current state, e.g. a route to a disabled module (409).
    #[error("{0}")]
    Conflict(String),
    /// Items of a batch conflict with the current state (409, with an `errors` member listing
    /// each, like a 422 lists invalid items); nothing was written.
    #[error("{detail}")]
    ConflictItems {
        /// The summary, for the problem's detail.
        detail: String,
        /// Every conflicting item, in index order.
        items: Vec<ProblemItem>,
    },
    /// `If-Match` names a version that is no longer current (412).
    #[error("{0}")]
    PreconditionFailed(String),
    /// The request body is larger than the configured limit (413).
    #[error("request body is too large")]
    PayloadTooLarge,
    /// The request body is not JSON (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is well-formed JSON of the wrong shape or fails validation (422).
    #[error("{0}")]
    Unprocessable(String),
    /// The request body has problems at known places (422, with an `errors` member listing
    /// each); nothing was written.
    #[error("{}", describe_items(.0))]
    InvalidItems(Vec<ProblemItem>),
    /// A write requires `If-Match` and the request had none (428).
    #[error("this write requires an If-Match header with the current ETag")]
    PreconditionRequired,
    /// The account's hard quota is exhausted (429, problem type `quota-exhausted`), with a
    /// `Retry-After` header when the quota period ends in the future.
    #[error("{detail}")]
    QuotaExhausted {
        /// What is exhausted, for the problem's detail.
        detail: String,
        /// Seconds until the quota period ends (rounded up), if it ends in the future.
        retry_after_s: Option<u64>,
    },
    /// The request, body included, took longer than `--request-timeout` (408).
    #[error("the request took longer than the server allows; send it again, promptly")]
    RequestTimeout,
    /// The database or another dependency is unreachable (503).
    #[error("{0}")]
    Unavailable(String),
    /// The disk holding the databases is full (503, problem type `storage-unavailable`, with
    /// `Retry-After`): writes fail until space is freed; reads keep working.
    #[error("the server's storage is full: writes fail until space is freed, reads still work")]
    StorageFull,
    /// A real server fault (500). The cause is logged, never sent.
    #[error("internal error")]
    Internal(String),
    /// An off-policy evaluation gives no estimate (422, problem type `evaluation-refused`):
    /// nothing in scope to evaluate on, or a log that cannot support the candidate. The
    /// request was well-formed; more logged (or explored) traffic can change the answer.
    #[error("{0}")]
    EvaluationRefused(String),
    /// The stored log could not be replayed for an evaluation (500, problem type
    /// `evaluation-failed`): damaged or inconsistent data. The detail is the replay's message
    /// (positions and ids in the log, never a file, SQL or a secret); it is logged too.
    #[error("the stored decision log could not be replayed: {0}")]
    EvaluationFailed(String),
    /// A stored policy checkpoint cannot be decoded (500, problem type `corrupt-checkpoint`):
    /// a server-side data fault with a known repair, so the detail names the combination and
    /// the repair; the decoder's reason is logged, never sent.
    #[error(
        "the stored checkpoint of intent {intent:?} with modules {modules:?} could not be decoded; POST /admin/otc/rebuild recomputes it from the trajectory log"
    )]
    CorruptCheckpoint {
        /// Intent class of the checkpoint.
        intent: String,
        /// Its module set, canonical (comma-separated, sorted).
        modules: String,
    },
}

impl AppError {
    /// A server fault whose cause is logged but never sent to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// The problem for the invalid items of a batch: `(index, why)` pairs, in any order,
    /// become items pointing at `/index`, in index order.
    pub fn invalid_batch(mut items: Vec<(usize, String)>) -> Self {
        items.sort_by_key(|(index, _)| *index);
        Self::InvalidItems(
            items
                .into_iter()
                .map(|(index, detail)| ProblemItem {
                    pointer: format!("/{index}"),
                    detail,
                })
                .collect(),
        )
    }

    /// The status, problem-type slug and title of this error.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Self::Conflict(_) | Self::ConflictItems { .. } => {
                (StatusCode::CONFLICT, "conflict", "Conflict")
            }
            Self::PreconditionFailed(_) => (
                StatusCode::PRECONDITION_FAILED,
                "stale-version",
                "Precondition failed",
            ),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            Self::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Self::Unprocessable(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-failed",
                "Validation failed",
            ),
            Self::InvalidItems(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-failed",
                "Validation failed",
            ),
            Self::PreconditionRequired => (
                StatusCode::PRECONDITION_REQUIRED,
                "precondition-required",
                "Precondition required",
            ),
            Self::QuotaExhausted { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "quota-exhausted",
                "Quota exhausted",
            ),
            Self::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                "Request timeout",
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Self::StorageFull => (
                StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "Storage unavailable",
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
            Self::EvaluationRefused(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "evaluation-refused",
                "Evaluation refused",
            ),
            Self::EvaluationFailed(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "evaluation-failed",
                "Evaluation failed",
            ),
            Self::CorruptCheckpoint { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupt-checkpoint",
                "Corrupt checkpoint",
            ),
        }
    }

    /// The problem document sent for this error.
    pub fn problem(&self) -> Problem {
        let (status, slug, title) = self.parts();
        let detail = match self {
            Self::Internal(_) => "the server failed to complete the request".to_owned(),
            Self::Unavailable(_) => "a dependency of the server is unavailable".to_owned(),
            other => other.to_string(),
        };
        Problem {
            kind: format!("{PROBLEM_BASE}{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors: match self {
                Self::InvalidItems(items) | Self::ConflictItems { items, .. } => {
                    Some(items.clone())
                }
                _ => None,
            },
        }
    }
}

/// `err` and each of its causes, outermost first, joined by `": "`: the text a log line needs
/// when the error's own message leaves the cause to its `source()`.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// The problem type of an error response (the suffix of its `type` URI, e.g.
/// `quota-exhausted`), marked on the response so the metrics can count refusals by kind
/// without parsing bodies.
#[derive(Debug, Clone)]
pub struct ProblemType(pub String);

impl ProblemType {
    /// The type of `problem`.
    pub fn of(problem: &Problem) -> Self {
        let kind = problem.kind.rsplit('/').next().unwrap_or(&problem.kind);
        Self(kind.to_owned())
    }
}

/// Renders a problem document with its status and media type.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response.extensions_mut().insert(ProblemType::of(problem));
    response
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(cause) | Self::Unavailable(cause) => {
                tracing::error!(%cause, "request failed with a server fault");
            }
            Self::EvaluationFailed(cause) => {
                tracing::error!(%cause, "the stored log could not be replayed for an evaluation");
            }
            _ => {}
        }
        if let Self::StorageFull = &self {
            tracing::error!("a write failed: the disk holding the databases is full");
        }
        let mut response = problem_response(&self.problem());
        let retry_after = match self {
            Self::QuotaExhausted {
                retry_after_s: Some(seconds),
                ..
            } => Some(seconds),
            // Space is freed by an operator: a retry in a minute may work, sooner rarely.
            Self::StorageFull => Some(STORAGE_RETRY_AFTER_S),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// `Retry-After` of a `storage-unavailable` answer, in seconds.
pub const STORAGE_RETRY_AFTER_S: u64 = 60;

impl From<tokio::task::JoinError> for AppError {
    fn from(err: tokio::task::JoinError) -> Self {
        Self::internal(format!("blocking task failed: {err}"))
    }
}

impl From<serde_json::Error> for AppError {
    fn from(err: serde_json::Error) -> Self {
        Self::internal(format!("json: {err}"))
    }
}

/// The problem for a bare error status that no handler rendered (405 from the router, 413 from
/// the body limit, ...), so every error the server sends is problem+json.
pub fn problem_for_status(status: StatusCode) -> Problem {
    let error = match status {
        StatusCode::NOT_FOUND => AppError::NotFound("no such route".into()),
        StatusCode::METHOD_NOT_ALLOWED => AppError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
        StatusCode::UNAUTHORIZED => AppError::Unauthorized,
        StatusCode::REQUEST_TIMEOUT => AppError::RequestTimeout,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            AppError::UnsupportedMediaType("expected a JSON body".into())
        }
        s if s.is_client_error() => {
            AppError::BadRequest(s.canonical_reason().unwrap_or("bad request").to_lowercase())
        }
        _ => AppError::Internal(format!("unrendered status {status}")),
    };
    let mut problem = error.problem();
    problem.status = status.as_u16();
    problem
}
