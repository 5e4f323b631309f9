//! The server's configuration: `admin-api serve` flags, each with an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Default listen address: loopback only, so a fresh install is not reachable from outside.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Default request body limit in bytes (1 MiB); larger bodies get 413.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Configuration of `admin-api serve`. Its `Debug` redacts the token and the key.
#[derive(Clone, clap::Args)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, env = "ADMIN_API_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Directory holding the SQLite databases, the key file and the token file; created on
    /// first start.
    #[arg(long, env = "ADMIN_API_DATA_DIR", default_value = "admin-data")]
    pub data_dir: PathBuf,

    /// Bearer token clients must send. Prefer the environment variable (a flag is visible in
    /// the process list). When unset, the token is read from --token-file.
    #[arg(long, env = "ADMIN_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// File holding the bearer token [default: DATA_DIR/admin-token, created with a random
    /// token and owner-only permissions on first start].
    #[arg(long, env = "ADMIN_API_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,

    /// Key encrypting credentials at rest, 64 hex characters. When unset, the key is read
    /// from --key-file.
    #[arg(long, env = "ADMIN_API_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// File holding the credential key as hex [default: DATA_DIR/secret.key, created with a
    /// random key and owner-only permissions on first start].
    #[arg(long, env = "ADMIN_API_KEY_FILE")]
    pub key_file: Option<PathBuf>,

    /// Module catalogue loaded into the database on first start [default:
    /// DATA_DIR/modules.json, written from the built-in catalogue if absent].
    #[arg(long, env = "ADMIN_API_MODULES_FILE")]
    pub modules_file: Option<PathBuf>,

    /// Routing config file: version 1 on first start, and what `POST /admin/routing/reload`
    /// reads [default: DATA_DIR/routing.json, written from the built-in config if absent].
    #[arg(long, env = "ADMIN_API_ROUTING_FILE")]
    pub routing_file: Option<PathBuf>,

    /// Policy store configuration as JSON (reward weights, cost normaliser, estimator); the
    /// built-in defaults when unset.
    #[arg(long, env = "ADMIN_API_POLICY_CONFIG")]
    pub policy_config: Option<PathBuf>,

    /// Keep the stores in this PostgreSQL database (`postgres://user[:password]@host[:port]/db`)
    /// instead of SQLite files under the data directory, so that several replicas can share
    /// them. Each store has its own schema (`otc_admin`, `otc_usage`, `otc_policy`; see
    /// `--database-schema-prefix`). The token and the credential key stay files or environment
    /// variables.
    #[arg(long, env = "ADMIN_API_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// With `--database-url`: the stores' schemas are this prefix followed by `admin`, `usage`
    /// and `policy`, so several deployments (or tests) can share one database.
    #[arg(long, env = "ADMIN_API_DATABASE_SCHEMA_PREFIX", default_value = "otc_")]
    pub database_schema_prefix: String,

    /// Delete every stored credential and write a new credential key, then serve. The way to
    /// start again after the key file was lost (the server refuses to start without it while
    /// credentials are stored), and to rotate the key; the secrets must then be set again.
    #[arg(long, env = "ADMIN_API_RESET_CREDENTIALS")]
    pub reset_credentials: bool,

    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "ADMIN_API_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,

    /// Seconds a client may take to send a request's headers; a connection that stalls in
    /// them is closed.
    #[arg(long, env = "ADMIN_API_HEADER_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,

    /// Seconds a request may take from its first byte of body to its answer, reading the body
    /// included; a slower one gets 408 and its connection is closed.
    #[arg(long, env = "ADMIN_API_REQUEST_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,

    /// Seconds to wait, after SIGTERM or Ctrl-C, for in-flight requests to finish before the
    /// remaining connections are closed and the server exits.
    #[arg(long, env = "ADMIN_API_SHUTDOWN_TIMEOUT", default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_timeout: u64,

    /// Require the bearer token on `GET /admin/ready` too (liveness never requires it).
    #[arg(long, env = "ADMIN_API_READY_REQUIRES_AUTH")]
    pub ready_requires_auth: bool,

    /// Log filter in `tracing_subscriber::EnvFilter` syntax (e.g. `info`,
    /// `admin_api=debug,tower_http=debug`).
    #[arg(long, env = "ADMIN_API_LOG", default_value = "info")]
    pub log: String,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("token", &redact(&self.token))
            .field("token_file", &self.token_file)
            .field("secret_key", &redact(&self.secret_key))
            .field("key_file", &self.key_file)
            .field("modules_file", &self.modules_file)
            .field("routing_file", &self.routing_file)
            .field("policy_config", &self.policy_config)
            .field("database_schema_prefix", &self.database_schema_prefix)
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(crate::database::redact_url),
            )
            .field("reset_credentials", &self.reset_credentials)
            .field("body_limit", &self.body_limit)
            .field("header_timeout", &self.header_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("ready_requires_auth", &self.ready_requires_auth)
            .field("log", &self.log)
            .finish()
    }
}

impl ServerConfig {
    /// The defaults for a data directory, as if `admin-api serve --data-dir <dir>` were run
    /// with no other flag and no environment (the tests' in-process servers use this).
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("the default listen address parses"),
            data_dir: data_dir.into(),
            token: None,
            token_file: None,
            secret_key: None,
            key_file: None,
            modules_file: None,
            routing_file: None,
            policy_config: None,
            database_url: None,
            database_schema_prefix: "otc_".into(),
            reset_credentials: false,
            body_limit: DEFAULT_BODY_LIMIT,
            header_timeout: 10,
            request_timeout: 30,
            shutdown_timeout: 20,
            ready_requires_auth: false,
            log: "info".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ServerConfig;

    #[test]
    fn debug_redacts_the_token_and_the_key() {
        let mut config = ServerConfig::for_data_dir("d");
        config.token = Some("tok-tok-tok-tok-tok".into());
        config.secret_key = Some("ab".repeat(32));
        config.database_url = Some("postgres://admin:S3cr3t@db.example:5432/otc".into());
        let text = format!("{config:?}");
        assert!(
            !text.contains("tok-tok") && !text.contains("abab") && !text.contains("S3cr3t"),
            "{text}"
        );
        assert!(text.contains("db.example:5432/otc"), "{text}");
        assert!(text.contains("<redacted>"));
    }
}
