//! Encryption at rest for credential secrets (XChaCha20-Poly1305).
//!
//! Each secret gets a fresh random 24-byte nonce; the associated data binds the ciphertext to
//! its `(module, name)` row so rows cannot be swapped. The key never leaves this type: its
//! `Debug` prints nothing of it.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// A value whose `Debug` never shows it (tokens, keys), so no `{:?}` of a config or of the
/// state can leak it into a log.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Redacted<T>(pub T);

impl<T> std::fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Length of the key in bytes.
pub const KEY_LEN: usize = 32;

/// Encrypts and decrypts secrets with one key.
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

pub use admin_store::Sealed;

impl SecretBox {
    /// A box using `key`.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(Key::from_slice(key)),
        }
    }

    /// Seals `secret`, binding it to `aad` (e.g. `module/name`).
    pub fn seal(&self, secret: &[u8], aad: &[u8]) -> Option<Sealed> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: secret, aad })
            .ok()?;
        Some(Sealed {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens a sealed secret; `None` if the key, the associated data or the bytes are wrong.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Option<Vec<u8>> {
        if sealed.nonce.len() != 24 {
            return None;
        }
        let nonce = XNonce::from_slice(&sealed.nonce);
        self.cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .ok()
    }
}

/// The associated data of a credential: its ciphertext is bound to its module and name, so a
/// sealed secret copied to another credential does not open.
fn credential_aad(module_id: &str, name: &str) -> Vec<u8> {
    format!("{module_id}/{name}").into_bytes()
}

impl SecretBox {
    /// Seals the secret of credential `name` of module `module_id`.
    pub fn seal_credential(&self, module_id: &str, name: &str, secret: &[u8]) -> Option<Sealed> {
        self.seal(secret, &credential_aad(module_id, name))
    }

    /// Opens a stored credential; `None` when it does not decrypt with this key.
    pub fn open_credential(&self, stored: &admin_store::StoredCredential) -> Option<Vec<u8>> {
        self.open(
            &stored.sealed,
            &credential_aad(&stored.module_id, &stored.name),
        )
    }
}

/// 32 fresh random bytes from the OS.
pub fn random_key() -> [u8; KEY_LEN] {
    XChaCha20Poly1305::generate_key(&mut OsRng).into()
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses exactly `KEY_LEN` bytes of hex (surrounding whitespace allowed).
pub fn key_from_hex(text: &str) -> Option<[u8; KEY_LEN]> {
    let text = text.trim();
    if text.len() != KEY_LEN * 2 || !text.is_ascii() {
        return None;
    }
    let mut key = [0u8; KEY_LEN];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_row() {
        let key = random_key();
        let sb = SecretBox::new(&key);
        let sealed = sb.seal(b"hunter2-secret", b"m/api_key").unwrap();
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(sb.open(&sealed, b"m/api_key").unwrap(), b"hunter2-secret");
        assert!(sb.open(&sealed, b"other/api_key").is_none());
        assert!(
            SecretBox::new(&random_key())
                .open(&sealed, b"m/api_key")
                .is_none()
        );
    }

    #[test]
    fn hex_keys_round_trip() {
        let key = random_key();
        assert_eq!(key_from_hex(&to_hex(&key)), Some(key));
        assert_eq!(key_from_hex("zz"), None);
    }
}
