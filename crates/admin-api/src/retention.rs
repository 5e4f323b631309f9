//! `admin-api retention`: drops the months of the PostgreSQL logs before a cut (the policy
//! store's trajectory log, reward events and decisions; the usage store's meter events), with
//! each store's own rule (`policy-store-postgres/src/retention.rs`,
//! `usage-store-postgres/src/retention.rs`): checkpoints, roll-ups, quotas and invoices stay
//! exact; the per-row history of those months goes. SQLite files have no partitions: retention
//! needs `--database-url`. Safe while replicas serve (each store's run says how).

use crate::database::redact_url;
use crate::start_error::StartError;
use jiff::Timestamp;
use serde_json::{Value, json};

/// Where the logs are and what to cut.
#[derive(Debug, Clone, clap::Args)]
pub struct RetentionArgs {
    /// Drop every month of the logs that ends at or before this instant: a date
    /// (`2026-06-01`, midnight UTC) or an RFC 3339 time. Must not be in the future. A cut
    /// inside a month keeps that month.
    #[arg(long, value_name = "DATE", value_parser = parse_cut)]
    pub before: i64,

    /// The PostgreSQL database the replicas serve from (as for `serve`).
    #[arg(long, env = "ADMIN_API_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// The stores' schema prefix (as for `serve`).
    #[arg(long, env = "ADMIN_API_DATABASE_SCHEMA_PREFIX", default_value = "otc_")]
    pub database_schema_prefix: String,

    /// The policy configuration the replicas serve with (as for `serve`): the dropped months
    /// are folded into the policy's base with it, so a later rebuild equals the checkpoints.
    #[arg(long, env = "ADMIN_API_POLICY_CONFIG")]
    pub policy_config: Option<std::path::PathBuf>,
}

/// `2026-06-01` (midnight UTC) or an RFC 3339 time, as Unix ms.
pub fn parse_cut(text: &str) -> Result<i64, String> {
    if let Ok(date) = text.parse::<jiff::civil::Date>()
        && !text.contains('T')
    {
        return date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|e| e.to_string());
    }
    text.parse::<Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|e| format!("expected a date (2026-06-01) or an RFC 3339 time: {e}"))
}

/// Runs retention on both PostgreSQL log stores and reports what went, as JSON.
pub fn run(args: &RetentionArgs) -> Result<Value, StartError> {
    let Some(url) = args.database_url.as_deref() else {
        return Err(StartError::Config(
            "retention drops the monthly partitions of the PostgreSQL logs; give --database-url \
             (the SQLite files under a data directory have no partitions)"
                .into(),
        ));
    };
    let mut server = crate::ServerConfig::for_data_dir(std::path::Path::new("."));
    server.policy_config = args.policy_config.clone();
    let policy_config = crate::bootstrap::policy_config(&server)?;
    tracing::info!(database = %redact_url(url), cut_ms = args.before, "retention");
    let (policy, usage) = crate::database::drop_logs_before(
        url,
        &args.database_schema_prefix,
        policy_config,
        args.before,
    )?;
    Ok(json!({
        "cut_ms": args.before,
        "cut": Timestamp::from_millisecond(args.before).map(|t| t.to_string()).ok(),
        "policy": {
            "partitions_dropped": policy.partitions_dropped,
            "trajectories_dropped": policy.trajectories_dropped,
            "decisions_dropped": policy.decisions_dropped,
            "keys_forgotten": policy.keys_forgotten,
            "base_through_id": policy.base_through_id,
        },
        "usage": {
            "partitions_dropped": usage.partitions.iter().map(|p| &p.name).collect::<Vec<_>>(),
            "events_dropped": usage.events_dropped,
            "keys_forgotten": usage.keys_forgotten,
            "kept_from_ms": usage.kept_from_ms,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_parse_as_dates_or_times() {
        assert_eq!(parse_cut("2026-06-01"), Ok(1_780_272_000_000));
        assert_eq!(parse_cut("2026-06-01T00:00:00Z"), Ok(1_780_272_000_000));
        assert_eq!(
            parse_cut("2026-06-01T02:00:00+02:00"),
            Ok(1_780_272_000_000)
        );
        assert!(parse_cut("June").is_err());
        assert!(parse_cut("2026-13-01").is_err());
    }
}
