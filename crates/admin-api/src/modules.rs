//! Modules: the catalogue of tools the orchestrator may route to; list, get, enable, disable.

use crate::error::{AppError, Problem};
use crate::extract::{Json, Path};
use crate::state::{AppState, now_ms};
use axum::extract::State;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The endpoints of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_modules))
        .routes(routes!(get_module))
        .routes(routes!(enable_module))
        .routes(routes!(disable_module))
}

/// A module of the catalogue and its current state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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

/// All modules, ordered by id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModuleList {
    /// The modules.
    pub modules: Vec<Module>,
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

/// Whether `id` is a valid module or credential identifier: 1 to 64 of `[A-Za-z0-9_.-]`.
pub fn valid_ident(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
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
}

fn row_to_module(row: &rusqlite::Row<'_>) -> rusqlite::Result<Module> {
    let required: String = row.get(3)?;
    Ok(Module {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        required_credentials: serde_json::from_str(&required).unwrap_or_default(),
        enabled: row.get(4)?,
        updated_ms: row.get(5)?,
    })
}

const SELECT: &str =
    "SELECT id, name, description, required_credentials, enabled, updated_ms FROM modules";

/// Reads one module; `None` if unknown.
pub fn load(conn: &Connection, id: &str) -> rusqlite::Result<Option<Module>> {
    conn.query_row(&format!("{SELECT} WHERE id = ?1"), [id], row_to_module)
        .optional()
}

/// Reads one module or answers 404, naming the module when its id is well-formed (an
/// arbitrary path segment is not echoed).
pub fn require(conn: &Connection, id: &str) -> Result<Module, AppError> {
    load(conn, id)?.ok_or_else(|| {
        AppError::NotFound(if valid_ident(id) {
            format!("no module `{id}`")
        } else {
            "no such module".into()
        })
    })
}

/// Lists every module of the catalogue.
#[utoipa::path(get, path = "/admin/modules", tag = "modules",
    responses(
        (status = 200, description = "All modules, ordered by id", body = ModuleList),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_modules(State(state): State<AppState>) -> Result<Json<ModuleList>, AppError> {
    state
        .db(|conn, _| {
            let mut stmt = conn.prepare_cached(&format!("{SELECT} ORDER BY id"))?;
            let modules = stmt
                .query_map([], row_to_module)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Json(ModuleList { modules }))
        })
        .await
}

/// Reads one module.
#[utoipa::path(get, path = "/admin/modules/{id}", tag = "modules",
    params(("id" = String, Path, description = "Module id")),
    responses(
        (status = 200, description = "The module", body = Module),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown module", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_module(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Module>, AppError> {
    state.db(move |conn, _| require(conn, &id).map(Json)).await
}

/// Enables a module so routing may use it.
#[utoipa::path(post, path = "/admin/modules/{id}/enable", tag = "modules",
    params(("id" = String, Path, description = "Module id")),
    responses(
        (status = 200, description = "The module, now enabled", body = Module),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown module", body = Problem, content_type = "application/problem+json"),
    ))]
async fn enable_module(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Module>, AppError> {
    set_enabled(state, id, true).await
}

/// Disables a module. Refused with 409 while the current routing config routes to it, so the
/// current routing never names a disabled module.
#[utoipa::path(post, path = "/admin/modules/{id}/disable", tag = "modules",
    params(("id" = String, Path, description = "Module id")),
    responses(
        (status = 200, description = "The module, now disabled", body = Module),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown module", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The current routing config routes to this module", body = Problem, content_type = "application/problem+json"),
    ))]
async fn disable_module(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Module>, AppError> {
    set_enabled(state, id, false).await
}

async fn set_enabled(state: AppState, id: String, enabled: bool) -> Result<Json<Module>, AppError> {
    state
        .db(move |conn, _| {
            sqlite_kit::write_tx(conn, |tx| {
                require(tx, &id)?;
                if !enabled {
                    let current = crate::routing::store::current(tx)?;
                    if let Some(category) = current.config.categories_using(&id).next() {
                        return Err(AppError::Conflict(format!(
                            "module `{id}` is routed to by category `{category}`; change routing first"
                        )));
                    }
                }
                tx.execute(
                    "UPDATE modules SET enabled = ?2, updated_ms = ?3 WHERE id = ?1",
                    params![id, enabled, now_ms()],
                )?;
                require(tx, &id).map(Json)
            })
        })
        .await
}
