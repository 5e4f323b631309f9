//! Dev-mode: drafts of module manifests, the append-only version history of each module's
//! manifest, and the rules of publish and rollback, shared by every backend.
//!
//! * A published draft is kept, read-only, in state `published` with the version it became;
//!   editing or publishing it again is a conflict, deleting it leaves the versions alone.
//! * Version numbers are per module, 1 for the first publish, +1 per publish or rollback,
//!   never reused; the highest version is current.
//! * Publishing keeps a module's enabled state; a module new to the catalogue starts
//!   disabled.
//! * Publishing the current manifest again, or rolling back to the current version or to
//!   one with the current manifest, is a conflict: a version identical to the current one
//!   would only blur the history.

use crate::AdminError;
use crate::manifest::{ModuleManifest, validate};
use crate::module::Module;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Whether a draft can still be edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DraftState {
    /// Editable; can be published.
    Draft,
    /// Published: kept read-only as the record of what was published (it can be deleted).
    Published,
}

/// A draft as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Draft {
    /// Draft id, assigned by the server, never reused.
    pub id: i64,
    /// Revision, 1 on creation and +1 per change (edit or publish).
    pub revision: i64,
    /// Strong ETag of this revision (also in the `ETag` header); send it in `If-Match`.
    pub etag: String,
    /// `draft` or `published`.
    pub state: DraftState,
    /// The manifest's `id` when it is a string (for listing), else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_id: Option<String>,
    /// For a published draft, the module version it became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_version: Option<i64>,
    /// Created, Unix milliseconds UTC.
    pub created_ms: i64,
    /// Last changed, Unix milliseconds UTC.
    pub updated_ms: i64,
    /// The manifest as stored: any JSON object; validated fully only at publish.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub manifest: Value,
}

impl Draft {
    /// The view of a stored draft.
    pub fn new(
        id: i64,
        revision: i64,
        manifest: Value,
        published_version: Option<i64>,
        created_ms: i64,
        updated_ms: i64,
    ) -> Self {
        Self {
            id,
            revision,
            etag: draft_etag(id, revision),
            state: if published_version.is_some() {
                DraftState::Published
            } else {
                DraftState::Draft
            },
            module_id: manifest
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            published_version,
            created_ms,
            updated_ms,
            manifest,
        }
    }

    /// A conflict when the draft was published (it is read-only from then on).
    pub fn refuse_published(&self) -> Result<(), AdminError> {
        match self.published_version {
            Some(version) => Err(AdminError::Conflict(format!(
                "draft {} was published as version {version} and is read-only; create a new draft",
                self.id
            ))),
            None => Ok(()),
        }
    }
}

/// The strong ETag of a draft revision.
pub fn draft_etag(id: i64, revision: i64) -> String {
    format!("\"draft-{id}-r{revision}\"")
}

/// The 404 of an unknown draft.
pub fn unknown_draft(id: i64) -> AdminError {
    AdminError::NotFound(format!("no draft {id}"))
}

/// A manifest a draft may hold: any JSON object (work in progress need not be complete).
pub fn check_draft_manifest(manifest: &Value) -> Result<(), AdminError> {
    if manifest.is_object() {
        Ok(())
    } else {
        Err(AdminError::Invalid(
            "a manifest must be a JSON object".into(),
        ))
    }
}

/// How a version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum VersionSource {
    /// Published from a draft.
    Publish,
    /// A copy of an earlier version's manifest, made current by a rollback.
    Rollback,
}

impl VersionSource {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Rollback => "rollback",
        }
    }

    /// The source stored as `text`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "publish" => Some(Self::Publish),
            "rollback" => Some(Self::Rollback),
            _ => None,
        }
    }
}

/// One version of a module's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModuleVersion {
    /// The module.
    pub module_id: String,
    /// Version number: 1 for the first publish, +1 per publish or rollback, never reused.
    pub version: i64,
    /// Strong ETag of this version; as the current version's ETag it guards a rollback.
    pub etag: String,
    /// Whether this is the module's current version (always the highest).
    pub current: bool,
    /// `publish` or `rollback`.
    pub source: VersionSource,
    /// For a rollback, the earlier version whose manifest this one copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<i64>,
    /// For a publish, the draft it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_id: Option<i64>,
    /// Made, Unix milliseconds UTC.
    pub created_ms: i64,
    /// The manifest (validated).
    pub manifest: ModuleManifest,
}

/// The strong ETag of a module version.
pub fn version_etag(module_id: &str, version: i64) -> String {
    format!("\"module-{module_id}-v{version}\"")
}

/// The 404 of an unknown version of a module.
pub fn unknown_version(module_id: &str, version: i64) -> AdminError {
    AdminError::NotFound(format!("module `{module_id}` has no version {version}"))
}

/// What a publish or rollback made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Published {
    /// The new current version.
    pub version: ModuleVersion,
    /// The catalogue entry as it now is.
    pub module: Module,
    /// For a publish, the draft, now in state `published`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<Draft>,
}

/// A page of a module's versions, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleVersionPage {
    /// The module's current version, if it has any.
    pub current: Option<i64>,
    /// How many versions the module has.
    pub total: i64,
    /// This page.
    pub versions: Vec<ModuleVersion>,
}

/// The publish rule, run inside the write transaction: the draft must not be published yet,
/// its manifest must validate fully (every problem listed), and it must differ from the
/// module's current version. Returns the manifest to append.
pub fn plan_publish(
    draft: &Draft,
    current: Option<&ModuleVersion>,
) -> Result<ModuleManifest, AdminError> {
    draft.refuse_published()?;
    let manifest = validate(&draft.manifest).map_err(AdminError::InvalidFields)?;
    // Publishing the current version's manifest again would append an identical version:
    // refused, and the draft stays editable.
    if let Some(now) = current
        && now.module_id == manifest.id
        && now.manifest == manifest
    {
        return Err(AdminError::Conflict(format!(
            "the manifest is identical to version {} of module `{}`, which is current; nothing was published",
            now.version, manifest.id
        )));
    }
    Ok(manifest)
}

/// The rollback rule, run inside the write transaction once the precondition passed:
/// `target` must not be the current version nor carry its manifest.
pub fn plan_rollback(current: &ModuleVersion, target: &ModuleVersion) -> Result<(), AdminError> {
    let module_id = &current.module_id;
    let to_version = target.version;
    if to_version == current.version {
        return Err(AdminError::Conflict(format!(
            "version {to_version} of module `{module_id}` is already current"
        )));
    }
    // Same content under another number (e.g. a second rollback to the same version) is
    // refused too: a version identical to the current one would only blur the history.
    if current.manifest == target.manifest {
        return Err(AdminError::Conflict(format!(
            "version {to_version}'s content is already current (module `{module_id}` version {})",
            current.version
        )));
    }
    Ok(())
}
