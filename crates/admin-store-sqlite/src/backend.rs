//! [`AdminBackend`] for [`SqliteAdminStore`]: each method is one read or one write
//! transaction that applies the trait crate's rules to the rows.

use crate::{OrStorage, SqliteAdminStore, credentials, drafts, modules, routing, versions};
use admin_store::dev::{
    self, Draft, DraftState, ModuleVersion, ModuleVersionPage, Published, VersionSource,
    version_etag,
};
use admin_store::module::{CatalogueFile, Module, check_disable};
use admin_store::precondition::{Precondition, check_etag};
use admin_store::routing::{RoutingChange, RoutingConfig, RoutingView, VersionPage, plan_write};
use admin_store::{AdminBackend, AdminError, Sealed, StoredCredential};
use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;

/// Loads a draft and checks `If-Match` against its current revision.
fn guarded_draft(
    conn: &Connection,
    id: i64,
    if_match: Option<&str>,
    rule: Precondition,
) -> Result<Draft, AdminError> {
    let current = drafts::get(conn, id)?;
    check_etag(if_match, &current.etag, rule, &format!("draft {id}"))?;
    Ok(current)
}

/// Appends a module version and makes the catalogue follow it; returns both as they now are.
fn append_version(
    conn: &Connection,
    manifest: &admin_store::manifest::ModuleManifest,
    source: VersionSource,
    source_version: Option<i64>,
    draft_id: Option<i64>,
    now: i64,
) -> Result<(ModuleVersion, Module), AdminError> {
    modules::follow_manifest(conn, manifest, now)?;
    let number = versions::append(conn, manifest, source, source_version, draft_id, now)?;
    Ok((
        versions::get(conn, &manifest.id, number)?,
        modules::require(conn, &manifest.id)?,
    ))
}

impl AdminBackend for SqliteAdminStore {
    fn seed(&self, catalogue: &CatalogueFile, routing: &RoutingConfig) -> Result<bool, AdminError> {
        catalogue.validate().map_err(AdminError::Invalid)?;
        let now = jiff::Timestamp::now().as_millisecond();
        let modules = catalogue.modules(now);
        admin_store::routing::validate(routing, |id| {
            Ok(modules.iter().find(|m| m.id == id).cloned())
        })?;
        self.write(|tx| {
            let done: Option<String> = tx
                .query_row(
                    "SELECT value FROM meta WHERE key = 'bootstrapped_ms'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .or_storage()?;
            if done.is_some() {
                return Ok(false);
            }
            for module in &modules {
                modules::insert(tx, module)?;
            }
            routing::append(tx, 1, routing, "initial", now)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('bootstrapped_ms', ?1)",
                [now.to_string()],
            )
            .or_storage()?;
            Ok(true)
        })
    }

    fn check_ready(&self) -> Result<(), AdminError> {
        self.conn()
            .query_row("SELECT COUNT(*) FROM routing_versions", [], |r| {
                r.get::<_, i64>(0)
            })
            .or_storage()?;
        // Reads keep working on a full disk; only a write shows it.
        self.write(|tx| {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('ready_probe_ms', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [jiff::Timestamp::now().as_millisecond().to_string()],
            )
            .or_storage()?;
            Ok(())
        })
    }

    fn modules(&self) -> Result<Vec<Module>, AdminError> {
        modules::list(&self.conn())
    }

    fn module(&self, id: &str) -> Result<Module, AdminError> {
        let conn = self.conn();
        // The caller of `module_catalogued_from_memory` falls back to this read.
        self.catalogue.refresh_if_stale(&conn);
        modules::require(&conn, id)
    }

    fn module_catalogued_from_memory(&self, id: &str) -> Option<bool> {
        self.catalogue.contains(id)
    }

    fn set_enabled(&self, id: &str, enabled: bool) -> Result<Module, AdminError> {
        self.write(|tx| {
            modules::require(tx, id)?;
            if !enabled {
                check_disable(id, &routing::current(tx)?.config)?;
            }
            modules::set_enabled(tx, id, enabled, jiff::Timestamp::now().as_millisecond())?;
            modules::require(tx, id)
        })
    }

    fn credentials(&self, module_id: &str) -> Result<(Module, Vec<StoredCredential>), AdminError> {
        let conn = self.conn();
        let module = modules::require(&conn, module_id)?;
        Ok((module, credentials::list(&conn, Some(module_id))?))
    }

    fn all_credentials(&self) -> Result<Vec<StoredCredential>, AdminError> {
        credentials::list(&self.conn(), None)
    }

    fn put_credential(
        &self,
        module_id: &str,
        name: &str,
        sealed: Sealed,
    ) -> Result<StoredCredential, AdminError> {
        self.write(|tx| {
            modules::require(tx, module_id)?;
            let credential = StoredCredential {
                module_id: module_id.to_owned(),
                name: name.to_owned(),
                sealed,
                updated_ms: jiff::Timestamp::now().as_millisecond(),
            };
            credentials::upsert(tx, &credential)?;
            Ok(credential)
        })
    }

