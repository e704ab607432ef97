//! The `mxgate.toml` configuration: schema, parsing and validation.
//!
//! [`Config::from_toml_str`] turns the text of a configuration file into a
//! fully typed [`Config`] (server names, key ids, verify keys, socket
//! addresses and upstream URLs already parsed; relative paths made absolute
//! against the file's directory), or into the list of *every* problem found,
//! each located by its key path. Reading the file, and checking that the files
//! it names exist, is the caller's job (this crate does no I/O); see
//! [`Config::referenced_files`].
//!
//! Every key is documented in `docs/configuration.md`, and a test checks that
//! the documentation and these structs agree.
//!
//! # Layout
//! - `raw`: serde structs mirroring the file (unknown keys rejected).
//! - `read`: TOML syntax and shape errors, located by key path and line.
//! - `build`: semantic validation, from raw to typed, collecting problems.
//! - `values`: parsers for upstream URLs, `host:port` addresses, pins, keys.
//! - `summary`: the human-readable startup summary.
//! - [`problem`]: [`ConfigProblem`] and its kinds.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use serde::Deserialize;

use crate::ids::{KeyId, ServerName};
use crate::policy::{TierRights, TrustSettings};

mod build;
pub mod problem;
mod raw;
mod read;
mod summary;
mod values;

pub use problem::{ConfigProblem, ProblemKind};
pub use values::{HostPort, Scheme, SpkiPin, Upstream};

/// A validated mxgate configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[gateway]`: mode, state and audit locations.
    pub gateway: Gateway,
    /// `[inbound]`: the federation listener and its limits.
    pub inbound: Inbound,
    /// `[admin]`: the metrics/health listener, if configured.
    pub admin: Option<Admin>,
    /// `[[homeserver]]`: the internal homeservers this gateway fronts (at least one).
    pub homeservers: Vec<Homeserver>,
    /// `[[remote]]`: the trusted remote servers.
    pub remotes: Vec<Remote>,
    /// `[outbound]`: the federation-proxy listener for our homeservers, if configured.
    pub outbound: Option<Outbound>,
    /// `[tiers.NAME]`: tiers defined in the file (the built-in `internal` and
    /// `external` tiers are not in this map; see [`Config::tier_rights`]).
    pub tiers: BTreeMap<String, TierRights>,
    /// `[trust]`: settings of the room/user trust rules.
    pub trust: TrustSettings,
}

/// Whether the gateway refuses what its rules refuse, or only reports it.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refuse what the rules refuse.
    #[default]
    Enforce,
    /// Log and count what would be refused; refuse nothing.
    Report,
}

/// `[gateway]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// Enforce or report.
    pub mode: Mode,
    /// Directory of persisted state (key cache, ...). Absolute.
    pub state_dir: PathBuf,
    /// Where audit lines go; `None` = the process log. Absolute.
    pub audit_log: Option<PathBuf>,
    /// Verify signatures (`true`). `false` is a bench-only pass-through mode,
    /// never for production.
    pub verify: bool,
    /// Check the request signatures that are ready at the same time on one
    /// worker lane together, as one Ed25519 batch (`true`); `false`: each
    /// alone. See [`crate::xmatrix::verify_batch`].
    pub batch_verify: bool,
}

/// `[inbound]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// Address of the federation listener.
    pub listen: SocketAddr,
    /// Certificate/key pairs chosen by SNI, the first being the default;
    /// empty = plain HTTP.
    pub tls: Vec<TlsFiles>,
    /// Answer `/.well-known/matrix/server` for the fronted server names.
    pub well_known: bool,
    /// Size, time, connection and rate limits.
    pub limits: InboundLimits,
}

/// One `[[inbound.tls]]` certificate/key pair (absolute paths, PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// Limits of the inbound listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundLimits {
    /// Maximum total size of a request's header section, in bytes.
    pub max_header_bytes: usize,
    /// Maximum number of request header fields.
    pub max_headers: usize,
    /// Maximum body size of `PUT /send/{txnId}`, in bytes.
    pub max_body_send: usize,
    /// Maximum body size of every other buffered request, in bytes.
    pub max_body_other: usize,
    /// Time allowed to read a request's header and body.
    pub request_timeout: Duration,
    /// Time an idle keep-alive connection is kept open.
    pub idle_timeout: Duration,
    /// Maximum number of concurrent inbound connections.
    pub max_connections: usize,
    /// Sustained requests per second allowed per origin server.
    pub rate_limit_per_origin_per_sec: u32,
    /// Burst of requests allowed per origin server above the sustained rate.
    pub rate_limit_burst: u32,
}

impl InboundLimits {
    /// The smallest accepted `max_body_send`: 50 PDUs of 64 KiB.
    pub const MIN_BODY_SEND: usize = 50 * 65_536;

    /// The defaults, safe for a busy homeserver's traffic.
    pub const DEFAULT: InboundLimits = InboundLimits {
        max_header_bytes: 16 * 1024,
        max_headers: 100,
        max_body_send: 4 * 1024 * 1024,
        max_body_other: 256 * 1024,
        request_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(120),
        max_connections: 10_000,
        rate_limit_per_origin_per_sec: 200,
        rate_limit_burst: 1_000,
    };
}

impl Default for InboundLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// Address of the admin listener (`/metrics`, `/healthz`, `/readyz`).
    pub listen: SocketAddr,
}

