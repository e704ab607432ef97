//! The file's shape: serde structs mirroring `mxgate.toml` one to one.
//!
//! Values that need semantic parsing (server names, addresses, keys, URLs)
//! stay strings here so that [`super::build`] can report every bad value, not
//! only the first one. Every struct rejects unknown keys.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::{Discovery, InboundLimits, Mode, Outbound};
use crate::policy::{TierRights, TrustSettings};

/// The whole file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub gateway: RawGateway,
    pub inbound: RawInbound,
    pub admin: Option<RawAdmin>,
    #[serde(default)]
    pub homeserver: Vec<RawHomeserver>,
    #[serde(default)]
    pub remote: Vec<RawRemote>,
    pub outbound: Option<RawOutbound>,
    #[serde(default)]
    pub tiers: BTreeMap<String, TierRights>,
    #[serde(default)]
    pub trust: TrustSettings,
}

/// `[gateway]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGateway {
    #[serde(default)]
    pub mode: Mode,
    pub state_dir: PathBuf,
    pub audit_log: Option<PathBuf>,
    #[serde(default = "yes")]
    pub verify: bool,
    #[serde(default = "yes")]
    pub batch_verify: bool,
}

/// `[inbound]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInbound {
    pub listen: String,
    #[serde(default)]
    pub tls: Vec<RawTls>,
    #[serde(default = "yes")]
    pub well_known: bool,
    #[serde(default = "d::max_header_bytes")]
    pub max_header_bytes: u64,
    #[serde(default = "d::max_headers")]
    pub max_headers: u64,
    #[serde(default = "d::max_body_send")]
    pub max_body_send: u64,
    #[serde(default = "d::max_body_other")]
    pub max_body_other: u64,
    #[serde(default = "d::request_timeout_secs")]
    pub request_timeout_secs: u64,
    #[serde(default = "d::idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    #[serde(default = "d::max_connections")]
    pub max_connections: u64,
    #[serde(default = "d::rate_limit_per_origin_per_sec")]
    pub rate_limit_per_origin_per_sec: u64,
    #[serde(default = "d::rate_limit_burst")]
    pub rate_limit_burst: u64,
}

/// `[[inbound.tls]]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[admin]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    pub listen: String,
}

/// `[[homeserver]]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHomeserver {
    pub server_name: String,
    pub upstream: String,
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    pub ca: Option<PathBuf>,
    pub well_known_server: Option<String>,
}

/// `[[remote]]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRemote {
    pub server_name: String,
    pub tier: String,
    pub address: Option<String>,
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    pub ca: Option<PathBuf>,
    #[serde(default)]
    pub spki_pins: Vec<String>,
    #[serde(default)]
    pub discovery: Discovery,
}

/// `[outbound]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutbound {
    #[serde(default = "d::outbound_listen")]
    pub listen: String,
    pub secret_file: Option<PathBuf>,
    pub ca: Option<PathBuf>,
    #[serde(default = "d::connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    #[serde(default = "d::response_timeout_secs")]
    pub response_timeout_secs: u64,
    #[serde(default = "d::max_concurrency_per_destination")]
    pub max_concurrency_per_destination: u64,
}

fn yes() -> bool {
    true
}

/// Serde default functions, all taken from the typed defaults.
mod d {
    use super::{InboundLimits, Outbound};

    const L: InboundLimits = InboundLimits::DEFAULT;

    pub fn max_header_bytes() -> u64 {
        L.max_header_bytes as u64
    }
    pub fn max_headers() -> u64 {
        L.max_headers as u64
    }
    pub fn max_body_send() -> u64 {
        L.max_body_send as u64
    }
    pub fn max_body_other() -> u64 {
        L.max_body_other as u64
    }
    pub fn request_timeout_secs() -> u64 {
        L.request_timeout.as_secs()
    }
    pub fn idle_timeout_secs() -> u64 {
        L.idle_timeout.as_secs()
    }
    pub fn max_connections() -> u64 {
        L.max_connections as u64
    }
    pub fn rate_limit_per_origin_per_sec() -> u64 {
        u64::from(L.rate_limit_per_origin_per_sec)
    }
    pub fn rate_limit_burst() -> u64 {
        u64::from(L.rate_limit_burst)
    }
    pub fn outbound_listen() -> String {
        Outbound::DEFAULT_LISTEN.to_owned()
    }
    pub fn connect_timeout_secs() -> u64 {
        Outbound::DEFAULT_CONNECT_TIMEOUT.as_secs()
    }
    pub fn response_timeout_secs() -> u64 {
        Outbound::DEFAULT_RESPONSE_TIMEOUT.as_secs()
    }
    pub fn max_concurrency_per_destination() -> u64 {
        Outbound::DEFAULT_MAX_CONCURRENCY_PER_DESTINATION as u64
    }
}
