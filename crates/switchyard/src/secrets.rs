//! The master keys that seal provider credentials at rest, and the operator verbs around them:
//! `switchyard secrets status` and `switchyard secrets rotate`.
//!
//! The keyring comes from `SWITCHYARD_MASTER_KEYS` when set (every replica of a cluster must
//! hold the same keys), else from `master_keys_file` (default `<data_dir>/master.keys`),
//! created with one random key `k1` on first start and readable only by its owner. Either way
//! the first key seals and the others only open; the key derived from the server secret opens
//! the credentials sealed before keyrings existed, as `legacy` (see
//! `switchyard_core::credential`). No key ever enters the database.
//!
//! A rotation re-seals every credential not yet under the current key, in one transaction
//! that also bumps the catalogue generation, so running replicas reload and open the new
//! values. It refuses, writing nothing, while any stored credential cannot be opened: a
//! rotation that skipped a row would leave it behind under a key the operator then deletes.

use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::path::Path;
use switchyard_core::Secret;
use switchyard_core::credential::{self, Keyring, sealed_under};
use switchyard_store::{Reseal, Store};

pub const ENV: &str = "SWITCHYARD_MASTER_KEYS";
/// The id of the key a new key file starts with.
const FIRST_ID: &str = "k1";

/// The keyring from `from_env` (the value of [`ENV`]) or `file` (created when missing), also
/// opening legacy values under `server_secret`.
pub fn load_or_create(
    from_env: Option<String>,
    file: &Path,
    server_secret: &Secret,
) -> anyhow::Result<Keyring> {
    if let Some(value) = from_env.filter(|v| !v.trim().is_empty()) {
        let keys = Keyring::parse(&value).with_context(|| format!("reading {ENV}"))?;
        return Ok(keys.with_legacy(server_secret));
    }
    let text = match std::fs::read_to_string(file) {
        Ok(text) => {
            warn_if_readable_by_others(file);
            text
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let entry = credential::generate_entry(FIRST_ID)?;
            let text = format!(
                "# Switchyard master keys: `id:<64 hex digits>`, one per line, the current one \
                 first.\n# Keep a copy elsewhere: without it, stored provider credentials are \
                 lost.\n{}\n",
                entry.expose()
            );
            crate::secret::write_private(file, &text)
                .with_context(|| format!("writing {}", file.display()))?;
            text
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let keys = Keyring::parse(&text).with_context(|| format!("reading {}", file.display()))?;
    Ok(keys.with_legacy(server_secret))
}

#[cfg(unix)]
fn warn_if_readable_by_others(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(file)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            file = %file.display(),
            "the master key file can be read by other users; `chmod 600` it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_file: &Path) {}

/// How many stored credentials each key id seals, and which cannot be opened.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Rows by the key id in their header (`legacy` for headerless values).
    pub rows: BTreeMap<String, usize>,
    /// Providers whose credential does not open, with why.
    pub unreadable: Vec<(String, String)>,
}

/// What the keyring can say about every stored credential.
pub async fn status(store: &Store, keys: &Keyring) -> anyhow::Result<Status> {
    let mut status = Status::default();
    for (name, sealed) in store.sealed_credentials().await? {
        *status
            .rows
            .entry(sealed_under(&sealed).id().to_owned())
            .or_default() += 1;
        if let Err(e) = keys.open(&name, &sealed) {
            status.unreadable.push((name, e.to_string()));
        }
    }
    Ok(status)
}

/// What a rotation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// The key everything is now sealed under.
    pub current: String,
    /// Re-sealed rows by the key id they were under.
    pub resealed: BTreeMap<String, usize>,
    /// Rows already under the current key.
    pub unchanged: usize,
}

/// Re-seals every stored credential that is not under the current key, in one transaction;
/// running it again finds nothing to do. Fails, writing nothing, naming the provider, if a
/// stored credential cannot be opened.
pub async fn rotate(store: &Store, keys: &Keyring) -> anyhow::Result<Rotation> {
    let mut rotation = Rotation {
        current: keys.current_id().to_owned(),
        ..Rotation::default()
    };
    let mut changes = Vec::new();
    for (name, sealed) in store.sealed_credentials().await? {
        // Every row must open, even one under the current key: the report then proves that
        // no old key is needed any more, and a damaged row is named before keys are dropped.
        let plain = match keys.open(&name, &sealed) {
            Ok(plain) => plain,
            Err(e) => bail!(
                "provider `{name}`: {e}; nothing was re-sealed (set its api_key again through \
                 /api/admin/providers, or delete it, then run the rotation again)"
            ),
        };
        if keys.is_current(&sealed) {
            rotation.unchanged += 1;
            continue;
        }
        let new = keys
            .seal(&name, &plain)
            .with_context(|| format!("provider `{name}`"))?;
        *rotation
            .resealed
            .entry(sealed_under(&sealed).id().to_owned())
            .or_default() += 1;
        changes.push(Reseal {
            name,
            old: sealed,
            new,
        });
    }
    store.reseal_credentials(&changes).await?;
    Ok(rotation)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    fn temp_file(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "switchyard-secrets-unit-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("keys/master.keys")
    }

    #[test]
    fn the_environment_wins_over_the_file_and_errors_never_quote_keys() {
        let secret = Secret::new("s".repeat(64));
        let file = temp_file("env");
        let hex = "ab".repeat(32);
        let keys = load_or_create(Some(format!("k7:{hex}")), &file, &secret).unwrap();
        assert_eq!(keys.ids().collect::<Vec<_>>(), ["k7", "legacy"]);
        assert!(
            !file.exists(),
            "no file is made when the environment has the keys"
        );

        // Blank: the file, created with one key.
        let keys = load_or_create(Some(" ".into()), &file, &secret).unwrap();
        assert_eq!(keys.current_id(), "k1");
        assert!(file.exists());

        let bad = format!("k1:{}", &hex[1..]);
        let error = load_or_create(Some(bad.clone()), &file, &secret).unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains(ENV) && !text.contains(&hex[1..]), "{text}");
        std::fs::write(&file, format!("{bad}\n")).unwrap();
        let error = load_or_create(None, &file, &secret).unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.contains("master.keys") && !text.contains(&hex[1..]),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(file.parent().unwrap().parent().unwrap());
    }
}
