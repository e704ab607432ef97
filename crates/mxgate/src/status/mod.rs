//! The operator status board: what the gateway saw, per server.
//!
//! [`StatusBoard`] is fed from the request paths (cheap: one read lock on a
//! map plus relaxed atomics per accepted request; a short mutex per refusal)
//! and read by the admin listener:
//! - `GET /status`: a [`Snapshot`] as JSON;
//! - `GET /`: the same as one self-contained HTML page (inline CSS, no
//!   external assets, refreshes itself every 5 s).
//!
//! `mxgate status --admin URL` fetches `/status` and prints
//! [`render::text_table`].
//!
//! # Layout
//! - this file: the board and its hooks;
//! - [`snapshot`]: the serializable view (`/status` JSON);
//! - [`render`]: HTML page and text table;
//! - [`fetch`]: `mxgate status`'s client for `/status`;
//! - [`time`]: UTC date formatting (no clock here: `now_ms` is passed in).

pub mod fetch;
pub mod render;
pub mod snapshot;
pub mod time;

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode, header};
use mxgate_core::{config::Config, ids::ServerName};

use crate::{
    audit::AuditRecord,
    keyring::{Clock, Keyring, SystemClock},
};
pub use snapshot::{KeyState, KeyStatus, RecentRefusal, ServerStatus, Snapshot, UpstreamHealth};

/// How many recent refusals are kept.
pub const RECENT_REFUSALS: usize = 50;
/// How many distinct unknown servers get their own row; further ones are
/// counted under [`OTHER_UNKNOWN`] (a peer can invent names at will).
pub const MAX_UNKNOWN_SERVERS: usize = 32;
/// The row counting unknown servers beyond [`MAX_UNKNOWN_SERVERS`].
pub const OTHER_UNKNOWN: &str = "(other unknown servers)";
/// Keys expiring sooner than this are flagged.
pub const KEY_WARNING_MS: u64 = 24 * 3600 * 1000;

/// Which way a request went through the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A remote server calling one of our homeservers.
    Inbound,
    /// One of our homeservers calling a remote server.
    Outbound,
}

impl Direction {
    /// `inbound` / `outbound`, as in metrics and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    /// Parses the metric/audit label.
    pub fn from_label(label: &str) -> Option<Self> {
        Some(match label {
            "inbound" => Self::Inbound,
            "outbound" => Self::Outbound,
            _ => return None,
        })
    }
}

/// Per-server counters and per-homeserver upstream health, plus the last
/// [`RECENT_REFUSALS`] refusals. Share it as `Arc<StatusBoard>`.
pub struct StatusBoard {
    started_at_ms: u64,
    view: RwLock<View>,
    unknown: Mutex<BTreeMap<String, Arc<Counters>>>,
    refusals: Mutex<VecDeque<RecentRefusal>>,
}

impl std::fmt::Debug for StatusBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusBoard")
            .field("started_at_ms", &self.started_at_ms)
            .finish_non_exhaustive()
    }
}

impl StatusBoard {
    /// An empty board (no configured servers until [`Self::watch`]).
    pub fn new(started_at_ms: u64) -> Self {
        Self {
            started_at_ms,
            view: RwLock::new(View::default()),
            unknown: Mutex::new(BTreeMap::new()),
            refusals: Mutex::new(VecDeque::with_capacity(RECENT_REFUSALS)),
        }
    }

    /// Takes the servers of `config` (and, with `keyring`, their key state).
    /// Call at start and after every reload: counters of servers that stay
    /// configured are kept.
    pub fn watch(&self, config: Arc<Config>, keyring: Option<Keyring>) {
        let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
        let mut counters = HashMap::new();
        let names = config
            .homeservers
            .iter()
            .map(|hs| &hs.server_name)
            .chain(config.remotes.iter().map(|r| &r.server_name));
        for name in names {
            let kept = view.counters.get(name).cloned().unwrap_or_default();
            counters.insert(name.clone(), kept);
        }
        let upstreams = config
            .homeservers
            .iter()
            .map(|hs| {
                let kept = view.upstreams.get(&hs.server_name).cloned();
                (hs.server_name.clone(), kept.unwrap_or_default())
            })
            .collect();
        *view = View {
            config: Some(config),
            keyring,
            counters,
            upstreams,
        };
    }

