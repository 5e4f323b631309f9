//! Routing: the versioned routing config, its validation against the catalogue, and the
//! changes a write may make. History is append-only and the highest version is current.
//!
//! No-op writes make no version, so the history holds only real changes: when a put, patch,
//! category delete or reload would leave the config exactly as it is, the write answers the
//! current version and appends nothing; a rollback to a version whose config is already
//! current is a conflict. [`plan_write`] is that protocol, shared by every backend.

mod config;

pub use config::{Category, RoutingConfig, merge_patch};

use crate::AdminError;
use crate::ident::{self, valid_ident};
use crate::module::Module;
use crate::precondition::{Precondition, check_etag};
use serde::{Deserialize, Serialize};

/// A routing version as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoutingView {
    /// Version number: 1 on first start, +1 per change.
    pub version: i64,
    /// The strong ETag of this version (also sent in the `ETag` header); send it back in
    /// `If-Match` to write.
    pub etag: String,
    /// What made this version: `initial`, `put`, `patch`, `delete-category`, `reload`, or
    /// `rollback:<n>`.
    pub source: String,
    /// For a rollback, the earlier version whose config this one copies (as in module
    /// versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<i64>,
    /// When it was made, Unix milliseconds UTC.
    pub created_ms: i64,
    /// The config.
    pub config: RoutingConfig,
}

impl RoutingView {
    /// The view of a stored version.
    pub fn new(version: i64, source: String, created_ms: i64, config: RoutingConfig) -> Self {
        Self {
            version,
            etag: etag(version),
            source_version: rollback_of(&source),
            source,
            created_ms,
            config,
        }
    }
}

/// One entry of the version history (without its config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionSummary {
    /// Version number.
    pub version: i64,
    /// Its strong ETag (as the current version's, it is what `If-Match` must carry).
    pub etag: String,
    /// Whether this is the current version (always the highest), as in module version lists.
    pub current: bool,
    /// What made it (see [`RoutingView::source`]).
    pub source: String,
    /// For a rollback, the version it copies (see [`RoutingView::source_version`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<i64>,
    /// When it was made, Unix milliseconds UTC.
    pub created_ms: i64,
}

impl VersionSummary {
    /// The summary of a stored version.
    pub fn new(version: i64, source: String, created_ms: i64, current: bool) -> Self {
        Self {
            version,
            etag: etag(version),
            current,
            source_version: rollback_of(&source),
            source,
            created_ms,
        }
    }
}

/// A page of the routing version history, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionPage {
    /// The current version.
    pub current: i64,
    /// How many versions exist.
    pub total: i64,
    /// This page.
    pub versions: Vec<VersionSummary>,
}

/// The ETag of a version.
pub fn etag(version: i64) -> String {
    format!("\"routing-v{version}\"")
}

/// The version a `rollback:<n>` source copies.
fn rollback_of(source: &str) -> Option<i64> {
    source.strip_prefix("rollback:")?.parse().ok()
}

/// A change to the routing config; each appends a version (unless it changes nothing).
#[derive(Debug, Clone, PartialEq)]
pub enum RoutingChange {
    /// Replace the config (`PUT`).
    Put(RoutingConfig),
    /// Make the routing file's content current.
    Reload(RoutingConfig),
    /// Apply an RFC 7396 JSON merge patch.
    Patch(serde_json::Value),
    /// Remove one category.
    DeleteCategory(String),
    /// Make an earlier version's config current again.
    Rollback(i64),
}

impl RoutingChange {
    /// What the new version's `source` says.
    pub fn source(&self) -> String {
        match self {
            Self::Put(_) => "put".into(),
            Self::Reload(_) => "reload".into(),
            Self::Patch(_) => "patch".into(),
            Self::DeleteCategory(_) => "delete-category".into(),
            Self::Rollback(to) => format!("rollback:{to}"),
        }
    }

