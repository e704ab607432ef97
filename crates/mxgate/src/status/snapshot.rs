//! The serializable status view: the `GET /status` JSON document, read back
//! by `mxgate status`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::audit::AuditRecord;

/// Everything the status board shows, as of `generated_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When this snapshot was taken (ms since the Unix epoch).
    pub generated_at_ms: u64,
    /// When the gateway started.
    pub started_at_ms: u64,
    /// `enforce` or `report`.
    pub mode: String,
    /// Every server: fronted homeservers and remotes, sorted by tier
    /// (internal, other tiers, external, unknown) then name.
    pub servers: Vec<ServerStatus>,
    /// The latest refusals, newest first.
    pub recent_refusals: Vec<RecentRefusal>,
}

/// One server's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// The server name.
    pub server_name: String,
    /// Its tier (`internal` for fronted homeservers, `unknown` for servers
    /// not in the config).
    pub tier: String,
    /// `green` (internal), `orange` (trusted outside tiers) or `red` (unknown).
    pub marker: String,
    /// Whether this is one of our homeservers (behind the gateway).
    pub fronted: bool,
    /// Upstream health, for fronted homeservers.
    pub upstream: Option<UpstreamHealth>,
    /// Signing key state.
    pub keys: KeyStatus,
    /// Last request from this server (inbound), ms since the epoch.
    pub last_inbound_ms: Option<u64>,
    /// Last request to this server (outbound), ms since the epoch.
    pub last_outbound_ms: Option<u64>,
    /// Accepted inbound requests.
    pub accepted_inbound: u64,
    /// Accepted outbound requests.
    pub accepted_outbound: u64,
    /// Refused requests (both directions) by reason label.
    pub refused: BTreeMap<String, u64>,
}

/// Upstream health of a fronted homeserver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamHealth {
    /// `up`, `down` or `unchecked`.
    pub state: String,
    /// Since when it is in this state.
    pub since_ms: Option<u64>,
    /// The last error's reason label.
    pub last_error: Option<String>,
}

/// Where a server's signing keys stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Pinned in the config (never fetched, never expire).
    Pinned,
    /// Fetched and valid for more than a day.
    Valid,
    /// Fetched, valid, but expiring within a day.
    Expiring,
    /// Fetched, expired (a refetch happens on the next request).
    Expired,
    /// Fetched on first use; not fetched yet.
    NotFetched,
    /// Not a configured server: its keys are never fetched.
    Unknown,
}

impl KeyState {
    /// The snake_case label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pinned => "pinned",
            Self::Valid => "valid",
            Self::Expiring => "expiring",
            Self::Expired => "expired",
            Self::NotFetched => "not_fetched",
            Self::Unknown => "unknown",
        }
    }
}

/// Key state plus expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStatus {
    /// The state.
    pub state: KeyState,
    /// When the fetched keys stop being valid for requests.
    pub expires_at_ms: Option<u64>,
    /// Whether an operator should look (expiring within 24 h, or expired).
    pub warning: bool,
}

impl KeyStatus {
    /// A key status; `warning` follows from `state`.
    pub fn new(state: KeyState, expires_at_ms: Option<u64>) -> Self {
        Self {
            state,
            expires_at_ms,
            warning: matches!(state, KeyState::Expiring | KeyState::Expired),
        }
    }
}

/// One recent refusal (from the audit record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentRefusal {
    /// When (ms since the epoch).
    pub ts: u64,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// The origin server, when known.
    pub origin: Option<String>,
    /// The destination server, when known.
    pub destination: Option<String>,
    /// Request method.
    pub method: String,
    /// Raw path (no query).
    pub path: String,
    /// `rejected`, `would_reject` or `failed`.
    pub verdict: String,
    /// Reason label.
    pub reason: String,
    /// HTTP status sent.
    pub status: u16,
}

impl From<&AuditRecord> for RecentRefusal {
    fn from(record: &AuditRecord) -> Self {
        Self {
            ts: record.ts,
            direction: record.direction.to_owned(),
            origin: record.origin.clone(),
            destination: record.destination.clone(),
            method: record.method.clone(),
            path: record.path.clone(),
            verdict: record.verdict.to_owned(),
            reason: record.reason.to_owned(),
            status: record.status,
        }
    }
}

impl ServerStatus {
    /// Sort rank of the tier: internal, custom tiers, external, unknown.
    pub fn tier_rank(&self) -> u8 {
        match self.tier.as_str() {
            "internal" => 0,
            "external" => 2,
            "unknown" => 3,
            _ => 1,
        }
    }
}

/// The marker colour of a tier: internal green, unknown red, any other
/// (trusted outside) tier orange.
pub fn marker(tier: &str) -> &'static str {
    match tier {
        "internal" => "green",
        "unknown" => "red",
        _ => "orange",
    }
}