    /// Counts one request to or from the remote `server` (inbound: the
    /// X-Matrix origin; outbound: the destination) at `now_ms`. `verdict`
    /// is `accepted`, or a refusal verdict (`rejected`, `would_reject`,
    /// `failed`) counted under `reason`.
    pub fn record(
        &self,
        direction: Direction,
        server: Option<&str>,
        verdict: &str,
        reason: &'static str,
        now_ms: u64,
    ) {
        let Some(server) = server else { return };
        let counters = self.counters(server);
        let (last, accepted) = match direction {
            Direction::Inbound => (&counters.last_inbound_ms, &counters.accepted_inbound),
            Direction::Outbound => (&counters.last_outbound_ms, &counters.accepted_outbound),
        };
        last.fetch_max(now_ms, Ordering::Relaxed);
        if verdict == "accepted" {
            accepted.fetch_add(1, Ordering::Relaxed);
        } else {
            let mut refused = counters
                .refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *refused.entry(reason).or_insert(0) += 1;
        }
    }

    /// Records a refusal from its audit record: counts it for the remote
    /// server and keeps it among the recent refusals. An inbound `failed`
    /// (upstream error) also marks the destination's upstream as down.
    pub fn refusal(&self, record: &AuditRecord) {
        let direction = Direction::from_label(record.direction).unwrap_or(Direction::Inbound);
        let remote = match direction {
            Direction::Inbound => record.origin.as_deref(),
            Direction::Outbound => record.destination.as_deref(),
        };
        self.record(direction, remote, record.verdict, record.reason, record.ts);
        if direction == Direction::Inbound
            && record.verdict == "failed"
            && let Some(local) = record.destination.as_deref()
        {
            self.upstream(local, false, Some(record.reason), record.ts);
        }
        let mut recent = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == RECENT_REFUSALS {
            recent.pop_front();
        }
        recent.push_back(RecentRefusal::from(record));
    }

    /// Records whether our homeserver `server`'s upstream answered
    /// (`error`: the reason label when it did not).
    pub fn upstream(&self, server: &str, healthy: bool, error: Option<&'static str>, now_ms: u64) {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(upstream) = view.upstreams.get(server) {
            upstream.set(healthy, error, now_ms);
        }
    }

    /// The board as of `now_ms`.
    pub fn snapshot(&self, now_ms: u64) -> Snapshot {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        let mut servers = view.configured(now_ms);
        let unknown = self.unknown.lock().unwrap_or_else(PoisonError::into_inner);
        servers.extend(
            unknown
                .iter()
                .map(|(name, counters)| counters.status(name, "unknown", false)),
        );
        drop(unknown);
        servers
            .sort_by(|a, b| (a.tier_rank(), &a.server_name).cmp(&(b.tier_rank(), &b.server_name)));
        let recent = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        Snapshot {
            generated_at_ms: now_ms,
            started_at_ms: self.started_at_ms,
            mode: view.mode().to_owned(),
            servers,
            recent_refusals: recent.iter().rev().cloned().collect(),
        }
    }

    /// The admin routes of the board: `GET /status` (JSON) and `GET /`
    /// (HTML). `None` for any other request, which the caller handles.
    pub fn admin_routes(&self, method: &Method, path: &str) -> Option<Response<Full<Bytes>>> {
        self.admin_routes_at(method, path, SystemClock.now_ms())
    }

    /// [`Self::admin_routes`] at a given time (tests).
    pub fn admin_routes_at(
        &self,
        method: &Method,
        path: &str,
        now_ms: u64,
    ) -> Option<Response<Full<Bytes>>> {
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let (content_type, body) = match path {
            "/status" => (
                "application/json",
                serde_json::to_vec_pretty(&self.snapshot(now_ms)).unwrap_or_default(),
            ),
            "/" => (
                "text/html; charset=utf-8",
                render::html_page(&self.snapshot(now_ms)).into_bytes(),
            ),
            _ => return None,
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(content_type),
        );
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        Some(response)
    }

    /// The counters of `server`: its configured row, else an unknown row.
    fn counters(&self, server: &str) -> Arc<Counters> {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(counters) = view.counters.get(server) {
            return counters.clone();
        }
        drop(view);
        let mut unknown = self.unknown.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(counters) = unknown.get(server) {
            return counters.clone();
        }
        let key = if unknown.len() < MAX_UNKNOWN_SERVERS {
            server
        } else {
            OTHER_UNKNOWN
        };
        unknown.entry(key.to_owned()).or_default().clone()
    }
}

/// What the board knows of the configuration.
#[derive(Default)]
struct View {
    config: Option<Arc<Config>>,
    keyring: Option<Keyring>,
    counters: HashMap<ServerName, Arc<Counters>>,
    upstreams: HashMap<ServerName, Arc<Upstream>>,
}

