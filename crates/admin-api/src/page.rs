//! Offset/limit pagination shared by every list (routing and module versions, drafts, policy
//! checkpoints): one parser, one error (400 `…/bad-request` naming the parameter and its
//! range). Billing history's `limit` goes through [`page_size`] too.
//!
//! The values are taken as text and parsed here rather than by serde, so `offset=-1` or
//! `limit=x` get a sentence about the parameter instead of "invalid digit found in string".

use crate::error::AppError;
use serde::Deserialize;
use utoipa::IntoParams;

/// The default page size.
pub const DEFAULT_LIMIT: i64 = 20;

/// The largest page size.
pub const MAX_LIMIT: i64 = 100;

/// Pagination of a list, newest first.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// How many to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub offset: Option<String>,
    /// How many to return, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

impl Page {
    /// `(offset, limit)` checked against their bounds.
    pub fn bounds(&self) -> Result<(i64, i64), AppError> {
        bounds(self.offset.as_deref(), self.limit.as_deref())
    }
}

/// `(offset, limit)` from the raw query values: the defaults when absent, a 400 naming the
/// parameter and its range when out of range or not a whole number.
pub fn bounds(offset: Option<&str>, limit: Option<&str>) -> Result<(i64, i64), AppError> {
    Ok((
        page_offset(offset)?,
        page_size(limit, DEFAULT_LIMIT, MAX_LIMIT)?,
    ))
}

/// An `offset` query value: 0 when absent, else a whole number, 0 or more.
pub fn page_offset(offset: Option<&str>) -> Result<i64, AppError> {
    match offset {
        None => Ok(0),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n),
            _ => Err(AppError::BadRequest(
                "offset must be a whole number, 0 or more".into(),
            )),
        },
    }
}

/// A `limit` query value: `default` when absent, else a whole number from 1 to `max`, or the
/// one 400 every list gives (billing history pages by cursor, with its own bounds, but says
/// the same sentence).
pub fn page_size(limit: Option<&str>, default: i64, max: i64) -> Result<i64, AppError> {
    match limit {
        None => Ok(default),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(AppError::BadRequest(format!(
                "limit must be a whole number from 1 to {max}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::bounds;

    #[test]
    fn defaults_bounds_and_one_message_per_parameter() {
        assert_eq!(bounds(None, None).unwrap(), (0, 20));
        assert_eq!(bounds(Some("5"), Some("100")).unwrap(), (5, 100));
        for (offset, limit, says) in [
            (Some("-1"), None, "offset"),
            (Some("x"), None, "offset"),
            (None, Some("0"), "limit"),
            (None, Some("101"), "limit"),
            (None, Some(""), "limit"),
            (None, Some("1.5"), "limit"),
        ] {
            let detail = bounds(offset, limit).unwrap_err().to_string();
            assert!(detail.starts_with(says), "{detail}");
        }
    }
}
