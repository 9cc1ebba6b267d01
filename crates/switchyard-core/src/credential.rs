//! Provider credentials at rest: sealed with AES-256-GCM under a rotatable master key, so a
//! dump of the database alone never yields an upstream API key.
//!
//! A [`Keyring`] holds the master keys, each a 256-bit key with a short id (`k1`, `2026-11`).
//! The first one is *current*: every new seal uses it. The others only open what they sealed
//! before, until `switchyard secrets rotate` has re-sealed everything under the current key and
//! the operator drops them. A sealed value names its key, so opening never guesses:
//!
//! ```text
//! "SYK" 0x01 | id length (1 byte) | id (ASCII) | nonce (12 bytes) | ciphertext | tag (16 bytes)
//! ```
//!
//! Values sealed before keyrings existed carry no header: `nonce | ciphertext | tag` under
//! HMAC-SHA-256(server secret, [`PURPOSE`]). The keyring keeps that derived key under the id
//! [`LEGACY_KEY_ID`] (opening only), so those values still open and a rotation re-seals them.
//!
//! Each seal draws a fresh 96-bit random nonce; random nonces are safe for far more writes than
//! an operator will ever make (the GCM bound is 2^32 per key). The provider's name is the
//! associated data, so a ciphertext copied onto another provider's row fails to open instead
//! of sending one provider's key to another. GCM's tag makes any altered byte fail loudly: a
//! changed id names a key that is missing or fails the tag, a changed header reads as a legacy
//! value that fails the tag, and a changed nonce, ciphertext or tag fails the tag.

use crate::secret::Secret;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

/// The label under which the legacy credential key is derived from the server secret. Changing
/// it makes every legacy credential unreadable.
pub const PURPOSE: &[u8] = b"switchyard/provider-credentials/v1";
/// The id under which the key derived from the server secret opens values sealed before
/// keyrings existed. No master key may take it.
pub const LEGACY_KEY_ID: &str = "legacy";
/// The first bytes of a value sealed under a named master key (format version 1).
const MAGIC: [u8; 4] = *b"SYK\x01";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const MAX_ID_LEN: usize = 32;

/// Why a sealed credential could not be opened (or made).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "the stored credential was sealed under the master key `{0}`, which is not in the keyring; \
         add that key back (SWITCHYARD_MASTER_KEYS or the master key file) and run \
         `switchyard secrets rotate`"
    )]
    UnknownKey(String),
    #[error(
        "the stored credential cannot be decrypted under the master key `{0}`: the stored bytes \
         were altered, or the key with that id is not the one that sealed them; set the \
         provider's api_key again"
    )]
    Undecryptable(String),
    #[error("sealing the credential failed")]
    Seal,
}

/// Why a keyring could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("the keyring holds no key; write entries as `id:<64 hex digits>`")]
    Empty,
    #[error("entry {0} is not `id:<64 hex digits>`")]
    Entry(usize),
    #[error(
        "`{0}` is not a key id: use 1 to {MAX_ID_LEN} letters, digits, `.`, `_` or `-` \
         (and not `{LEGACY_KEY_ID}`, which is reserved)"
    )]
    Id(String),
    #[error("the key `{0}` is not 64 hex digits (256 bits)")]
    Material(String),
    #[error("the key id `{0}` appears twice")]
    Duplicate(String),
}

/// One master key and its id. Prints its id only, never the key.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({}, ***)", self.id)
    }
}

impl MasterKey {
    /// A master key from its id and 256 bits.
    pub fn new(id: &str, key: &[u8; 32]) -> Result<MasterKey, KeyringError> {
        if !valid_id(id) {
            return Err(KeyringError::Id(id.to_owned()));
        }
        Ok(MasterKey {
            id: id.to_owned(),
            cipher: Aes256Gcm::new(key.into()),
        })
    }