impl View {
    fn mode(&self) -> &'static str {
        match self.config.as_ref().map(|c| c.gateway.mode) {
            Some(mxgate_core::config::Mode::Report) => "report",
            Some(mxgate_core::config::Mode::Enforce) => "enforce",
            None => "unknown",
        }
    }

    /// Rows of the configured servers: fronted homeservers, then remotes.
    fn configured(&self, now_ms: u64) -> Vec<ServerStatus> {
        let Some(config) = &self.config else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for hs in &config.homeservers {
            let mut row = self.row(&hs.server_name, "internal", true);
            row.keys = self.key_status(&hs.server_name, !hs.keys.is_empty(), now_ms);
            row.upstream = self.upstreams.get(&hs.server_name).map(|u| u.health());
            rows.push(row);
        }
        for remote in &config.remotes {
            let mut row = self.row(&remote.server_name, &remote.tier, false);
            row.keys = self.key_status(&remote.server_name, !remote.keys.is_empty(), now_ms);
            rows.push(row);
        }
        rows
    }

    fn row(&self, name: &ServerName, tier: &str, fronted: bool) -> ServerStatus {
        let counters = self.counters.get(name).cloned().unwrap_or_default();
        counters.status(name.as_str(), tier, fronted)
    }

    fn key_status(&self, name: &ServerName, pinned: bool, now_ms: u64) -> KeyStatus {
        if pinned {
            return KeyStatus::new(KeyState::Pinned, None);
        }
        let cached = self.keyring.as_ref().and_then(|k| k.cached_keys(name));
        match cached {
            None => KeyStatus::new(KeyState::NotFetched, None),
            Some(keys) => {
                let expires = keys.expires_at();
                let state = if expires < now_ms {
                    KeyState::Expired
                } else if expires - now_ms < KEY_WARNING_MS {
                    KeyState::Expiring
                } else {
                    KeyState::Valid
                };
                KeyStatus::new(state, Some(expires))
            }
        }
    }
}

/// Per-server counters (relaxed atomics; refusals under a short mutex).
#[derive(Default)]
struct Counters {
    last_inbound_ms: AtomicU64,
    last_outbound_ms: AtomicU64,
    accepted_inbound: AtomicU64,
    accepted_outbound: AtomicU64,
    refused: Mutex<BTreeMap<&'static str, u64>>,
}

impl Counters {
    fn status(&self, name: &str, tier: &str, fronted: bool) -> ServerStatus {
        let nonzero = |v: u64| (v > 0).then_some(v);
        let refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        ServerStatus {
            server_name: name.to_owned(),
            tier: tier.to_owned(),
            marker: snapshot::marker(tier).to_owned(),
            fronted,
            upstream: None,
            keys: KeyStatus::new(KeyState::Unknown, None),
            last_inbound_ms: nonzero(self.last_inbound_ms.load(Ordering::Relaxed)),
            last_outbound_ms: nonzero(self.last_outbound_ms.load(Ordering::Relaxed)),
            accepted_inbound: self.accepted_inbound.load(Ordering::Relaxed),
            accepted_outbound: self.accepted_outbound.load(Ordering::Relaxed),
            refused: refused.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        }
    }
}

/// Upstream health of one fronted homeserver.
#[derive(Default)]
struct Upstream {
    /// 0 = not checked yet, 1 = up, 2 = down.
    state: AtomicU8,
    since_ms: AtomicU64,
    error: Mutex<Option<&'static str>>,
}

impl Upstream {
    fn set(&self, healthy: bool, error: Option<&'static str>, now_ms: u64) {
        let state = if healthy { 1 } else { 2 };
        if self.state.swap(state, Ordering::Relaxed) != state {
            self.since_ms.store(now_ms, Ordering::Relaxed);
        }
        if !healthy || error.is_some() {
            *self.error.lock().unwrap_or_else(PoisonError::into_inner) = error;
        }
    }

    fn health(&self) -> UpstreamHealth {
        let state = match self.state.load(Ordering::Relaxed) {
            1 => "up",
            2 => "down",
            _ => "unchecked",
        };
        let error = *self.error.lock().unwrap_or_else(PoisonError::into_inner);
        UpstreamHealth {
            state: state.to_owned(),
            since_ms: Some(self.since_ms.load(Ordering::Relaxed)).filter(|v| *v > 0),
            last_error: error.map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests;
