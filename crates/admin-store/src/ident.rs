//! The one identifier rule of the admin store: module ids, credential names, category names
//! and tool names.

/// What [`valid_ident`] accepts, for messages.
pub const IDENT_RULE: &str = "1 to 64 characters of [A-Za-z0-9_.-]";

/// Whether `id` is a valid identifier: 1 to 64 of `[A-Za-z0-9_.-]`.
pub fn valid_ident(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// `named` when `id` is a valid identifier (safe to repeat to a client), else `unnamed`: an
/// arbitrary string a client sent is never echoed.
pub fn named(id: &str, named: impl FnOnce(&str) -> String, unnamed: &str) -> String {
    if valid_ident(id) {
        named(id)
    } else {
        unnamed.to_owned()
    }
}
