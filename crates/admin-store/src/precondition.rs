//! `If-Match` preconditions, shared by every write of a versioned resource (routing versions,
//! dev-mode drafts, module versions), so all of them follow the same rules. A backend checks
//! the precondition inside the transaction that writes, so of two writers holding the same
//! ETag exactly one succeeds.

use crate::AdminError;

/// What a write requires of `If-Match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// The header must be present (428 otherwise) and match the current ETag (412).
    Required,
    /// When present it must match; when absent the write proceeds.
    Optional,
}

/// Checks an `If-Match` value against `want`, the current ETag of `what`. `*` matches anything;
/// a list matches when one of its tags does, by strong comparison (so a `W/` tag never does);
/// an absent header is 428 when [`Precondition::Required`].
pub fn check_etag(
    header: Option<&str>,
    want: &str,
    rule: Precondition,
    what: &str,
) -> Result<(), AdminError> {
    let Some(header) = header else {
        return match rule {
            Precondition::Required => Err(AdminError::PreconditionRequired),
            Precondition::Optional => Ok(()),
        };
    };
    if header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == want)
    {
        Ok(())
    } else if want.trim_matches('"') == header.trim() {
        // The right tag without its quotes: RFC 9110 ETags are quoted strings, so this is
        // still a mismatch, but say what to send instead of "re-read it".
        Err(AdminError::PreconditionFailed(format!(
            "If-Match must carry the ETag with its double quotes: send If-Match: {want}"
        )))
    } else {
        Err(AdminError::PreconditionFailed(format!(
            "If-Match does not match the current revision of {what} (ETag {want}); re-read it \
             and retry"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_rules() {
        let want = "\"draft-1-r2\"";
        let ok = |h: Option<&str>, rule| check_etag(h, want, rule, "draft 1").is_ok();
        assert!(ok(Some(want), Precondition::Required));
        assert!(ok(Some("\"x\", \"draft-1-r2\""), Precondition::Required));
        assert!(ok(Some("*"), Precondition::Required));
        assert!(ok(None, Precondition::Optional));
        assert!(matches!(
            check_etag(None, want, Precondition::Required, "draft 1"),
            Err(AdminError::PreconditionRequired)
        ));
        // Regression: the current tag without quotes got "re-read it and retry", which
        // does not help; it is still 412, with a hint about the quotes.
        let Err(AdminError::PreconditionFailed(hint)) =
            check_etag(Some("draft-1-r2"), want, Precondition::Required, "draft 1")
        else {
            panic!("an unquoted tag must not match");
        };
        assert!(hint.contains("double quotes"), "{hint}");
        for stale in ["\"draft-1-r1\"", "W/\"draft-1-r2\"", "draft-1-r2"] {
            assert!(matches!(
                check_etag(Some(stale), want, Precondition::Optional, "draft 1"),
                Err(AdminError::PreconditionFailed(_))
            ));
        }
    }
}
