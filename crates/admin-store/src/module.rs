//! The module catalogue: the tools the orchestrator may route to, and the catalogue file
//! loaded on first start.

use crate::ident::valid_ident;
use crate::routing::RoutingConfig;
use crate::{AdminError, ident};
use serde::{Deserialize, Serialize};

/// A module of the catalogue and its current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Module {
    /// Stable identifier, used in routes and routing config.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the module does.
    pub description: String,
    /// Names of the credentials the module needs before it can run.
    pub required_credentials: Vec<String>,
    /// Whether routing may send requests to it.
    pub enabled: bool,
    /// Last change, Unix milliseconds UTC.
    pub updated_ms: i64,
}

/// One entry of the catalogue file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueEntry {
    /// See [`Module::id`].
    pub id: String,
    /// See [`Module::name`].
    pub name: String,
    /// See [`Module::description`].
    #[serde(default)]
    pub description: String,
    /// See [`Module::required_credentials`].
    #[serde(default)]
    pub required_credentials: Vec<String>,
    /// Whether the module starts enabled.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// The catalogue file (`data/modules.json`), loaded on first start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueFile {
    /// The modules.
    pub modules: Vec<CatalogueEntry>,
}

impl CatalogueFile {
    /// Checks identifiers and uniqueness.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for m in &self.modules {
            if !valid_ident(&m.id) {
                return Err(format!("invalid module id `{}`", m.id));
            }
            if !seen.insert(m.id.as_str()) {
                return Err(format!("duplicate module id `{}`", m.id));
            }
            if let Some(bad) = m.required_credentials.iter().find(|c| !valid_ident(c)) {
                return Err(format!(
                    "module `{}`: invalid credential name `{bad}`",
                    m.id
                ));
            }
        }
        Ok(())
    }

    /// The catalogue as modules, stamped `now_ms`.
    pub fn modules(&self, now_ms: i64) -> Vec<Module> {
        self.modules
            .iter()
            .map(|m| Module {
                id: m.id.clone(),
                name: m.name.clone(),
                description: m.description.clone(),
                required_credentials: m.required_credentials.clone(),
                enabled: m.enabled,
                updated_ms: now_ms,
            })
            .collect()
    }
}

/// The 404 of an unknown module, naming it when its id is well-formed.
pub fn unknown_module(id: &str) -> AdminError {
    AdminError::NotFound(ident::named(
        id,
        |id| format!("no module `{id}`"),
        "no such module",
    ))
}

/// The rule for disabling a module: refused while the current routing config routes to it,
/// so the current routing never names a disabled module.
pub fn check_disable(id: &str, current_routing: &RoutingConfig) -> Result<(), AdminError> {
    match current_routing.categories_using(id).next() {
        Some(category) => Err(AdminError::Conflict(format!(
            "module `{id}` is routed to by category `{category}`; change routing first"
        ))),
        None => Ok(()),
    }
}
