//! What every fixture suite needs: the fixture files of a format, pretty JSON for snapshots,
//! and a stream fed to a decoder in pieces.

#![allow(dead_code, clippy::unwrap_used)] // each suite uses some; a bad fixture should fail loudly

use std::path::{Path, PathBuf};
use switchyard_wire::neutral::{StreamDecoder, StreamEvent};

/// `tests/fixtures/<dir>/<prefix>*`, sorted, as (file stem, path). Fails when there are none.
pub fn fixtures(dir: &str, prefix: &str) -> Vec<(String, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let stem = path.file_stem()?.to_str()?.to_owned();
            stem.starts_with(prefix).then_some((stem, path))
        })
        .collect();
    out.sort();
    assert!(
        !out.is_empty(),
        "no {prefix}* fixtures in {}",
        dir.display()
    );
    out
}

/// JSON bytes, pretty-printed for a snapshot.
pub fn pretty(bytes: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    serde_json::to_string_pretty(&value).unwrap()
}

/// The neutral events `decoder` reads from an SSE body fed in pieces of `piece` bytes,
/// end of stream included.
pub fn decode_stream(
    decoder: &mut dyn StreamDecoder,
    body: &[u8],
    piece: usize,
) -> Vec<StreamEvent> {
    switchyard_wire::neutral::decode_sse(decoder, body.chunks(piece.max(1)))
}
