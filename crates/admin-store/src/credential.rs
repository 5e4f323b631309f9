//! Credentials as the store keeps them: sealed. Encryption is the caller's (the admin API
//! holds the key); the store never sees a secret in the clear.

/// A secret encrypted by the caller: the nonce and the ciphertext (with its tag).
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The nonce, one per secret.
    pub nonce: Vec<u8>,
    /// The ciphertext.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed {{ {} bytes }}", self.ciphertext.len())
    }
}

/// One stored credential of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// The module it belongs to.
    pub module_id: String,
    /// Its name.
    pub name: String,
    /// The sealed secret.
    pub sealed: Sealed,
    /// When it was last set, Unix milliseconds UTC.
    pub updated_ms: i64,
}
