//! The boundary to the stores: readiness checks and the one place where their typed errors
//! become [`AppError`]s.

use crate::error::{AppError, ProblemItem, error_chain};
use crate::state::Inner;
use admin_store::AdminError;
use otc_policy::evaluate::EvaluateError;
use policy_store::PolicyError;
use usage_store::UsageError;

/// Every store answers a trivial query and the admin store takes a one-row write; otherwise
/// 503 (`storage-unavailable` when the disk is full).
pub fn check_ready(inner: &Inner) -> Result<(), AppError> {
    inner.admin.check_ready().map_err(|e| match e {
        AdminError::StorageFull(_) => AppError::StorageFull,
        other => AppError::Unavailable(format!("admin database: {}", error_chain(&other))),
    })?;
    inner.policy.check_ready().map_err(|e| match e {
        PolicyError::StorageFull(_) => AppError::StorageFull,
        other => AppError::Unavailable(format!("policy database: {}", error_chain(&other))),
    })?;
    inner.usage.check_ready().map_err(|e| match e {
        UsageError::StorageFull(_) => AppError::StorageFull,
        other => AppError::Unavailable(format!("usage database: {}", error_chain(&other))),
    })?;
    Ok(())
}

impl From<AdminError> for AppError {
    fn from(err: AdminError) -> Self {
        match err {
            AdminError::NotFound(detail) => Self::NotFound(detail),
            AdminError::Invalid(detail) => Self::Unprocessable(detail),
            AdminError::InvalidFields(items) => {
                Self::InvalidItems(items.into_iter().map(Into::into).collect())
            }
            AdminError::Conflict(detail) => Self::Conflict(detail),
            AdminError::PreconditionRequired => Self::PreconditionRequired,
            AdminError::PreconditionFailed(detail) => Self::PreconditionFailed(detail),
            AdminError::StorageFull(_) => Self::StorageFull,
            // A damaged row or a failing backend: logged with its causes, never sent.
            other @ (AdminError::Corrupt(_) | AdminError::Storage(_)) => {
                Self::internal(error_chain(&other))
            }
        }
    }
}

impl From<UsageError> for AppError {
    fn from(err: UsageError) -> Self {
        match err {
            UsageError::InvalidInput { .. } => Self::Unprocessable(err.to_string()),
            UsageError::QuotaExhausted { period_end_ms, .. } => {
                // The quota resets when its period ends; before then a retry cannot succeed.
                let wait_ms = period_end_ms.saturating_sub(jiff::Timestamp::now().as_millisecond());
                Self::QuotaExhausted {
                    detail: err.to_string(),
                    retry_after_s: (wait_ms > 0).then(|| (wait_ms as u64).div_ceil(1000)),
                }
            }
            UsageError::IdempotencyConflict { .. } => Self::Conflict(err.to_string()),
            UsageError::BatchTooLarge { .. } => Self::Unprocessable(err.to_string()),
            UsageError::StorageFull(_) => Self::StorageFull,
            // The cause is logged (never sent), so it carries the backend's error chain.
            UsageError::Storage(_) => Self::internal(error_chain(&err)),
        }
    }
}

impl From<PolicyError> for AppError {
    fn from(err: PolicyError) -> Self {
        match err {
            PolicyError::Invalid(e) => Self::Unprocessable(e.to_string()),
            PolicyError::InvalidBatch(items) => Self::InvalidItems(
                items
                    .iter()
                    .map(|i| crate::otc::item_problem(i.index, &i.error))
                    .collect(),
            ),
            // Like metering's reused idempotency key: a client bug, not a retry.
            PolicyError::Conflict(item) => Self::Conflict(item.to_string()),
            PolicyError::ConflictBatch(items) => crate::otc::conflict_items(items),
            // A data fault with a known repair: its own problem type saying how to repair it.
            // The decoder's reason is internal; it is logged here because the problem does not
            // carry it.
            PolicyError::CorruptCheckpoint {
                intent,
                modules,
                reason,
            } => {
                tracing::error!(%intent, %modules, %reason, "a policy checkpoint does not decode");
                Self::CorruptCheckpoint { intent, modules }
            }
            PolicyError::Evaluation(err) => evaluation(err),
            PolicyError::StorageFull(_) => Self::StorageFull,
            // The cause is logged (never sent), so it carries the backend's error chain.
            PolicyError::Storage(_) => Self::internal(error_chain(&err)),
            // Everything else is a server-side fault: a corrupt row, a bad config.
            // The cause is logged, never sent.
            other => Self::internal(other),
        }
    }
}