    /// What the change requires of `If-Match`: every change requires it except a reload,
    /// which honours it when present (an operator reloading the file means "make the file
    /// current" whatever happened before).
    pub fn precondition(&self) -> Precondition {
        match self {
            Self::Reload(_) => Precondition::Optional,
            _ => Precondition::Required,
        }
    }

    /// The config this change makes from `current`; `version` reads an earlier version's
    /// config (for a rollback).
    fn apply(
        self,
        current: &RoutingConfig,
        version: impl FnOnce(i64) -> Result<RoutingConfig, AdminError>,
    ) -> Result<RoutingConfig, AdminError> {
        match self {
            Self::Put(config) | Self::Reload(config) => Ok(config),
            Self::Patch(patch) => {
                let mut doc = serde_json::to_value(current)
                    .map_err(|e| AdminError::Corrupt(format!("routing config: {e}")))?;
                merge_patch(&mut doc, &patch);
                serde_json::from_value(doc).map_err(|e| {
                    AdminError::Invalid(format!(
                        "the patched config is invalid: {}",
                        crate::redact::mask_quoted(&e.to_string())
                    ))
                })
            }
            Self::DeleteCategory(name) => {
                let mut config = current.clone();
                if config.categories.remove(&name).is_none() {
                    return Err(AdminError::NotFound(ident::named(
                        &name,
                        |n| format!("no routing category `{n}`"),
                        "no such routing category",
                    )));
                }
                Ok(config)
            }
            Self::Rollback(to) => {
                let target = version(to)?;
                if &target == current {
                    return Err(AdminError::Conflict(format!(
                        "version {to}'s content is already current"
                    )));
                }
                Ok(target)
            }
        }
    }
}

/// Checks a config against the module catalogue: names valid, every category has modules,
/// no duplicates, every module known and enabled, the default category present. `module`
/// looks a module up by id.
pub fn validate(
    config: &RoutingConfig,
    mut module: impl FnMut(&str) -> Result<Option<Module>, AdminError>,
) -> Result<(), AdminError> {
    let bad = |msg: String| Err(AdminError::Invalid(msg));
    for (name, category) in &config.categories {
        if !valid_ident(name) {
            return bad("category names are 1 to 64 characters of [A-Za-z0-9_.-]".into());
        }
        if category.modules.is_empty() {
            return bad(format!("category `{name}` routes to no module"));
        }
        for (i, id) in category.modules.iter().enumerate() {
            if category.modules[..i].contains(id) {
                return bad(format!("category `{name}` lists module `{id}` twice"));
            }
            match module(id)? {
                None if valid_ident(id) => {
                    return bad(format!("category `{name}` routes to unknown module `{id}`"));
                }
                None => return bad(format!("category `{name}` routes to an unknown module")),
                Some(m) if !m.enabled => {
                    return bad(format!(
                        "category `{name}` routes to disabled module `{id}`"
                    ));
                }
                Some(_) => {}
            }
        }
    }
    if let Some(default) = &config.default_category
        && !config.categories.contains_key(default)
    {
        return bad("default_category names no category of this config".into());
    }
    Ok(())
}

/// The write protocol every backend runs inside its write transaction, after reading the
/// current version: the precondition, the change, the no-op rule, validation. `Ok(None)`
/// means the change leaves the config as it is (append nothing, answer `current`);
/// `Ok(Some(config))` is the config to append as version `current.version + 1`.
pub fn plan_write(
    current: &RoutingView,
    change: RoutingChange,
    if_match: Option<&str>,
    version: impl FnOnce(i64) -> Result<RoutingConfig, AdminError>,
    module: impl FnMut(&str) -> Result<Option<Module>, AdminError>,
) -> Result<Option<RoutingConfig>, AdminError> {
    check_etag(
        if_match,
        &current.etag,
        change.precondition(),
        "the routing config",
    )?;
    let next = change.apply(&current.config, version)?;
    if next == current.config {
        return Ok(None);
    }
    validate(&next, module)?;
    Ok(Some(next))
}
