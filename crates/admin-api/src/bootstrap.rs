//! First start: the token, the credential key, the default files and the initial rows.
//!
//! Everything here runs once at startup, before the server accepts connections. Files are
//! written atomically and owner-only (see [`crate::files`]); secrets are never logged.

use crate::config::ServerConfig;
use crate::crypto::{self, SecretBox};
use crate::files;
use crate::modules::CatalogueFile;
use crate::routing::model::RoutingConfig;
use crate::state::{StartError, now_ms};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

/// The built-in module catalogue (the repository's `data/modules.json`).
pub const DEFAULT_MODULES: &str = include_str!("../../../data/modules.json");

/// The built-in routing config (the repository's `data/routing.json`).
pub const DEFAULT_ROUTING: &str = include_str!("../../../data/routing.json");

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StartError + '_ {
    move |source| StartError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The bearer token: `--token`/`ADMIN_API_TOKEN`, else the token file (created with a random
/// token on first start).
pub fn load_token(config: &ServerConfig) -> Result<String, StartError> {
    let token = match &config.token {
        Some(token) => token.trim().to_owned(),
        None => {
            let path = config
                .token_file
                .clone()
                .unwrap_or_else(|| config.data_dir.join("admin-token"));
            let created =
                files::create_private(&path, crypto::to_hex(&crypto::random_key()).as_bytes())?;
            // Where the token is, never the token itself.
            tracing::info!(path = %path.display(), created, "bearer token file");
            files::read_secret(&path, "token")?
        }
    };
    if token.len() < 16 {
        return Err(StartError::Config(
            "the bearer token must be at least 16 characters".into(),
        ));
    }
    Ok(token)
}

/// The credential key: `--secret-key`/`ADMIN_API_SECRET_KEY`, else the key file (created with
/// a random key on first start).
///
/// A missing key file while `admin.db` holds credentials is refused: a new key would make
/// every stored secret unreadable without a word. `--reset-credentials` is the explicit way
/// out (and the way to rotate the key): it deletes the stored credentials and writes a new key.
pub fn load_secret_box(
    config: &ServerConfig,
    conn: &mut Connection,
) -> Result<SecretBox, StartError> {
    let text = match &config.secret_key {
        Some(text) => {
            if config.reset_credentials {
                delete_credentials(conn)?;
            }
            text.clone()
        }
        None => {
            let path = config
                .key_file
                .clone()
                .unwrap_or_else(|| config.data_dir.join("secret.key"));
            let stored: i64 =
                conn.query_row("SELECT COUNT(*) FROM credentials", [], |r| r.get(0))?;
            let new_key = || crypto::to_hex(&crypto::random_key());
            if config.reset_credentials {
                delete_credentials(conn)?;
                files::replace_private(&path, new_key().as_bytes())?;
                tracing::warn!(path = %path.display(), "wrote a new credential key");
            } else if !path.exists() && stored > 0 {
                return Err(StartError::Config(format!(
                    "the credential key file {} is missing, but the admin database holds {stored} \
                     credential(s) encrypted with the key it held; restore the file (or pass the \
                     key with --secret-key), or start once with --reset-credentials to delete the \
                     stored credentials and create a new key",
                    path.display()
                )));
            }
            let created = files::create_private(&path, new_key().as_bytes())?;
            tracing::info!(path = %path.display(), created, "credential key file");
            files::read_secret(&path, "credential key")?
        }
    };
    let key = crypto::key_from_hex(&text).ok_or_else(|| {
        StartError::Config("the credential key must be 64 hex characters (32 bytes)".into())
    })?;
    Ok(SecretBox::new(&key))
}

/// Deletes every stored credential (`--reset-credentials`), saying how many.
fn delete_credentials(conn: &mut Connection) -> Result<(), StartError> {
    let deleted = sqlite_kit::write_tx(conn, |tx| tx.execute("DELETE FROM credentials", []))?;
    tracing::warn!(
        deleted,
        "--reset-credentials: deleted every stored credential"
    );
    Ok(())
}

/// The policy store's configuration: `--policy-config` (JSON), else the defaults.
pub fn policy_config(config: &ServerConfig) -> Result<otc_policy::PolicyConfig, StartError> {
    let Some(path) = &config.policy_config else {
        return Ok(otc_policy::PolicyConfig::default());
    };
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|e| StartError::Config(format!("{}: {e}", path.display())))
}

/// Path of a default file: the flag's value, else `<data-dir>/<name>` written from the
/// built-in default when absent.
fn default_file(
    flag: &Option<PathBuf>,
    data_dir: &Path,
    name: &str,
    builtin: &str,
) -> Result<PathBuf, StartError> {
    if let Some(path) = flag {
        return Ok(path.clone());
    }
    let path = data_dir.join(name);
    files::create_private(&path, builtin.as_bytes())?;
    Ok(path)
}

/// The module catalogue file (see `--modules-file`).
pub fn modules_file(config: &ServerConfig) -> Result<PathBuf, StartError> {
    default_file(
        &config.modules_file,
        &config.data_dir,
        "modules.json",
        DEFAULT_MODULES,
    )
}

/// The routing config file (see `--routing-file`).
pub fn routing_file(config: &ServerConfig) -> Result<PathBuf, StartError> {
    default_file(
        &config.routing_file,
        &config.data_dir,
        "routing.json",
        DEFAULT_ROUTING,
    )
}

/// Loads the catalogue and the first routing version into a new database. Runs in one
/// transaction and only once: later starts keep every change made through the API.
pub fn first_start(
    conn: &mut Connection,
    modules_file: &Path,
    routing_file: &Path,
) -> Result<(), StartError> {
    let done: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'bootstrapped_ms'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if done.is_some() {
        return Ok(());
    }
    let text = std::fs::read_to_string(modules_file).map_err(io_err(modules_file))?;
    let catalogue: CatalogueFile = serde_json::from_str(&text)
        .map_err(|e| StartError::Config(format!("{}: {e}", modules_file.display())))?;
    catalogue
        .validate()
        .map_err(|e| StartError::Config(format!("{}: {e}", modules_file.display())))?;
    let text = std::fs::read_to_string(routing_file).map_err(io_err(routing_file))?;
    let routing: RoutingConfig = serde_json::from_str(&text)
        .map_err(|e| StartError::Config(format!("{}: {e}", routing_file.display())))?;
    let now = now_ms();
    sqlite_kit::write_tx(conn, |tx| -> Result<(), StartError> {
        for m in &catalogue.modules {
            tx.execute(
                "INSERT INTO modules (id, name, description, required_credentials, enabled, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    m.id,
                    m.name,
                    m.description,
                    serde_json::to_string(&m.required_credentials).unwrap_or_default(),
                    m.enabled,
                    now
                ],
            )?;
        }
        crate::routing::store::validate(tx, &routing)
            .map_err(|e| StartError::Config(format!("{}: {e}", routing_file.display())))?;
        tx.execute(
            "INSERT INTO routing_versions (version, config, source, created_ms) VALUES (1, ?1, 'initial', ?2)",
            params![serde_json::to_string(&routing).unwrap_or_default(), now],
        )?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('bootstrapped_ms', ?1)",
            params![now.to_string()],
        )?;
        Ok(())
    })
}
