//! Provider credentials at rest: sealed with AES-256-GCM under a key derived from the server
//! secret, so a dump of the database alone never yields an upstream API key.
//!
//! The key is HMAC-SHA-256(server secret, [`PURPOSE`]): the same secret also keys the API-key
//! hashes, and a purpose label keeps the two uses apart (a key derived for one can never be
//! mistaken for the other). Each seal draws a fresh 96-bit random nonce, stored in front of the
//! ciphertext; random nonces are safe for far more writes than an operator will ever make (the
//! GCM bound is 2^32 per key). The provider's name is the associated data, so a ciphertext
//! copied onto another provider's row fails to open instead of sending one provider's key to
//! another.

use crate::secret::Secret;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The label under which the credential key is derived from the server secret. Changing it
/// makes every stored credential unreadable.
pub const PURPOSE: &[u8] = b"switchyard/provider-credentials/v1";
const NONCE_LEN: usize = 12;

/// Why a sealed credential could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "the stored credential cannot be decrypted (the server secret changed, or the row was altered)"
    )]
    Undecryptable,
    #[error("sealing the credential failed")]
    Seal,
}

/// The key that seals and opens provider credentials. Never printed.
#[derive(Clone)]
pub struct CredentialKey(Aes256Gcm);

impl std::fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialKey(***)")
    }
}

impl CredentialKey {
    /// Derives the credential key from the server secret.
    pub fn derive(server_secret: &Secret) -> CredentialKey {
        // HMAC accepts a key of any length, so `new_from_slice` cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(server_secret.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(PURPOSE);
        let key = mac.finalize().into_bytes();
        CredentialKey(Aes256Gcm::new(&key))
    }

    /// Seals `credential` for the provider `name`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, name: &str, credential: &Secret) -> Result<Vec<u8>, CredentialError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .0
            .encrypt(
                &nonce,
                Payload {
                    msg: credential.expose().as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| CredentialError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`CredentialKey::seal`] made for the provider `name`.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<Secret, CredentialError> {
        if sealed.len() < NONCE_LEN {
            return Err(CredentialError::Undecryptable);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let plain = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| CredentialError::Undecryptable)?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| CredentialError::Undecryptable)
    }
}

/// The last four characters of a credential, shown so an operator can tell keys apart, or
/// `None` when the key is too short to show any of it safely.
pub fn hint(credential: &Secret) -> Option<String> {
    let chars: Vec<char> = credential.expose().chars().collect();
    (chars.len() >= 16).then(|| chars[chars.len() - 4..].iter().collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_a_fresh_nonce_each_time() {
        let key = CredentialKey::derive(&Secret::new("a".repeat(64)));
        let secret = Secret::new("sk-live-0123456789abcdef");
        let a = key.seal("openai", &secret).unwrap();
        let b = key.seal("openai", &secret).unwrap();
        assert_ne!(a, b, "two seals of one key differ");
        assert!(!a.windows(8).any(|w| w == b"sk-live-"));
        assert_eq!(key.open("openai", &a).unwrap(), secret);
        assert_eq!(key.open("openai", &b).unwrap(), secret);
    }

    #[test]
    fn another_secret_another_provider_or_a_flipped_bit_cannot_open() {
        let key = CredentialKey::derive(&Secret::new("a".repeat(64)));
        let sealed = key.seal("openai", &Secret::new("sk-1")).unwrap();
        let other = CredentialKey::derive(&Secret::new("b".repeat(64)));
        assert_eq!(
            other.open("openai", &sealed),
            Err(CredentialError::Undecryptable)
        );
        assert_eq!(
            key.open("deepseek", &sealed),
            Err(CredentialError::Undecryptable)
        );
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            key.open("openai", &flipped),
            Err(CredentialError::Undecryptable)
        );
        assert_eq!(
            key.open("openai", &[1, 2]),
            Err(CredentialError::Undecryptable)
        );
    }

    #[test]
    fn hints_show_four_characters_of_long_keys_only() {
        assert_eq!(
            hint(&Secret::new("sk-0123456789abcdef")).as_deref(),
            Some("cdef")
        );
        assert_eq!(hint(&Secret::new("short-key")), None);
    }
}
