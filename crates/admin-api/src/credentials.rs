//! Credentials per module: set, delete, check. Secrets are sealed before they reach the
//! database and are never returned, logged or echoed in an error; check reports at most a
//! masked hint (the last two characters of secrets of 12 characters or more).

use crate::error::{AppError, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;
use admin_store::StoredCredential;
use admin_store::ident::valid_ident;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest accepted secret, in bytes.
pub const MAX_SECRET_LEN: usize = 8 * 1024;

/// The endpoints of this group.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_credentials))
        .routes(routes!(set_credential, delete_credential))
}

/// Body of a credential write. Its `Debug` does not print the secret.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCredential {
    /// The secret (1 to 8192 bytes). Write-only: no response ever contains it.
    #[schema(min_length = 1, max_length = 8192)]
    pub value: String,
}

impl std::fmt::Debug for SetCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetCredential { value: <redacted> }")
    }
}

/// A credential that is set, described without its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CredentialInfo {
    /// Credential name.
    pub name: String,
    /// A masked hint such as `••••3f` (secrets shorter than 12 characters get none; also none
    /// when the secret cannot be decrypted with the server's current key).
    pub hint: Option<String>,
    /// Whether the stored secret decrypts with the server's current key.
    pub readable: bool,
    /// When it was last set, Unix milliseconds UTC.
    pub updated_ms: i64,
}

/// The credential state of a module.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CredentialCheck {
    /// Module id.
    pub module_id: String,
    /// The credentials the module needs.
    pub required: Vec<String>,
    /// The credentials that are set, required or not.
    pub set: Vec<CredentialInfo>,
    /// Credentials that are set but whose secret does not decrypt with the server's current key
    /// (e.g. after a restart with another `ADMIN_API_SECRET_KEY`); set them again to fix.
    pub unreadable: Vec<String>,
    /// Required credentials that are not set yet, or set but unreadable: an unreadable secret
    /// cannot be used, so it counts as missing.
    pub missing: Vec<String>,
    /// True when nothing required is missing.
    pub complete: bool,
}

/// A stored credential as the API describes it: readable or not, with a hint, never the
/// secret.
fn describe(secrets: &crate::crypto::SecretBox, stored: StoredCredential) -> CredentialInfo {
    let opened = secrets.open_credential(&stored);
    CredentialInfo {
        hint: opened.as_deref().and_then(hint),
        readable: opened.is_some(),
        name: stored.name,
        updated_ms: stored.updated_ms,
    }
}

fn hint(secret: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(secret).ok()?;
    let chars: Vec<char> = text.chars().collect();
    (chars.len() >= 12).then(|| {
        let tail: String = chars[chars.len() - 2..].iter().collect();
        format!("••••{tail}")
    })
}

fn check_name(name: &str) -> Result<(), AppError> {
    if valid_ident(name) {
        Ok(())
    } else {
        Err(AppError::BadRequest(
            "credential names are 1 to 64 characters of [A-Za-z0-9_.-]".into(),
        ))
    }
}

/// Which credentials a module has and which it still needs (never the secrets).
#[utoipa::path(get, path = "/admin/modules/{id}/credentials", tag = "credentials",
    params(("id" = String, Path, description = "Module id", pattern = "^[A-Za-z0-9_.-]{1,64}$", min_length = 1, max_length = 64)),
    responses(
        (status = 200, description = "Set and missing credentials", body = CredentialCheck),
        (status = 404, description = "Unknown module", body = Problem, content_type = "application/problem+json"),
    ))]
async fn check_credentials(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CredentialCheck>, AppError> {
    state
        .blocking(move |inner| {
            let (module, stored) = inner.admin.credentials(&id)?;
            let set: Vec<CredentialInfo> = stored
                .into_iter()
                .map(|c| describe(&inner.secrets, c))
                .collect();
            let missing: Vec<String> = module
                .required_credentials
                .iter()
                .filter(|r| !set.iter().any(|s| &s.name == *r && s.readable))
                .cloned()
                .collect();
            let unreadable = set
                .iter()
                .filter(|s| !s.readable)
                .map(|s| s.name.clone())
                .collect();
            Ok(Json(CredentialCheck {
                module_id: id,
                complete: missing.is_empty(),
                required: module.required_credentials,
                set,
                unreadable,
                missing,
            }))
        })
        .await
}

/// Sets (or replaces) a credential. The secret is encrypted before it is stored.
#[utoipa::path(put, path = "/admin/modules/{id}/credentials/{name}", tag = "credentials",
    params(("id" = String, Path, description = "Module id", pattern = "^[A-Za-z0-9_.-]{1,64}$", min_length = 1, max_length = 64), ("name" = String, Path, description = "Credential name", pattern = "^[A-Za-z0-9_.-]{1,64}$", min_length = 1, max_length = 64)),
    request_body = SetCredential,
    responses(
        (status = 200, description = "Stored; described without the secret", body = CredentialInfo),
        (status = 400, description = "Invalid name or malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown module", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or oversized secret, or wrong body shape", body = Problem, content_type = "application/problem+json"),
    ))]
async fn set_credential(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    Json(body): Json<SetCredential>,
) -> Result<Json<CredentialInfo>, AppError> {
    check_name(&name)?;
    if body.value.is_empty() || body.value.len() > MAX_SECRET_LEN {
        return Err(AppError::Unprocessable(format!(
            "a secret is 1 to {MAX_SECRET_LEN} bytes"
        )));
    }
    state
        .blocking(move |inner| {
            let sealed = inner
                .secrets
                .seal_credential(&id, &name, body.value.as_bytes())
                .ok_or_else(|| AppError::internal("sealing a secret failed"))?;
            let stored = inner.admin.put_credential(&id, &name, sealed)?;
            Ok(Json(CredentialInfo {
                hint: hint(body.value.as_bytes()),
                readable: true,
                name: stored.name,
                updated_ms: stored.updated_ms,
            }))
        })
        .await
}

/// Deletes a credential.
#[utoipa::path(delete, path = "/admin/modules/{id}/credentials/{name}", tag = "credentials",
    params(("id" = String, Path, description = "Module id", pattern = "^[A-Za-z0-9_.-]{1,64}$", min_length = 1, max_length = 64), ("name" = String, Path, description = "Credential name", pattern = "^[A-Za-z0-9_.-]{1,64}$", min_length = 1, max_length = 64)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown module or credential not set", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_credential(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    check_name(&name)?;
    state
        .admin(move |admin| admin.delete_credential(&id, &name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