    /// The key derived from the server secret, which sealed every credential before keyrings
    /// existed.
    pub fn legacy(server_secret: &Secret) -> MasterKey {
        // HMAC accepts a key of any length, so `new_from_slice` cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(server_secret.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(PURPOSE);
        let key = mac.finalize().into_bytes();
        MasterKey {
            id: LEGACY_KEY_ID.to_owned(),
            cipher: Aes256Gcm::new(&key),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A new keyring entry `id:<64 hex digits>` with 256 fresh random bits, for a key file or
/// `SWITCHYARD_MASTER_KEYS`. A secret: it holds the key.
pub fn generate_entry(id: &str) -> Result<Secret, KeyringError> {
    if !valid_id(id) {
        return Err(KeyringError::Id(id.to_owned()));
    }
    let key: [u8; 32] = rand::rng().random();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Secret::new(format!("{id}:{hex}")))
}

/// Which key a sealed value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedUnder<'a> {
    /// A master key, by id.
    Key(&'a str),
    /// No header: the legacy key derived from the server secret.
    Legacy,
}

impl SealedUnder<'_> {
    /// The key id as reports show it (`legacy` for the legacy key).
    pub fn id(&self) -> &str {
        match self {
            SealedUnder::Key(id) => id,
            SealedUnder::Legacy => LEGACY_KEY_ID,
        }
    }
}

/// A versioned value's parts: key id, nonce, ciphertext with tag. `None` when `sealed` is not
/// a well-formed versioned value (then it is read as a legacy one).
fn parse(sealed: &[u8]) -> Option<(&str, &[u8], &[u8])> {
    let rest = sealed.strip_prefix(&MAGIC)?;
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if rest.len() < len + NONCE_LEN + TAG_LEN {
        return None;
    }
    let (id, rest) = rest.split_at(len);
    let id = std::str::from_utf8(id).ok().filter(|id| valid_id(id))?;
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    Some((id, nonce, ciphertext))
}

/// Which key `sealed` names, read from its header.
pub fn sealed_under(sealed: &[u8]) -> SealedUnder<'_> {
    match parse(sealed) {
        Some((id, _, _)) => SealedUnder::Key(id),
        None => SealedUnder::Legacy,
    }
}

/// The master keys that seal and open provider credentials: the current one first. Never
/// prints key material.
#[derive(Clone, Debug)]
pub struct Keyring {
    /// Never empty; `keys[0]` seals.
    keys: Vec<MasterKey>,
    /// The server-secret key, opening values sealed before keyrings existed.
    legacy: Option<MasterKey>,
}

