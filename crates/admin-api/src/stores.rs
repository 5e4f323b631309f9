//! The boundary to the stores: readiness checks and the one place where their typed errors
//! become [`AppError`]s.

use crate::error::{AppError, error_chain};
use crate::state::Inner;
use admin_store::AdminError;
use policy_store::PolicyError;
use usage_store::UsageError;

/// Where the stores live, as `/admin/ready` and the log say it (never a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// SQLite files under the data directory.
    Sqlite,
    /// A PostgreSQL database; the URL without its password.
    Postgres(String),
}

impl Database {
    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// A database URL with its password (and any query string) replaced, for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split('?').next().unwrap_or(rest);
    let rest = match rest.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or("");
            format!("{user}@{host}")
        }
        None => rest.to_owned(),
    };
    if scheme.is_empty() {
        rest
    } else {
        format!("{scheme}://{rest}")
    }
}

/// The three stores, opened on SQLite under `data_dir` or on PostgreSQL at `database_url`.
pub type Stores = (
    std::sync::Arc<dyn admin_store::AdminBackend>,
    std::sync::Arc<dyn usage_store::UsageBackend>,
    std::sync::Arc<dyn policy_store::PolicyBackend>,
    Database,
);

/// Opens the stores: PostgreSQL when `database_url` is given (each store in its own schema),
/// else SQLite files under `data_dir` (created owner-only). The one place that names the
/// backends' types.
pub fn open_stores(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    schema_prefix: &str,
    policy_config: otc_policy::PolicyConfig,
) -> Result<Stores, crate::start_error::StartError> {
    use crate::start_error::StartError;
    use std::sync::Arc;
    let store = |what: &str, e: &(dyn std::error::Error + 'static)| {
        StartError::Store(format!("{what}: {}", error_chain(e)))
    };
    match database_url {
        Some(url) => {
            let shown = redact_url(url);
            tracing::info!(database = %shown, "stores on PostgreSQL");
            let schema = |store: &str| format!("{schema_prefix}{store}");
            let admin = admin_store_postgres::PostgresAdminStore::open(url, &schema("admin"))?;
            let usage = usage_store_postgres::PostgresUsageStore::open(url, &schema("usage"))
                .map_err(|e| store("usage database", &e))?;
            let policy = policy_store_postgres::PostgresPolicyStore::open(
                url,
                &schema("policy"),
                policy_config,
            )
            .map_err(|e| store("policy database", &e))?;
            Ok((
                Arc::new(admin),
                Arc::new(usage),
                Arc::new(policy),
                Database::Postgres(shown),
            ))
        }
        None => {
            for name in ["admin.db", "usage.db", "policy.db"] {
                crate::files::private_database(&data_dir.join(name))?;
            }
            let admin = admin_store_sqlite::SqliteAdminStore::open(&data_dir.join("admin.db"))?;
            let usage = usage_store_sqlite::SqliteUsageStore::open(data_dir.join("usage.db"))
                .map_err(|e| store("usage database", &e))?;
            let policy = policy_store_sqlite::SqlitePolicyStore::open(
                &data_dir.join("policy.db"),
                policy_config,
            )
            .map_err(|e| store("policy database", &e))?;
            Ok((
                Arc::new(admin),
                Arc::new(usage),
                Arc::new(policy),
                Database::Sqlite,
            ))
        }
    }
}

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
            PolicyError::StorageFull(_) => Self::StorageFull,
            // The cause is logged (never sent), so it carries the backend's error chain.
            PolicyError::Storage(_) => Self::internal(error_chain(&err)),
            // Everything else is a server-side fault: a corrupt row, a bad config.
            // The cause is logged, never sent.
            other => Self::internal(other),
        }
    }
}

#[cfg(test)]
mod url_tests {
    use super::redact_url;

    #[test]
    fn a_database_url_is_shown_without_its_password() {
        assert_eq!(
            redact_url("postgres://admin:S3cr3t@db:5432/otc?sslmode=disable&password=x"),
            "postgres://admin@db:5432/otc"
        );
        assert_eq!(redact_url("postgres://db/otc"), "postgres://db/otc");
        assert_eq!(redact_url("postgres://u:p:q@h/d"), "postgres://u@h/d");
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
}
