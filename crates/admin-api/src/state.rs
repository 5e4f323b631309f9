//! Shared state of the server: the stores, the secret box and the configuration, behind one
//! cheap-to-clone handle.
//!
//! The stores are synchronous, so every store call goes through [`AppState::admin`] (or
//! [`AppState::blocking`]), which runs it on tokio's blocking pool: the async workers never
//! wait on a disk or a lock.

use crate::bootstrap;
use crate::config::ServerConfig;
use crate::crypto::SecretBox;
use crate::error::AppError;
use crate::start_error::StartError;
use admin_store::{AdminBackend, AdminError};
use policy_store::PolicyBackend;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything a handler can reach. Cloning is an `Arc` bump.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// The state proper; reached through [`AppState::blocking`] on the blocking pool.
#[derive(Debug)]
pub struct Inner {
    /// The admin store (`admin.db`): modules, credentials, routing versions, dev-mode.
    pub admin: Arc<dyn AdminBackend>,
    /// The OTC tool-call policy (`policy.db`), behind the backend-neutral trait: handlers call
    /// only trait methods.
    pub policy: Arc<dyn PolicyBackend>,
    /// Run-unit metering, usage, history and quotas (`usage.db`), behind the backend-neutral
    /// trait: handlers call only trait methods.
    pub usage: Arc<dyn usage_store::UsageBackend>,
    /// Encrypts and decrypts credential secrets.
    pub secrets: SecretBox,
    /// The bearer token every request but liveness must carry.
    pub token: crate::crypto::Redacted<String>,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Whether `GET /admin/ready` requires the token too.
    pub ready_requires_auth: bool,
    /// The routing config file that `POST /admin/routing/reload` reads.
    pub routing_file: PathBuf,
    /// The data directory holding the databases.
    pub data_dir: PathBuf,
    /// How long clients may take, and how long shutdown may wait.
    pub timeouts: Timeouts,
    /// What `GET /admin/metrics` exposes.
    pub metrics: crate::metrics::Metrics,
    /// Where the stores live (what `/admin/ready` reports).
    pub database: crate::database::Database,
}

/// The server's time limits (see `--header-timeout`, `--request-timeout`,
/// `--shutdown-timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To send a request's headers.
    pub header: std::time::Duration,
    /// For a request, body included, to be answered.
    pub request: std::time::Duration,
    /// To finish in-flight requests after the shutdown signal.
    pub shutdown: std::time::Duration,
}

impl Timeouts {
    /// The limits `config` asks for.
    pub fn of(config: &ServerConfig) -> Self {
        let secs = std::time::Duration::from_secs;
        Self {
            header: secs(config.header_timeout),
            request: secs(config.request_timeout),
            shutdown: secs(config.shutdown_timeout),
        }
    }
}

impl AppState {
    /// Opens (creating on first start) everything under the configured data directory.
    pub fn open(config: &ServerConfig) -> Result<Self, StartError> {
        let data_dir = config.data_dir.clone();
        crate::files::data_dir(&data_dir)?;
        let token = bootstrap::load_token(config)?;
        // The stores before the key: whether credentials are stored decides whether a missing
        // key file may be created anew.
        let policy_config = bootstrap::policy_config(config)?;
        let (admin, usage, policy, database) = crate::database::open_stores(
            &data_dir,
            config.database_url.as_deref(),
            &config.database_schema_prefix,
            policy_config,
        )?;
        let secrets = bootstrap::load_secret_box(config, admin.as_ref())?;
        let modules_file = bootstrap::modules_file(config)?;
        let routing_file = bootstrap::routing_file(config)?;
        bootstrap::first_start(admin.as_ref(), &modules_file, &routing_file)?;
        // A changed credential key is not an error (the admin may re-set the secrets), but it
        // must not go unnoticed: the check endpoint lists them, and the log says how many.
        let unreadable = bootstrap::count_unreadable(admin.as_ref(), &secrets)?;
        if unreadable > 0 {
            tracing::warn!(
                unreadable,
                "stored credentials do not decrypt with the current credential key; \
                 they count as missing until set again"
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                admin,
                usage,
                policy,
                database,
                secrets,
                token: crate::crypto::Redacted(token),
                body_limit: config.body_limit,
                ready_requires_auth: config.ready_requires_auth,
                routing_file,
                data_dir,
                timeouts: Timeouts::of(config),
                metrics: crate::metrics::Metrics::default(),
            }),
        })
    }

    /// The state proper, for reads that need no database (token, flags).
    pub fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Runs `body` with the admin store on the blocking pool.
    pub async fn admin<T, F>(&self, body: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn AdminBackend) -> Result<T, AdminError> + Send + 'static,
    {
        self.blocking(move |inner| Ok(body(inner.admin.as_ref())?))
            .await
    }

    /// Runs `body` on the blocking pool with the whole state (stores, secrets, config).
    pub async fn blocking<T, F>(&self, body: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, AppError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || body(&inner)).await?
    }
}
