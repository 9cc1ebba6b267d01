//! Passwords: the policy a new one must meet, and argon2id hashing with OWASP's parameters.
//!
//! Hashing costs tens of milliseconds of CPU and 19 MiB of memory on purpose; callers run it
//! with `spawn_blocking` so it never stalls the async workers.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::LazyLock;

/// Shorter passwords are refused. OWASP ASVS 5.0 asks for at least 8 and recommends 15 for
/// single-factor accounts; 12 is NIST's and the brief's middle ground.
pub const MIN_CHARS: usize = 12;
/// Longer passwords are refused: argon2 accepts anything, but an unbounded input is a free
/// denial of service.
pub const MAX_BYTES: usize = 1024;

/// OWASP's argon2id configuration: m = 19 MiB, t = 2, p = 1.
fn hasher() -> Argon2<'static> {
    // The constants are within argon2's limits, so `Params::new` cannot fail; the default is
    // the same parameters in any case.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a new password is refused, in words for the person choosing it.
pub fn check_policy(password: &str) -> Result<(), String> {
    if password.len() > MAX_BYTES {
        return Err(format!(
            "a password has at most {MAX_BYTES} bytes; choose a shorter one"
        ));
    }
    if password.chars().count() < MIN_CHARS {
        return Err(format!(
            "a password has at least {MIN_CHARS} characters; a few words make a good one"
        ));
    }
    Ok(())
}

/// The argon2id hash of `password` as a PHC string, with a fresh random salt.
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the PHC string `phc`. A string that is not a PHC hash matches
/// nothing. The parameters are read from `phc`, so hashes made with older parameters still
/// verify.
pub fn verify(password: &str, phc: &str) -> bool {
    if password.len() > MAX_BYTES {
        return false;
    }
    PasswordHash::new(phc).is_ok_and(|parsed| {
        hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash no password is known for, verified when a sign-in names an unknown email, so that
/// the answer takes as long as for a wrong password (no account enumeration by timing).
pub fn verify_dummy(password: &str) {
    static DUMMY: LazyLock<String> = LazyLock::new(|| {
        let mut random = [0u8; 32];
        rand::fill(&mut random);
        // A hash of 32 random bytes; should hashing fail, an unparsable string still costs
        // little and matches nothing.
        hash(&String::from_utf8_lossy(&random)).unwrap_or_default()
    });
    let _ = verify(password, &DUMMY);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    #[test]
    fn the_policy_counts_characters_and_caps_bytes() {
        assert!(check_policy("short").unwrap_err().contains("at least 12"));
        assert!(
            check_policy("ĳĳĳĳĳĳĳĳĳĳĳ").is_err(),
            "11 characters in 22 bytes"
        );
        assert!(check_policy("ĳĳĳĳĳĳĳĳĳĳĳĳ").is_ok());
        assert!(check_policy(&"x".repeat(1024)).is_ok());
        assert!(
            check_policy(&"x".repeat(1025))
                .unwrap_err()
                .contains("1024")
        );
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let phc = hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse battery!", &phc));
        assert!(!verify("correct horse battery", "not a hash"));
        let again = hash("correct horse battery").unwrap();
        assert_ne!(phc, again, "a fresh salt every time");
    }
}