    fn delete_credential(&self, module_id: &str, name: &str) -> Result<(), AdminError> {
        self.write(|tx| {
            modules::require(tx, module_id)?;
            if credentials::delete(tx, Some(module_id), Some(name))? == 0 {
                return Err(AdminError::NotFound(format!(
                    "credential `{name}` of module `{module_id}` is not set"
                )));
            }
            Ok(())
        })
    }

    fn delete_all_credentials(&self) -> Result<usize, AdminError> {
        self.write(|tx| credentials::delete(tx, None, None))
    }

    fn routing(&self) -> Result<RoutingView, AdminError> {
        routing::current(&self.conn())
    }

    fn routing_version(&self, version: i64) -> Result<RoutingView, AdminError> {
        routing::version(&self.conn(), version)
    }

    fn routing_versions(&self, offset: i64, limit: i64) -> Result<VersionPage, AdminError> {
        routing::list(&self.conn(), offset, limit)
    }

    fn change_routing(
        &self,
        change: RoutingChange,
        if_match: Option<&str>,
    ) -> Result<RoutingView, AdminError> {
        self.write(|tx| {
            let current = routing::current(tx)?;
            let source = change.source();
            let planned = plan_write(
                &current,
                change,
                if_match,
                |v| routing::version(tx, v).map(|view| view.config),
                |id| modules::load(tx, id),
            )?;
            let Some(next) = planned else {
                return Ok(current);
            };
            let version = current.version + 1;
            let created_ms = jiff::Timestamp::now().as_millisecond();
            routing::append(tx, version, &next, &source, created_ms)?;
            Ok(RoutingView::new(version, source, created_ms, next))
        })
    }

    fn create_draft(&self, manifest: &Value) -> Result<Draft, AdminError> {
        dev::check_draft_manifest(manifest)?;
        self.write(|tx| {
            let id = drafts::insert(tx, manifest, jiff::Timestamp::now().as_millisecond())?;
            drafts::get(tx, id)
        })
    }

    fn draft(&self, id: i64) -> Result<Draft, AdminError> {
        drafts::get(&self.conn(), id)
    }

    fn drafts(
        &self,
        state: Option<DraftState>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Draft>, i64), AdminError> {
        drafts::list(&self.conn(), state, offset, limit)
    }

    fn replace_draft(
        &self,
        id: i64,
        if_match: Option<&str>,
        manifest: &Value,
    ) -> Result<Draft, AdminError> {
        dev::check_draft_manifest(manifest)?;
        self.write(|tx| {
            let current = guarded_draft(tx, id, if_match, Precondition::Required)?;
            current.refuse_published()?;
            drafts::replace(tx, id, manifest, jiff::Timestamp::now().as_millisecond())?;
            drafts::get(tx, id)
        })
    }

    fn delete_draft(&self, id: i64, if_match: Option<&str>) -> Result<(), AdminError> {
        self.write(|tx| {
            guarded_draft(tx, id, if_match, Precondition::Optional)?;
            drafts::delete(tx, id)
        })
    }

    fn publish_draft(&self, id: i64, if_match: Option<&str>) -> Result<Published, AdminError> {
        self.write(|tx| {
            let draft = guarded_draft(tx, id, if_match, Precondition::Optional)?;
            let module_id = draft.module_id.clone().unwrap_or_default();
            let current = versions::current(tx, &module_id)?;
            let manifest = dev::plan_publish(&draft, current.as_ref())?;
            let now = jiff::Timestamp::now().as_millisecond();
            let (version, module) =
                append_version(tx, &manifest, VersionSource::Publish, None, Some(id), now)?;
            drafts::mark_published(tx, id, version.version, now)?;
            Ok(Published {
                version,
                module,
                draft: Some(drafts::get(tx, id)?),
            })
        })
    }

    fn module_versions(
        &self,
        module_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<ModuleVersionPage, AdminError> {
        let conn = self.conn();
        modules::require(&conn, module_id)?;
        let (versions, total) = versions::list(&conn, module_id, offset, limit)?;
        Ok(ModuleVersionPage {
            current: versions::current_number(&conn, module_id)?,
            total,
            versions,
        })
    }

    fn module_version(&self, module_id: &str, version: i64) -> Result<ModuleVersion, AdminError> {
        versions::get(&self.conn(), module_id, version)
    }

    fn rollback_module(
        &self,
        module_id: &str,
        to_version: i64,
        if_match: Option<&str>,
    ) -> Result<Published, AdminError> {
        self.write(|tx| {
            modules::require(tx, module_id)?;
            let current = versions::current(tx, module_id)?.ok_or_else(|| {
                AdminError::NotFound(format!("module `{module_id}` has no published versions"))
            })?;
            check_etag(
                if_match,
                &version_etag(module_id, current.version),
                Precondition::Optional,
                &format!("module `{module_id}`"),
            )?;
            let target = versions::get(tx, module_id, to_version)?;
            dev::plan_rollback(&current, &target)?;
            let (version, module) = append_version(
                tx,
                &target.manifest,
                VersionSource::Rollback,
                Some(to_version),
                None,
                jiff::Timestamp::now().as_millisecond(),
            )?;
            Ok(Published {
                version,
                module,
                draft: None,
            })
        })
    }
}