impl Keyring {
    /// A keyring of `keys`, the first being current. Ids must be distinct.
    pub fn new(keys: Vec<MasterKey>) -> Result<Keyring, KeyringError> {
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.id == key.id) {
                return Err(KeyringError::Duplicate(key.id.clone()));
            }
        }
        Ok(Keyring { keys, legacy: None })
    }

    /// Reads `id:<64 hex digits>` entries separated by commas or new lines, the current one
    /// first. Blank lines and lines starting with `#` are skipped. Errors never quote key
    /// material.
    pub fn parse(text: &str) -> Result<Keyring, KeyringError> {
        let mut keys = Vec::new();
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.starts_with('#'))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty());
        for (i, entry) in entries.enumerate() {
            let (id, hex) = entry.split_once(':').ok_or(KeyringError::Entry(i + 1))?;
            let (id, hex) = (id.trim(), hex.trim());
            let key = decode_hex(hex).ok_or_else(|| KeyringError::Material(id.to_owned()))?;
            keys.push(MasterKey::new(id, &key)?);
        }
        Keyring::new(keys)
    }

    /// This keyring, also opening values sealed under the legacy key of `server_secret`.
    pub fn with_legacy(mut self, server_secret: &Secret) -> Keyring {
        self.legacy = Some(MasterKey::legacy(server_secret));
        self
    }

    /// The id of the key new seals use.
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Every id this keyring opens, current first (`legacy` last when it opens legacy values).
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys
            .iter()
            .chain(self.legacy.as_ref())
            .map(MasterKey::id)
    }

    /// Whether `sealed` is already under the current key (a rotation leaves it alone).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed_under(sealed) == SealedUnder::Key(self.current_id())
    }

    /// Seals `credential` for the provider `name` under the current key.
    pub fn seal(&self, name: &str, credential: &Secret) -> Result<Vec<u8>, CredentialError> {
        let key = &self.keys[0];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = key
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: credential.expose().as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| CredentialError::Seal)?;
        // Ids are checked to be at most MAX_ID_LEN ASCII bytes, so the length fits a byte.
        let id_len = u8::try_from(key.id.len()).map_err(|_| CredentialError::Seal)?;
        let mut out = Vec::with_capacity(MAGIC.len() + 1 + key.id.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(&MAGIC);
        out.push(id_len);
        out.extend_from_slice(key.id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`Keyring::seal`] (or the legacy scheme) made for the provider `name`, with
    /// the key its header names. Never tries another key on a versioned value, except the
    /// legacy one: a legacy nonce may begin like a header (a 2^-32 chance), and the tag proves
    /// whether that reading was right.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<Secret, CredentialError> {
        let versioned = match parse(sealed) {
            Some((id, nonce, ciphertext)) => match self.keys.iter().find(|k| k.id == id) {
                Some(key) => match decrypt(key, name, nonce, ciphertext) {
                    Some(secret) => return Ok(secret),
                    None => CredentialError::Undecryptable(id.to_owned()),
                },
                None => CredentialError::UnknownKey(id.to_owned()),
            },
            None => return self.open_legacy(name, sealed),
        };
        self.open_legacy(name, sealed).map_err(|_| versioned)
    }

    fn open_legacy(&self, name: &str, sealed: &[u8]) -> Result<Secret, CredentialError> {
        let Some(key) = &self.legacy else {
            return Err(CredentialError::UnknownKey(LEGACY_KEY_ID.to_owned()));
        };
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(CredentialError::Undecryptable(LEGACY_KEY_ID.to_owned()));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        decrypt(key, name, nonce, ciphertext)
            .ok_or_else(|| CredentialError::Undecryptable(LEGACY_KEY_ID.to_owned()))
    }
}

fn decrypt(key: &MasterKey, name: &str, nonce: &[u8], ciphertext: &[u8]) -> Option<Secret> {
    let plain = key
        .cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: name.as_bytes(),
            },
        )
        .ok()?;
    String::from_utf8(plain).ok().map(Secret::new)
}

