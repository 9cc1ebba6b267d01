//! API key secrets: how they look, how a typo is caught without a lookup, how they are hashed.
//!
//! A key is `sk-sy-` + 32 random base62 characters (≈190 bits) + a 6-character base62
//! CRC-32 of those 32 characters. The checksum lets the gateway reject a mistyped or truncated
//! key before it touches the key table, and lets secret scanners recognise our keys.
//! Only `HMAC-SHA-256(server key, secret)` is stored: a database dump reveals no usable key,
//! and without the server key the hashes cannot even be tested against guesses.

use crate::Secret;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

pub const PREFIX: &str = "sk-sy-";
const RANDOM_LEN: usize = 32;
const CHECK_LEN: usize = 6;
/// Characters of a key shown in lists: the prefix and the first six random characters.
pub const VISIBLE_LEN: usize = PREFIX.len() + 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The keyed hash under which a key is stored and looked up.
pub type KeyHash = [u8; 32];

/// Why a presented string is not a well-formed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the API key does not start with `{PREFIX}`")]
    Prefix,
    #[error("the API key has the wrong length or characters")]
    Shape,
    #[error("the API key's checksum does not match (a typo or a truncated copy?)")]
    Checksum,
}

/// A freshly generated key: the secret (shown once) and what is stored.
#[derive(Debug)]
pub struct NewKeySecret {
    pub secret: Secret,
    pub visible_prefix: String,
}

/// Creates a new random key.
pub fn generate() -> NewKeySecret {
    let mut rng = rand::rng();
    let random: String = (0..RANDOM_LEN)
        .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
        .collect();
    let secret = format!("{PREFIX}{random}{}", checksum(&random));
    NewKeySecret {
        visible_prefix: secret[..VISIBLE_LEN].to_owned(),
        secret: Secret::new(secret),
    }
}

/// Checks the shape and checksum of a presented key. Cheap and allocation-free.
pub fn check_format(presented: &str) -> Result<(), KeyFormatError> {
    let body = presented
        .strip_prefix(PREFIX)
        .ok_or(KeyFormatError::Prefix)?;
    if body.len() != RANDOM_LEN + CHECK_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyFormatError::Shape);
    }
    let (random, check) = body.split_at(RANDOM_LEN);
    if checksum(random) != check {
        return Err(KeyFormatError::Checksum);
    }
    Ok(())
}

/// The stored form of a key: HMAC-SHA-256 under the server's key-hashing secret.
pub fn hash(server_key: &[u8], presented: &str) -> KeyHash {
    // An HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(server_key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(presented.as_bytes());
    mac.finalize().into_bytes().into()
}

fn checksum(random: &str) -> String {
    let mut n = crc32fast::hash(random.as_bytes()) as u64;
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    // 62^6 > 2^32, so every CRC-32 fits in six base62 digits.
    out.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_keys_pass_their_own_check() {
        for _ in 0..100 {
            let key = generate();
            assert_eq!(check_format(key.secret.expose()), Ok(()));
            assert!(key.secret.expose().starts_with(&key.visible_prefix));
            assert_eq!(
                key.secret.expose().len(),
                PREFIX.len() + RANDOM_LEN + CHECK_LEN
            );
        }
    }

    #[test]
    fn rejects_malformed_keys() {
        assert_eq!(check_format("sk-proj-abc"), Err(KeyFormatError::Prefix));
        assert_eq!(check_format("sk-sy-short"), Err(KeyFormatError::Shape));
        let key = generate();
        let text = key.secret.expose();
        let truncated = &text[..text.len() - 1];
        assert_eq!(check_format(truncated), Err(KeyFormatError::Shape));
    }

    #[test]
    fn hash_depends_on_the_server_key() {
        let key = generate();
        let a = hash(b"server-a", key.secret.expose());
        let b = hash(b"server-b", key.secret.expose());
        assert_ne!(a, b);
        assert_eq!(a, hash(b"server-a", key.secret.expose()));
    }

    proptest! {
        /// Any single-character substitution in the random part is caught by the checksum.
        #[test]
        fn single_typos_are_caught(pos in 0usize..RANDOM_LEN, replacement in 0usize..62) {
            let key = generate();
            let mut bytes = key.secret.expose().as_bytes().to_vec();
            let at = PREFIX.len() + pos;
            prop_assume!(bytes[at] != BASE62[replacement]);
            bytes[at] = BASE62[replacement];
            let typo = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(check_format(&typo), Err(KeyFormatError::Checksum));
        }
    }
}
