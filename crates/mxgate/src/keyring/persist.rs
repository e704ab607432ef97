//! The persisted key cache: `<state_dir>/keys/<server>.json` holds the raw
//! key response exactly as fetched plus the fetch time; it is re-validated
//! on load, so a tampered or expired file is never trusted.
//!
//! Writes are atomic (temporary file, fsync, rename). Any problem reading a
//! file is a warning and an empty cache entry, never a failure to start.

use std::{
    fmt::Write as _,
    io,
    path::{Path, PathBuf},
};

use mxgate_core::{ids::ServerName, keys::ServerKeys};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

/// The on-disk format of one server's cached keys.
#[derive(Serialize, Deserialize)]
struct Stored {
    server_name: String,
    fetched_at: u64,
    response: String,
}

/// The `keys/` directory under `state_dir`, known to be writable.
pub(super) struct PersistDir {
    dir: PathBuf,
}

impl PersistDir {
    /// Creates `<state_dir>/keys` and checks it is writable. `None` (with a
    /// warning) if it is not: the keyring then caches in memory only.
    pub(super) fn open(state_dir: &Path) -> Option<Self> {
        let dir = state_dir.join("keys");
        match probe(&dir) {
            Ok(()) => Some(Self { dir }),
            Err(error) => {
                tracing::warn!(
                    dir = %dir.display(),
                    %error,
                    "key cache directory unusable: keys are cached in memory only \
                     and will be fetched again after a restart"
                );
                None
            }
        }
    }

    /// The persisted keys of `server`, re-validated; `None` when absent,
    /// unreadable or corrupt (with a warning). Expired keys load, and simply
    /// verify nothing.
    pub(super) fn load(&self, server: &ServerName) -> Option<ServerKeys> {
        let path = self.path(server);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return None,
            Err(error) => return warn_ignored(&path, &error),
        };
        let stored: Stored = match serde_json::from_slice(&text) {
            Ok(stored) => stored,
            Err(error) => return warn_ignored(&path, &error),
        };
        if stored.server_name != server.as_str() {
            return warn_ignored(&path, &"file is for another server");
        }
        match ServerKeys::restore(stored.response.as_bytes(), server, stored.fetched_at) {
            Ok(keys) => {
                tracing::info!(server = %server, fetched_at = stored.fetched_at, "loaded cached keys");
                Some(keys)
            }
            Err(error) => warn_ignored(&path, &error),
        }
    }

    /// Writes `keys`' raw response and fetch time atomically. Returns
    /// whether it was written (failures are logged).
    pub(super) async fn store(&self, keys: &ServerKeys) -> bool {
        let server = keys.server_name();
        let path = self.path(server);
        let result = match std::str::from_utf8(keys.raw_response()) {
            Ok(response) => {
                let stored = Stored {
                    server_name: server.to_string(),
                    fetched_at: keys.fetched_at(),
                    response: response.to_owned(),
                };
                write_atomic(&path, &stored).await
            }
            Err(error) => Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        };
        match result {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "could not persist keys");
                false
            }
        }
    }

    fn path(&self, server: &ServerName) -> PathBuf {
        self.dir
            .join(format!("{}.json", file_stem(server.as_str())))
    }
}

/// A file name stem for a server name: `[A-Za-z0-9.-]` kept (but never a
/// leading `.`), every other byte written `_xx` in hex (`_` included), so
/// distinct names map to distinct files and none can escape the directory.
fn file_stem(name: &str) -> String {
    let mut stem = String::with_capacity(name.len());
    for (i, byte) in name.bytes().enumerate() {
        let keep = byte.is_ascii_alphanumeric() || byte == b'-' || (byte == b'.' && i > 0);
        if keep {
            stem.push(char::from(byte));
        } else {
            let _ = write!(stem, "_{byte:02x}");
        }
    }
    stem
}

async fn write_atomic(path: &Path, stored: &Stored) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(stored).map_err(io::Error::other)?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        file_name.unwrap_or_default(),
        std::process::id()
    ));
    let mut file = tokio::fs::File::create(&tmp).await?;
    file.write_all(&bytes).await?;
    file.sync_all().await?;
    drop(file);
    tokio::fs::rename(&tmp, path).await
}

fn probe(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".probe.{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

fn warn_ignored<T>(path: &Path, error: &dyn std::fmt::Display) -> Option<T> {
    tracing::warn!(file = %path.display(), %error, "ignoring unusable cached keys");
    None
}
