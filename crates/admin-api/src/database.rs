//! Where the stores live: SQLite files under the data directory (the default) or one
//! PostgreSQL database (`--database-url`), and the one place that opens them by backend type.

use crate::error::error_chain;

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

/// Drops the months of the PostgreSQL logs before `cut_ms` in the stores under
/// `schema_prefix` (`admin-api retention`): the policy store's first (its base is folded with
/// `policy_config`), then the usage store's.
pub fn drop_logs_before(
    url: &str,
    schema_prefix: &str,
    policy_config: otc_policy::PolicyConfig,
    cut_ms: i64,
) -> Result<
    (
        policy_store_postgres::RetentionReport,
        usage_store_postgres::EventRetention,
    ),
    crate::start_error::StartError,
> {
    use crate::start_error::StartError;
    let failed = |what: &str, e: &(dyn std::error::Error + 'static)| {
        StartError::Store(format!("{what}: {}", error_chain(e)))
    };
    let policy = policy_store_postgres::PostgresPolicyStore::open(
        url,
        &format!("{schema_prefix}policy"),
        policy_config,
    )
    .map_err(|e| failed("policy database", &e))?;
    let policy_report = policy
        .drop_log_before(cut_ms)
        .map_err(|e| failed("policy retention", &e))?;
    let usage =
        usage_store_postgres::PostgresUsageStore::open(url, &format!("{schema_prefix}usage"))
            .map_err(|e| failed("usage database", &e))?;
    let usage_report = usage
        .drop_events_before(cut_ms)
        .map_err(|e| failed("usage retention", &e))?;
    Ok((policy_report, usage_report))
}

#[cfg(test)]
mod tests {
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
