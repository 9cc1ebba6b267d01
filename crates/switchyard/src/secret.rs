//! The server secret: the key under which API keys are hashed (HMAC-SHA-256).
//!
//! From `SWITCHYARD_SECRET_KEY` when set (every replica of a cluster must share it), else from
//! `<data_dir>/secret.key`, created with 256 random bits on first start and readable only by
//! its owner. Losing it invalidates every API key; it never goes into the database, so a dump
//! of the database alone cannot be used to test guesses against the stored hashes.

use anyhow::Context;
use rand::Rng;
use std::path::Path;
use switchyard_core::Secret;

pub const ENV: &str = "SWITCHYARD_SECRET_KEY";
const MIN_LEN: usize = 32;

pub fn load_or_create(from_env: Option<String>, data_dir: &Path) -> anyhow::Result<Secret> {
    if let Some(value) = from_env {
        anyhow::ensure!(
            value.len() >= MIN_LEN,
            "{ENV} must be at least {MIN_LEN} characters (use 64 random hex digits)"
        );
        return Ok(Secret::new(value));
    }
    let path = data_dir.join("secret.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let text = text.trim().to_owned();
            anyhow::ensure!(
                text.len() >= MIN_LEN,
                "{} is shorter than {MIN_LEN} characters",
                path.display()
            );
            Ok(Secret::new(text))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            let bytes: [u8; 32] = rand::rng().random();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            write_private(&path, &hex).with_context(|| format!("writing {}", path.display()))?;
            Ok(Secret::new(hex))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes a new file only its owner can read (it fails if the file exists).
#[cfg(unix)]
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, format!("{text}\n"))
}
