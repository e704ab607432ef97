//! `mxgate keys fetch` and `mxgate keys show`: the operator's key pinning
//! tools.
//!
//! - [`fetch`] asks a server for its signing keys through the gateway's own
//!   pinned client and key validation ([`crate::keyring::fetch_server_keys`]:
//!   `server_name` must match, the self-signature must verify, the document
//!   must not be expired), and [`remote_block`] turns them into a
//!   ready-to-paste `[[remote]]` TOML block.
//! - [`show`] lists, per configured server, the pinned keys and the keys
//!   cached under `<state_dir>/keys/` (re-validated as the gateway does on
//!   start), with their state. It only reads files.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use ed25519_dalek::VerifyingKey;
use mxgate_core::{
    config::{Config, HostPort, SpkiPin},
    ids::ServerName,
    json::encode_base64,
    keys::ServerKeys,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{
    client::{ClientError, ClientOptions, Destination, HttpClient, TlsSettings},
    keyring::{FetchError, KeyringSettings, SystemClock, fetch_server_keys},
    status::time::format_utc,
};

/// What to fetch, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTarget {
    /// The server whose keys are wanted.
    pub server: ServerName,
    /// Where to connect; `None`: the server name's host and port (8448).
    pub address: Option<HostPort>,
    /// PEM CA file trusted for the TLS connection; `None`: system roots.
    pub ca: Option<PathBuf>,
    /// Accepted SPKI digests of the server certificate (from the config).
    pub spki_pins: Vec<SpkiPin>,
}

impl FetchTarget {
    /// The target for `server`, taking `address`, `ca` and SPKI pins from
    /// its `[[remote]]` in `config` (and `[outbound] ca`) where the command
    /// line gave none.
    pub fn new(
        server: ServerName,
        address: Option<HostPort>,
        ca: Option<PathBuf>,
        config: Option<&Config>,
    ) -> Self {
        let remote = config.and_then(|c| c.remote(server.as_str()));
        let outbound_ca = config.and_then(|c| c.outbound.as_ref()?.ca.clone());
        Self {
            address: address.or_else(|| remote.and_then(|r| r.address.clone())),
            ca: ca
                .or_else(|| remote.and_then(|r| r.ca.clone()))
                .or(outbound_ca),
            spki_pins: remote.map(|r| r.spki_pins.clone()).unwrap_or_default(),
            server,
        }
    }

    /// The address actually connected to.
    pub fn effective_address(&self) -> HostPort {
        self.address.clone().unwrap_or_else(|| HostPort {
            host: self.server.host().to_owned(),
            port: self.server.port().unwrap_or(8448),
        })
    }
}

/// Why `mxgate keys fetch` failed.
#[derive(Debug, thiserror::Error)]
pub enum KeysCmdError {
    /// The client could not be built (e.g. unreadable CA file).
    #[error("cannot set up the connection: {0}")]
    Client(#[from] ClientError),
    /// The fetch or the validation failed.
    #[error("{0}")]
    Fetch(#[from] FetchError),
}

impl KeysCmdError {
    /// A stable snake_case label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Client(error) => error.reason(),
            Self::Fetch(error) => error.reason(),
        }
    }
}

/// Fetches and validates `target`'s keys exactly as the gateway's keyring
/// does (same client, same limits, same validation).
pub async fn fetch(target: &FetchTarget) -> Result<ServerKeys, KeysCmdError> {
    let tls = TlsSettings {
        ca_files: target.ca.iter().cloned().collect(),
        spki_pins: target.spki_pins.clone(),
    };
    let address = target.effective_address();
    let destination = Destination::remote(target.server.clone(), Some(&address), &tls)?;
    let client = HttpClient::new(vec![destination], ClientOptions::default())?;
    let settings = KeyringSettings::default();
    Ok(fetch_server_keys(&client, &target.server, &SystemClock, &settings).await?)
}

/// A `[[remote]]` block pinning `keys`' current verify keys, with one
/// comment per key (SHA-256 fingerprint, validity) and the retired keys
/// listed as comments (they are never valid for requests).
pub fn remote_block(keys: &ServerKeys, target: &FetchTarget, tier: &str, now_ms: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Keys of {} fetched from {} at {}, validated (self-signed, not expired).\n\
         # The server says they are valid until {}; pinned keys never expire in mxgate:\n\
         # re-run `mxgate keys fetch` when the server rotates its key.",
        keys.server_name(),
        target.effective_address(),
        format_utc(now_ms),
        format_utc(keys.valid_until_ts()),
    );
    out.push_str("[[remote]]\n");
    let _ = writeln!(
        out,
        "server_name = {}",
        toml_string(keys.server_name().as_str())
    );
    let _ = writeln!(out, "tier = {}", toml_string(tier));
    let _ = writeln!(
        out,
        "address = {}",
        toml_string(&target.effective_address().to_string())
    );
    if let Some(ca) = &target.ca {
        let _ = writeln!(out, "ca = {}", toml_string(&ca.display().to_string()));
    }
    for (id, key) in keys.verify_keys() {
        let _ = writeln!(
            out,
            "# {id}: sha256 fingerprint {}, valid until {}",
            fingerprint(key),
            format_utc(keys.valid_until_ts())
        );
    }
    for (id, old) in keys.old_verify_keys() {
        let _ = writeln!(
            out,
            "# retired {id} (expired {}): sha256 fingerprint {}, key {} (not pinned)",
            format_utc(old.expired_ts),
            fingerprint(&old.key),
            encode_base64(old.key.as_bytes())
        );
    }
    let entries: Vec<String> = keys
        .verify_keys()
        .iter()
        .map(|(id, key)| {
            format!(
                "{} = {}",
                toml_string(id.as_str()),
                toml_string(&encode_base64(key.as_bytes()))
            )
        })
        .collect();
    let _ = writeln!(out, "keys = {{ {} }}", entries.join(", "));
    out
}

