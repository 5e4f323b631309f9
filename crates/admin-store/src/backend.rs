//! The admin store's interface: one trait that each storage backend implements (SQLite
//! today), so the admin API and the conformance suite depend on no backend.

use crate::AdminError;
use crate::credential::{Sealed, StoredCredential};
use crate::dev::{Draft, DraftState, ModuleVersion, ModuleVersionPage, Published};
use crate::module::{CatalogueFile, Module};
use crate::routing::{RoutingChange, RoutingConfig, RoutingView, VersionPage};
use serde_json::Value;

/// Modules, credentials, routing versions and dev-mode. Implementations are `Send + Sync` and
/// take `&self`, so one instance in an `Arc` serves every thread; each write is atomic (one
/// transaction), and every rule of [`crate::routing`], [`crate::dev`] and
/// [`crate::module::check_disable`] is checked inside it. Offsets and limits are the caller's
/// (already bounded); lists are newest first.
pub trait AdminBackend: Send + Sync + std::fmt::Debug {
    /// On a new store, loads the catalogue and routing version 1 (`initial`) in one
    /// transaction and returns `true`; on a store seeded before, changes nothing and returns
    /// `false` (later starts keep every change made since). An invalid catalogue or routing
    /// config is [`AdminError::Invalid`] and writes nothing.
    fn seed(&self, catalogue: &CatalogueFile, routing: &RoutingConfig) -> Result<bool, AdminError>;

    /// A cheap read and a one-row write that prove the store answers and can write (a full
    /// disk is [`AdminError::StorageFull`]).
    fn check_ready(&self) -> Result<(), AdminError>;

    /// Every module, ordered by id.
    fn modules(&self) -> Result<Vec<Module>, AdminError>;

    /// One module; an unknown id is [`AdminError::NotFound`].
    fn module(&self, id: &str) -> Result<Module, AdminError>;

    /// Whether a module `id` is in the catalogue, answered from memory without waiting on I/O
    /// if the backend holds the catalogue's ids and knows them current (never an answer older
    /// than a write that returned before the call); `None` otherwise (then call `module`).
    /// For an async caller that can skip the hop to a blocking thread. The default holds
    /// nothing.
    fn module_catalogued_from_memory(&self, id: &str) -> Option<bool> {
        let _ = id;
        None
    }

    /// Enables or disables a module and returns it. Disabling a module the current routing
    /// config routes to is a conflict ([`crate::module::check_disable`]).
    fn set_enabled(&self, id: &str, enabled: bool) -> Result<Module, AdminError>;

    /// A module and its stored credentials, ordered by name.
    fn credentials(&self, module_id: &str) -> Result<(Module, Vec<StoredCredential>), AdminError>;

    /// Every stored credential of every module (for the start-up check of the key).
    fn all_credentials(&self) -> Result<Vec<StoredCredential>, AdminError>;

    /// Sets (or replaces) a credential of a known module and returns it as stored.
    fn put_credential(
        &self,
        module_id: &str,
        name: &str,
        sealed: Sealed,
    ) -> Result<StoredCredential, AdminError>;

    /// Deletes a credential; an unknown module or a credential not set is `NotFound`.
    fn delete_credential(&self, module_id: &str, name: &str) -> Result<(), AdminError>;

    /// Deletes every stored credential (the key is being replaced); returns how many.
    fn delete_all_credentials(&self) -> Result<usize, AdminError>;

    /// The current routing version.
    fn routing(&self) -> Result<RoutingView, AdminError>;

    /// One routing version; unknown is `NotFound`.
    fn routing_version(&self, version: i64) -> Result<RoutingView, AdminError>;

    /// A page of the routing history, newest first.
    fn routing_versions(&self, offset: i64, limit: i64) -> Result<VersionPage, AdminError>;

    /// Applies `change` under `if_match` following [`crate::routing::plan_write`]: returns
    /// the new version, or the current one when the change alters nothing.
    fn change_routing(
        &self,
        change: RoutingChange,
        if_match: Option<&str>,
    ) -> Result<RoutingView, AdminError>;

    /// Creates a draft (revision 1) of any JSON object.
    fn create_draft(&self, manifest: &Value) -> Result<Draft, AdminError>;

    /// One draft; unknown is `NotFound`.
    fn draft(&self, id: i64) -> Result<Draft, AdminError>;

    /// Drafts by id, newest first, optionally of one state, and the total of that selection.
    fn drafts(
        &self,
        state: Option<DraftState>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Draft>, i64), AdminError>;

    /// Replaces a draft's manifest (a new revision). `If-Match` is required; a published
    /// draft is read-only (a conflict).
    fn replace_draft(
        &self,
        id: i64,
        if_match: Option<&str>,
        manifest: &Value,
    ) -> Result<Draft, AdminError>;

    /// Deletes a draft, published or not (its versions stay). `If-Match` is honoured when
    /// present.
    fn delete_draft(&self, id: i64, if_match: Option<&str>) -> Result<(), AdminError>;

    /// Publishes a draft ([`crate::dev::plan_publish`]): appends its manifest as the module's
    /// new current version, updates the catalogue (a new module starts disabled) and marks
    /// the draft published, atomically. `If-Match` (the draft's ETag) is honoured when
    /// present.
    fn publish_draft(&self, id: i64, if_match: Option<&str>) -> Result<Published, AdminError>;

    /// A page of a module's versions, newest first; an unknown module is `NotFound`, a
    /// catalogue module never published has none.
    fn module_versions(
        &self,
        module_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<ModuleVersionPage, AdminError>;

    /// One version of a module; unknown is `NotFound`.
    fn module_version(&self, module_id: &str, version: i64) -> Result<ModuleVersion, AdminError>;

    /// Makes version `to_version` current again as a new version
    /// ([`crate::dev::plan_rollback`]); `If-Match` (the current version's ETag) is honoured
    /// when present.
    fn rollback_module(
        &self,
        module_id: &str,
        to_version: i64,
        if_match: Option<&str>,
    ) -> Result<Published, AdminError>;
}