fn valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id != LEGACY_KEY_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (out, pair) in key.iter_mut().zip(bytes.chunks_exact(2)) {
        let digit = |b: u8| char::from(b).to_digit(16);
        // Both digits are below 16, so the byte cannot overflow.
        *out = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(key)
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
    use proptest::prelude::*;

    fn key(id: &str, byte: u8) -> MasterKey {
        MasterKey::new(id, &[byte; 32]).unwrap()
    }

    fn ring(keys: &[(&str, u8)]) -> Keyring {
        Keyring::new(keys.iter().map(|(id, b)| key(id, *b)).collect()).unwrap()
    }

    fn server_secret() -> Secret {
        Secret::new("a".repeat(64))
    }

    /// A value sealed the way every credential was before keyrings: nonce ‖ ciphertext ‖ tag
    /// under the key derived from the server secret, no header.
    fn legacy_seal(secret: &Secret, name: &str, credential: &str) -> Vec<u8> {
        let key = MasterKey::legacy(secret);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = key
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: credential.as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .unwrap();
        [nonce.as_slice(), &sealed].concat()
    }

    #[test]
    fn seals_under_the_current_key_with_a_fresh_nonce_each_time() {
        let keys = ring(&[("k2", 2), ("k1", 1)]);
        let secret = Secret::new("sk-live-0123456789abcdef");
        let a = keys.seal("openai", &secret).unwrap();
        let b = keys.seal("openai", &secret).unwrap();
        assert_ne!(a, b, "two seals of one key differ");
        assert!(!a.windows(8).any(|w| w == b"sk-live-"));
        assert_eq!(sealed_under(&a), SealedUnder::Key("k2"));
        assert!(keys.is_current(&a));
        assert_eq!(keys.open("openai", &a).unwrap(), secret);
        assert_eq!(keys.open("openai", &b).unwrap(), secret);
    }

    #[test]
    fn an_old_key_still_opens_until_it_is_dropped() {
        let old = ring(&[("k1", 1)]);
        let sealed = old.seal("openai", &Secret::new("sk-1")).unwrap();
        let rotated = ring(&[("k2", 2), ("k1", 1)]);
        assert_eq!(rotated.open("openai", &sealed).unwrap().expose(), "sk-1");
        assert!(!rotated.is_current(&sealed));
        let dropped = ring(&[("k2", 2)]);
        assert_eq!(
            dropped.open("openai", &sealed),
            Err(CredentialError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn a_wrong_key_under_the_right_id_another_provider_or_garbage_cannot_open() {
        let sealed = ring(&[("k1", 1)])
            .seal("openai", &Secret::new("sk-1"))
            .unwrap();
        let impostor = ring(&[("k1", 9)]).with_legacy(&server_secret());
        assert_eq!(
            impostor.open("openai", &sealed),
            Err(CredentialError::Undecryptable("k1".into()))
        );
        assert_eq!(
            ring(&[("k1", 1)]).open("deepseek", &sealed),
            Err(CredentialError::Undecryptable("k1".into()))
        );
        let with_legacy = ring(&[("k1", 1)]).with_legacy(&server_secret());
        assert_eq!(
            with_legacy.open("openai", &[1, 2]),
            Err(CredentialError::Undecryptable(LEGACY_KEY_ID.into()))
        );
        assert_eq!(
            ring(&[("k1", 1)]).open("openai", &[1, 2]),
            Err(CredentialError::UnknownKey(LEGACY_KEY_ID.into()))
        );
    }

    #[test]
    fn legacy_values_open_with_the_server_secret_and_are_not_current() {
        let sealed = legacy_seal(&server_secret(), "openai", "sk-legacy");
        let keys = ring(&[("k1", 1)]).with_legacy(&server_secret());
        assert_eq!(sealed_under(&sealed), SealedUnder::Legacy);
        assert_eq!(keys.open("openai", &sealed).unwrap().expose(), "sk-legacy");
        assert!(!keys.is_current(&sealed));
        let other_secret = ring(&[("k1", 1)]).with_legacy(&Secret::new("b".repeat(64)));
        assert_eq!(
            other_secret.open("openai", &sealed),
            Err(CredentialError::Undecryptable(LEGACY_KEY_ID.into()))
        );
        assert_eq!(
            keys.ids().collect::<Vec<_>>(),
            ["k1", LEGACY_KEY_ID],
            "legacy opens, never seals"
        );
    }

    #[test]
    fn every_flipped_bit_of_a_sealed_value_fails_to_open() {
        // Both formats, with every key the test knows in the ring, so no failure comes from a
        // missing key alone.
        let keys = ring(&[("k2", 2), ("k1", 1)]).with_legacy(&server_secret());
        let values = [
            keys.seal("p", &Secret::new("sk")).unwrap(),
            ring(&[("k1", 1)]).seal("p", &Secret::new("sk")).unwrap(),
            legacy_seal(&server_secret(), "p", "sk"),
        ];
        for sealed in values {
            assert_eq!(keys.open("p", &sealed).unwrap().expose(), "sk");
            for i in 0..sealed.len() {
                for mask in (0..8).map(|bit| 1u8 << bit).chain([0xff]) {
                    let mut flipped = sealed.clone();
                    flipped[i] ^= mask;
                    assert!(
                        keys.open("p", &flipped).is_err(),
                        "byte {i} ^ {mask:#04x} of {sealed:?} still opened"
                    );
                }
            }
            // Cut short or extended, too.
            for len in 0..sealed.len() {
                assert!(keys.open("p", &sealed[..len]).is_err(), "cut at {len}");
            }
            assert!(keys.open("p", &[sealed.as_slice(), &[0]].concat()).is_err());
        }
    }

    #[test]
    fn keyrings_parse_from_lists_and_files_without_quoting_keys() {
        let hex1 = "11".repeat(32);
        let hex2 = "2A".repeat(32);
        let keys = Keyring::parse(&format!("k2:{hex2}, k1:{hex1}")).unwrap();
        assert_eq!(keys.ids().collect::<Vec<_>>(), ["k2", "k1"]);
        let file = format!("# rotated 2026-11\n2026-11:{hex2}\n\n2026-01:{hex1}\n");
        assert_eq!(Keyring::parse(&file).unwrap().current_id(), "2026-11");
        // The same bytes under the same id open each other's values.
        let sealed = keys.seal("p", &Secret::new("x")).unwrap();
        assert_eq!(
            ring(&[("k2", 0x2a)]).open("p", &sealed).unwrap().expose(),
            "x"
        );

        assert_eq!(
            Keyring::parse(" \n# none\n").err(),
            Some(KeyringError::Empty)
        );
        assert_eq!(Keyring::parse(&hex1).err(), Some(KeyringError::Entry(1)));
        assert_eq!(
            Keyring::parse(&format!("k1:{}", &hex1[2..])).err(),
            Some(KeyringError::Material("k1".into()))
        );
        assert_eq!(
            Keyring::parse(&format!("k1:{}zz", &hex1[2..])).err(),
            Some(KeyringError::Material("k1".into()))
        );
        assert_eq!(
            Keyring::parse(&format!("legacy:{hex1}")).err(),
            Some(KeyringError::Id("legacy".into()))
        );
        assert_eq!(
            Keyring::parse(&format!("k 1:{hex1}")).err(),
            Some(KeyringError::Id("k 1".into()))
        );
        assert_eq!(
            Keyring::parse(&format!("k1:{hex1},k1:{hex2}")).err(),
            Some(KeyringError::Duplicate("k1".into()))
        );
        let debug = format!("{keys:?}");
        assert!(!debug.contains(&hex1) && !debug.contains("2a2a"), "{debug}");
        for error in [KeyringError::Material("k1".into()), KeyringError::Entry(1)] {
            assert!(!error.to_string().contains(&hex1));
        }
    }

    #[test]
    fn generated_entries_parse_and_differ() {
        let a = generate_entry("k1").unwrap();
        let b = generate_entry("k1").unwrap();
        assert_ne!(a, b);
        assert_eq!(Keyring::parse(a.expose()).unwrap().current_id(), "k1");
        assert!(generate_entry("legacy").is_err());
    }

    proptest! {
        #[test]
        fn any_credential_round_trips_under_any_valid_id(
            id in "[A-Za-z0-9._-]{1,32}",
            name in ".{0,40}",
            credential in ".{0,200}",
            bytes in any::<[u8; 32]>(),
        ) {
            prop_assume!(id != LEGACY_KEY_ID);
            let keys = Keyring::new(vec![MasterKey::new(&id, &bytes).unwrap()]).unwrap();
            let sealed = keys.seal(&name, &Secret::new(credential.clone())).unwrap();
            prop_assert_eq!(sealed_under(&sealed), SealedUnder::Key(&id));
            let opened = keys.open(&name, &sealed).unwrap();
            prop_assert_eq!(opened.expose(), credential.as_str());
        }
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
