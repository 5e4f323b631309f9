//! Dev-mode: module manifests drafted, published as versions, and rolled back.
//!
//! Life of a manifest: `POST /admin/dev/drafts` stores any JSON object as a draft (work in
//! progress need not be complete); `PUT` replaces it under `If-Match`; `POST
//! …/drafts/{id}/publish` validates it fully (422 listing every problem) and appends it as the
//! module's new current version, updating the module catalogue in the same transaction.
//!
//! Decisions, so clients can rely on them:
//! * A published draft is kept, read-only, in state `published` with the version it became
//!   (an audit trail of who-published-what); editing or publishing it again is 409, deleting it
//!   is allowed and leaves the version history untouched.
//! * Version numbers are per module, 1 for the first publish, +1 per publish or rollback,
//!   never reused; the highest version is current. Modules loaded from the catalogue file have
//!   no dev history until their first publish.
//! * Publishing keeps a module's enabled state; a module new to the catalogue starts
//!   **disabled**, so nothing routes to it before its credentials are set and an admin enables
//!   it (`POST /admin/modules/{id}/enable`); from then on routing may use it.
//! * Rollback to version N appends a copy of N's manifest as a new version whose
//!   `source_version` is N. An unknown module or version is 404; rolling back to the version
//!   that is already current is 409 (it would change nothing, and a no-op version would only
//!   blur the history).
//! * `If-Match`: required on `PUT` of a draft (428 without, 412 when stale, `*` opts out);
//!   honoured when present on draft `DELETE`, publish (the draft's ETag) and rollback (the
//!   module's current version ETag, as sent by the versions list).

pub mod drafts;
pub mod handlers;
pub mod manifest;
pub mod versions;

pub use handlers::router;

use crate::error::{AppError, PROBLEM_JSON};
use crate::routing::store::Precondition;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use manifest::FieldProblem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The `If-Match` header as text, if any.
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

/// Checks an `If-Match` value against the ETag `want` of `what`, with the same rules as the
/// routing endpoints: `*` matches anything, a list matches when one of its tags does (strong
/// comparison), absent is 428 when [`Precondition::Required`].
pub fn check_etag(
    header: Option<&str>,
    want: &str,
    rule: Precondition,
    what: &str,
) -> Result<(), AppError> {
    let Some(header) = header else {
        return match rule {
            Precondition::Required => Err(AppError::PreconditionRequired),
            Precondition::Optional => Ok(()),
        };
    };
    if header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == want)
    {
        Ok(())
    } else {
        Err(AppError::PreconditionFailed(format!(
            "If-Match does not match the current revision of {what} (ETag {want}); re-read it \
             and retry"
        )))
    }
}

/// A dev-mode failure: an ordinary [`AppError`], or a manifest that fails validation.
#[derive(Debug)]
pub enum DevError {
    /// Any other error, rendered as usual.
    App(AppError),
    /// The manifest's problems (422 `validation-failed` with an `errors` member).
    Invalid(Vec<FieldProblem>),
}

impl From<AppError> for DevError {
    fn from(err: AppError) -> Self {
        Self::App(err)
    }
}

impl From<rusqlite::Error> for DevError {
    fn from(err: rusqlite::Error) -> Self {
        Self::App(err.into())
    }
}

/// The 422 problem of an invalid manifest: RFC 9457 fields plus the extension member
/// `errors`, one entry per problem.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ValidationProblem {
    /// `…/validation-failed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `Validation failed`.
    pub title: String,
    /// 422.
    pub status: u16,
    /// Every problem in one sentence.
    pub detail: String,
    /// Every problem, with a JSON pointer into the manifest.
    pub errors: Vec<FieldProblem>,
}

impl ValidationProblem {
    /// The problem document for `errors`.
    pub fn new(errors: Vec<FieldProblem>) -> Self {
        let listed = errors
            .iter()
            .map(|p| {
                let at = if p.pointer.is_empty() {
                    "(document)"
                } else {
                    &p.pointer
                };
                format!("{at} {}", p.detail)
            })
            .collect::<Vec<_>>()
            .join("; ");
        let noun = if errors.len() == 1 {
            "problem"
        } else {
            "problems"
        };
        let base = AppError::Unprocessable(format!(
            "the manifest has {} {noun}: {listed}",
            errors.len()
        ))
        .problem();
        Self {
            kind: base.kind,
            title: base.title,
            status: base.status,
            detail: base.detail,
            errors,
        }
    }
}

impl IntoResponse for DevError {
    fn into_response(self) -> Response {
        match self {
            Self::App(err) => err.into_response(),
            Self::Invalid(errors) => {
                let body = serde_json::to_vec(&ValidationProblem::new(errors)).unwrap_or_default();
                let mut response =
                    (axum::http::StatusCode::UNPROCESSABLE_ENTITY, body).into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
                response
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_rules_match_the_routing_endpoints() {
        let want = "\"draft-1-r2\"";
        let ok = |h: Option<&str>, rule| check_etag(h, want, rule, "draft 1").is_ok();
        assert!(ok(Some(want), Precondition::Required));
        assert!(ok(Some("\"x\", \"draft-1-r2\""), Precondition::Required));
        assert!(ok(Some("*"), Precondition::Required));
        assert!(ok(None, Precondition::Optional));
        assert!(matches!(
            check_etag(None, want, Precondition::Required, "draft 1"),
            Err(AppError::PreconditionRequired)
        ));
        for stale in ["\"draft-1-r1\"", "W/\"draft-1-r2\"", "draft-1-r2"] {
            assert!(matches!(
                check_etag(Some(stale), want, Precondition::Optional, "draft 1"),
                Err(AppError::PreconditionFailed(_))
            ));
        }
    }

    #[test]
    fn the_validation_problem_lists_every_problem_in_its_detail() {
        let problem = ValidationProblem::new(vec![
            FieldProblem {
                pointer: String::new(),
                detail: "a manifest must be a JSON object".into(),
            },
            FieldProblem {
                pointer: "/id".into(),
                detail: "is required".into(),
            },
        ]);
        assert_eq!(problem.status, 422);
        assert!(problem.kind.ends_with("/validation-failed"));
        assert_eq!(
            problem.detail,
            "the manifest has 2 problems: (document) a manifest must be a JSON object; /id is required"
        );
    }
}
