//! First start: the token, the credential key, the default files and the initial rows.
//!
//! Everything here runs once at startup, before the server accepts connections. Files are
//! written atomically and owner-only (see [`crate::files`]); secrets are never logged.

use crate::config::ServerConfig;
use crate::crypto::{self, SecretBox};
use crate::files;
use crate::start_error::StartError;
use admin_store::AdminBackend;
use admin_store::module::CatalogueFile;
use admin_store::routing::RoutingConfig;
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
    admin: &dyn AdminBackend,
) -> Result<SecretBox, StartError> {
    let text = match &config.secret_key {
        Some(text) => {
            if config.reset_credentials {
                delete_credentials(admin)?;
            }
            text.clone()
        }
        None => {
            let path = config
                .key_file
                .clone()
                .unwrap_or_else(|| config.data_dir.join("secret.key"));
            let stored = admin.all_credentials()?.len();
            let new_key = || crypto::to_hex(&crypto::random_key());
            if config.reset_credentials {
                delete_credentials(admin)?;
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

/// How many stored credentials do not decrypt with `secrets` (the key changed since they were
/// set). Names and secrets are not returned: the count is for a startup warning.
pub fn count_unreadable(
    admin: &dyn AdminBackend,
    secrets: &SecretBox,
) -> Result<usize, admin_store::AdminError> {
    Ok(admin
        .all_credentials()?
        .iter()
        .filter(|c| secrets.open_credential(c).is_none())
        .count())
}

/// Deletes every stored credential (`--reset-credentials`), saying how many.
fn delete_credentials(admin: &dyn AdminBackend) -> Result<(), StartError> {
    let deleted = admin.delete_all_credentials()?;
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

/// A problem of a configuration file, naming it.
fn in_file(path: &Path) -> impl FnOnce(String) -> StartError + '_ {
    move |e| StartError::Config(format!("{}: {e}", path.display()))
}

/// Loads the catalogue and the first routing version into a new store, once: later starts
/// keep every change made through the API. Each file is checked before anything is written,
/// and a problem names the file it is in.
pub fn first_start(
    admin: &dyn AdminBackend,
    modules_file: &Path,
    routing_file: &Path,
) -> Result<(), StartError> {
    let text = std::fs::read_to_string(modules_file).map_err(io_err(modules_file))?;
    let catalogue: CatalogueFile =
        serde_json::from_str(&text).map_err(|e| in_file(modules_file)(e.to_string()))?;
    catalogue.validate().map_err(in_file(modules_file))?;
    let text = std::fs::read_to_string(routing_file).map_err(io_err(routing_file))?;
    let routing: RoutingConfig =
        serde_json::from_str(&text).map_err(|e| in_file(routing_file)(e.to_string()))?;
    match admin.seed(&catalogue, &routing) {
        Ok(_) => Ok(()),
        // The catalogue passed its check above, so an invalid seed is the routing file's.
        Err(admin_store::AdminError::Invalid(e)) => Err(in_file(routing_file)(e)),
        Err(other) => Err(other.into()),
    }
}