/// An evaluation's error: a refusal and an invalid candidate are the client's (422), a log
/// that cannot be replayed is the server's (500).
fn evaluation(err: EvaluateError) -> AppError {
    match err {
        EvaluateError::Refused(reason) => AppError::EvaluationRefused(reason.to_string()),
        refusal @ EvaluateError::Unsupported { .. } => {
            AppError::EvaluationRefused(refusal.to_string())
        }
        // The endpoint checks the candidate first and points at the members to blame; this
        // is the store's own check of the same rule.
        EvaluateError::InvalidConfig(problem) => AppError::InvalidItems(vec![ProblemItem {
            pointer: "/candidate".to_owned(),
            detail: format!("invalid candidate config: {problem}"),
        }]),
        // Also checked by the endpoint first, member by member.
        EvaluateError::InvalidScope(_) => AppError::InvalidItems(vec![ProblemItem {
            pointer: "/scope".to_owned(),
            detail: err.to_string(),
        }]),
        // Stored configs are the server's data, but a message that quotes one is masked
        // like a client's, to be sure.
        EvaluateError::Inconsistent(_) | EvaluateError::Fold(_) => {
            AppError::EvaluationFailed(crate::extract::mask_quoted(&err.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_storage_errors_map_by_kind_and_log_their_cause() {
        let full = UsageError::StorageFull(std::io::Error::other("no space left").into());
        assert!(matches!(AppError::from(full), AppError::StorageFull));
        let broken = UsageError::Storage(std::io::Error::other("file is not a database").into());
        let AppError::Internal(cause) = AppError::from(broken) else {
            panic!("a storage failure is internal");
        };
        assert_eq!(cause, "usage storage failed: file is not a database");
    }

    #[test]
    fn policy_storage_errors_map_by_kind_and_log_their_cause() {
        let full = PolicyError::StorageFull(std::io::Error::other("no space left").into());
        assert!(matches!(AppError::from(full), AppError::StorageFull));
        let broken = PolicyError::Storage(std::io::Error::other("file is not a database").into());
        let AppError::Internal(cause) = AppError::from(broken) else {
            panic!("a storage failure is internal");
        };
        assert_eq!(cause, "policy storage failed: file is not a database");
    }

    #[test]
    fn evaluation_errors_are_the_clients_or_the_servers() {
        use otc_policy::offpolicy::OffPolicyError;
        let refused = PolicyError::from(EvaluateError::Refused(OffPolicyError::Empty));
        let AppError::EvaluationRefused(detail) = AppError::from(refused) else {
            panic!("a refusal is the client's");
        };
        assert_eq!(
            detail,
            "no logged decision in scope has a trajectory to evaluate on (the log holds none, or the scope leaves them all out)"
        );
        let invalid = PolicyError::from(EvaluateError::InvalidConfig("tolerance".into()));
        let AppError::InvalidItems(items) = AppError::from(invalid) else {
            panic!("an invalid candidate is the client's");
        };
        assert_eq!(items[0].pointer, "/candidate");
        let damaged = PolicyError::from(EvaluateError::Inconsistent(
            "stored config 2 does not parse: invalid type: string \"x\"".into(),
        ));
        let error = AppError::from(damaged);
        assert_eq!(error.parts().0.as_u16(), 500);
        assert_eq!(
            error.problem().detail,
            "the stored decision log could not be replayed: the log is inconsistent: stored \
             config 2 does not parse: invalid type: string \"…\""
        );
    }
}