/// One `[[homeserver]]`: an internal homeserver this gateway fronts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Homeserver {
    /// Its server name.
    pub server_name: ServerName,
    /// Where its federation listener really is.
    pub upstream: Upstream,
    /// Pinned verify keys (authoritative when not empty).
    pub keys: BTreeMap<KeyId, VerifyingKey>,
    /// Pinned TLS root(s) for an `https` upstream. Absolute.
    pub ca: Option<PathBuf>,
    /// The `m.server` value of `/.well-known/matrix/server`, if set; else the
    /// gateway answers with the server name's host and the inbound port.
    pub well_known_server: Option<ServerName>,
}

/// How the gateway finds a remote's federation endpoint.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Discovery {
    /// Only the configured `address`.
    #[default]
    #[serde(rename = "pinned")]
    Pinned,
    /// The spec's `/.well-known/matrix/server` resolution (cached, bounded TTL).
    #[serde(rename = "well-known")]
    WellKnown,
}

/// One `[[remote]]`: a trusted remote server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// Its server name.
    pub server_name: ServerName,
    /// Its trust tier: `internal`, `external` or a key of [`Config::tiers`].
    pub tier: String,
    /// Pinned federation endpoint; `None` only with [`Discovery::WellKnown`].
    pub address: Option<HostPort>,
    /// Pinned verify keys (authoritative when not empty: no key fetches).
    pub keys: BTreeMap<KeyId, VerifyingKey>,
    /// Pinned TLS root(s). Absolute.
    pub ca: Option<PathBuf>,
    /// Accepted SHA-256 digests of the certificate's SubjectPublicKeyInfo
    /// (empty = no SPKI pinning).
    pub spki_pins: Vec<SpkiPin>,
    /// How its endpoint is found.
    pub discovery: Discovery,
}

/// `[outbound]`: the federation-proxy listener for our homeservers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// Where the proxy listens.
    pub listen: OutboundListen,
    /// File holding the shared secret (`worker_replication_secret`). Absolute.
    pub secret_file: PathBuf,
    /// TLS root(s) for remotes without their own `ca`; `None` = system roots. Absolute.
    pub ca: Option<PathBuf>,
    /// Time allowed to connect (TCP + TLS) to a destination.
    pub connect_timeout: Duration,
    /// Time allowed for a destination's response headers.
    pub response_timeout: Duration,
    /// Maximum concurrent requests to one destination.
    pub max_concurrency_per_destination: usize,
}

impl Outbound {
    /// Default `listen`.
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:9100";
    /// Default `connect_timeout_secs`.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default `response_timeout_secs`.
    pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default `max_concurrency_per_destination`.
    pub const DEFAULT_MAX_CONCURRENCY_PER_DESTINATION: usize = 64;
}

/// Where the outbound proxy listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundListen {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A UNIX socket path (`unix:/path`). Absolute.
    Unix(PathBuf),
}

impl Config {
    /// Parses and validates the text of a configuration file whose directory
    /// is `base_dir` (relative paths in the file are made absolute against it).
    ///
    /// On failure, returns every problem found: a TOML syntax or shape error
    /// stops the reading at that point (one problem), otherwise every invalid
    /// value is reported.
    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Config, Vec<ConfigProblem>> {
        let raw = read::read_raw(text).map_err(|p| vec![p])?;
        build::build(raw, base_dir)
    }

    /// The fronted homeserver called `name`.
    pub fn homeserver(&self, name: &str) -> Option<&Homeserver> {
        self.homeservers
            .iter()
            .find(|h| h.server_name.as_str() == name)
    }

    /// The trusted remote called `name`.
    pub fn remote(&self, name: &str) -> Option<&Remote> {
        self.remotes.iter().find(|r| r.server_name.as_str() == name)
    }

    /// The rights of tier `name`: built in or from `[tiers.NAME]`.
    pub fn tier_rights(&self, name: &str) -> Option<&TierRights> {
        TierRights::builtin(name).or_else(|| self.tiers.get(name))
    }

    /// Every file the configuration needs to read at start, with its key path
    /// (TLS certificates and keys, CA files, the outbound secret), so that the
    /// I/O shell can check they exist and report a missing one precisely.
    pub fn referenced_files(&self) -> Vec<(String, &Path)> {
        let mut files: Vec<(String, &Path)> = Vec::new();
        for (i, tls) in self.inbound.tls.iter().enumerate() {
            files.push((format!("inbound.tls[{i}].cert"), &tls.cert));
            files.push((format!("inbound.tls[{i}].key"), &tls.key));
        }
        for (i, hs) in self.homeservers.iter().enumerate() {
            if let Some(ca) = &hs.ca {
                files.push((format!("homeserver[{i}].ca"), ca));
            }
        }
        for (i, remote) in self.remotes.iter().enumerate() {
            if let Some(ca) = &remote.ca {
                files.push((format!("remote[{i}].ca"), ca));
            }
        }
        if let Some(outbound) = &self.outbound {
            files.push(("outbound.secret_file".to_owned(), &outbound.secret_file));
            if let Some(ca) = &outbound.ca {
                files.push(("outbound.ca".to_owned(), ca));
            }
        }
        files
    }
}

#[cfg(test)]
mod tests;
