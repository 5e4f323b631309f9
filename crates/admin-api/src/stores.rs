//! The boundary to the stores: readiness checks and the one place where their typed errors
//! become [`AppError`]s.

use crate::error::AppError;
use crate::state::Inner;
use std::sync::PoisonError;

/// Every database answers a trivial query; otherwise 503.
pub fn check_ready(inner: &Inner) -> Result<(), AppError> {
    let conn = inner.db.lock().unwrap_or_else(PoisonError::into_inner);
    conn.query_row("SELECT COUNT(*) FROM routing_versions", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| AppError::Unavailable(format!("admin database: {e}")))?;
    Ok(())
}