/// The SHA-256 of the raw 32-byte public key, unpadded standard base64.
pub fn fingerprint(key: &VerifyingKey) -> String {
    encode_base64(&Sha256::digest(key.as_bytes()))
}

/// One line of `mxgate keys show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// The server.
    pub server: String,
    /// The key id (`-` when the server has no key to show).
    pub key_id: String,
    /// The key's fingerprint (empty when unknown).
    pub fingerprint: String,
    /// `pinned`, `cached valid until ...`, `expired since ...`,
    /// `unreadable: ...`, `not cached`, `cached, not in config`.
    pub state: String,
}

/// Pinned and cached keys of every server in `config` (and cache files of
/// servers no longer configured), as of `now_ms`.
pub fn show(config: &Config, now_ms: u64) -> Vec<KeyRow> {
    let mut cached = read_cache(&config.gateway.state_dir.join("keys"));
    let mut rows = Vec::new();
    let servers = config
        .homeservers
        .iter()
        .map(|hs| (&hs.server_name, &hs.keys))
        .chain(config.remotes.iter().map(|r| (&r.server_name, &r.keys)));
    for (name, pinned) in servers {
        for (id, key) in pinned {
            rows.push(row(
                name.as_str(),
                id.as_str(),
                Some(key),
                "pinned".to_owned(),
            ));
        }
        match cached.remove(name.as_str()) {
            Some(entry) => rows.extend(cached_rows(name.as_str(), entry, now_ms, "")),
            None if pinned.is_empty() => {
                rows.push(row(name.as_str(), "-", None, "not cached".to_owned()))
            }
            None => {}
        }
    }
    for (name, entry) in cached {
        rows.extend(cached_rows(&name, entry, now_ms, " (server not in config)"));
    }
    rows
}

/// `rows` as aligned text columns with a header.
pub fn show_table(rows: &[KeyRow]) -> String {
    let width = |f: fn(&KeyRow) -> &str, title: &str| {
        rows.iter()
            .map(|r| f(r).chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let (ws, wi, wf) = (
        width(|r| &r.server, "SERVER"),
        width(|r| &r.key_id, "KEY ID"),
        width(|r| &r.fingerprint, "SHA-256 FINGERPRINT"),
    );
    let mut out = format!(
        "{:ws$}  {:wi$}  {:wf$}  STATE\n",
        "SERVER", "KEY ID", "SHA-256 FINGERPRINT"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:ws$}  {:wi$}  {:wf$}  {}",
            r.server, r.key_id, r.fingerprint, r.state
        );
    }
    out
}

/// The on-disk format of `<state_dir>/keys/*.json` (written by the keyring).
#[derive(Deserialize)]
struct Stored {
    server_name: String,
    fetched_at: u64,
    response: String,
}

/// A cache file: validated keys, or why it is unusable.
type CacheEntry = Result<ServerKeys, String>;

/// Every `*.json` cache file of `dir`, by the server name inside (a file
/// whose server name can't be read is listed under its file name).
fn read_cache(dir: &Path) -> BTreeMap<String, CacheEntry> {
    let mut entries = BTreeMap::new();
    let Ok(listing) = std::fs::read_dir(dir) else {
        return entries;
    };
    for path in listing.flatten().map(|e| e.path()) {
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let (name, entry) = read_cache_file(&path);
        entries.insert(name, entry);
    }
    entries
}

fn read_cache_file(path: &Path) -> (String, CacheEntry) {
    let file_name = path.display().to_string();
    let stored: Stored = match std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(stored) => stored,
        Err(error) => return (file_name, Err(error)),
    };
    let entry = ServerName::parse(&stored.server_name)
        .map_err(|e| e.to_string())
        .and_then(|server| {
            ServerKeys::restore(stored.response.as_bytes(), &server, stored.fetched_at)
                .map_err(|e| e.to_string())
        });
    (stored.server_name, entry)
}

fn cached_rows(server: &str, entry: CacheEntry, now_ms: u64, note: &str) -> Vec<KeyRow> {
    let keys = match entry {
        Ok(keys) => keys,
        Err(error) => return vec![row(server, "-", None, format!("unreadable: {error}{note}"))],
    };
    let expires = keys.expires_at();
    let state = if expires < now_ms {
        format!("expired since {}{note}", format_utc(expires))
    } else {
        format!("cached, valid until {}{note}", format_utc(expires))
    };
    keys.verify_keys()
        .iter()
        .map(|(id, key)| row(server, id.as_str(), Some(key), state.clone()))
        .collect()
}

fn row(server: &str, key_id: &str, key: Option<&VerifyingKey>, state: String) -> KeyRow {
    KeyRow {
        server: server.to_owned(),
        key_id: key_id.to_owned(),
        fingerprint: key.map(fingerprint).unwrap_or_default(),
        state,
    }
}

/// A TOML basic string (quoted, escaped).
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}
