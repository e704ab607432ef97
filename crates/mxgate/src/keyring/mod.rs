//! Server signing keys for request verification: pinned, fetched, cached,
//! persisted.
//!
//! - Pinned `keys` in config are authoritative: no fetch is ever made for
//!   such a server.
//! - Otherwise the keys come from `GET /_matrix/key/v2/server`
//!   (<https://spec.matrix.org/v1.16/server-server-api/#get_matrixkeyv2server>)
//!   through the pinned [`HttpClient`] (a remote's pinned `address` and `ca`,
//!   a homeserver's `upstream`), validated by
//!   [`ServerKeys::from_response`], cached in memory for their validity and
//!   persisted under `<state_dir>/keys/` so a restart needs no fetch.
//! - Only servers named in the config are ever fetched: any other origin is
//!   [`KeyringError::UnknownServer`] before anything is sent.
//! - One fetch at a time per server (concurrent callers share it); a failed
//!   fetch blocks further fetches for an exponentially growing backoff; an
//!   unknown key id triggers a refetch at most once per
//!   [`KeyringSettings::refetch_interval`].
//!
//! `state_dir` unwritable at start: the keyring warns and keeps keys in
//! memory only ([`Keyring::persistence_enabled`] is `false`); a corrupt or
//! unreadable cache file is ignored with a warning.

mod fetch;
mod persist;
mod slot;

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use ed25519_dalek::VerifyingKey;
use mxgate_core::{
    config::Config,
    ids::{KeyId, ServerName},
    keys::ServerKeys,
};

use crate::client::HttpClient;
pub use fetch::{FetchError, fetch_server_keys};
use persist::PersistDir;
use slot::{Lookup, Slot};

/// The keyring. Cheap to clone; clones share caches and counters.
#[derive(Clone)]
pub struct Keyring {
    inner: Arc<Inner>,
}

impl Keyring {
    /// A keyring for these servers. With `state_dir`, persisted keys are
    /// loaded (and re-validated) now, and fetched keys are written there.
    /// Reads the cache with blocking file I/O: call it at startup or reload.
    pub fn new(
        servers: impl IntoIterator<Item = (ServerName, KeySource)>,
        client: HttpClient,
        state_dir: Option<&Path>,
        clock: Arc<dyn Clock>,
        settings: KeyringSettings,
    ) -> Self {
        let persist = state_dir.and_then(PersistDir::open);
        let events = Arc::new(KeyringEvents::default());
        let servers = servers
            .into_iter()
            .map(|(name, source)| {
                let source = match source {
                    KeySource::Pinned(keys) => Source::Pinned(keys),
                    KeySource::Fetch => {
                        let loaded = persist.as_ref().and_then(|p| p.load(&name));
                        if loaded.is_some() {
                            events.loaded_from_disk.fetch_add(1, Ordering::Relaxed);
                        }
                        Source::Fetch(Slot::new(loaded))
                    }
                };
                (name, source)
            })
            .collect();
        let inner = Inner {
            servers,
            client,
            clock,
            settings,
            persist,
            events,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// A keyring for every `[[homeserver]]` and `[[remote]]` of `config`,
    /// persisting under `[gateway] state_dir`, with default settings.
    pub fn from_config(config: &Config, client: HttpClient, clock: Arc<dyn Clock>) -> Self {
        let source = |keys: &std::collections::BTreeMap<KeyId, VerifyingKey>| {
            if keys.is_empty() {
                KeySource::Fetch
            } else {
                KeySource::Pinned(keys.clone())
            }
        };
        let homeservers = config
            .homeservers
            .iter()
            .map(|hs| (hs.server_name.clone(), source(&hs.keys)));
        let remotes = config
            .remotes
            .iter()
            .map(|r| (r.server_name.clone(), source(&r.keys)));
        let state_dir = Some(config.gateway.state_dir.as_path());
        let settings = KeyringSettings::default();
        Self::new(
            homeservers.chain(remotes),
            client,
            state_dir,
            clock,
            settings,
        )
    }

    /// The verify key `key_id` of `origin`, valid now for request
    /// verification, fetching the origin's keys if needed and allowed.
    pub async fn request_key(
        &self,
        origin: &ServerName,
        key_id: &KeyId,
    ) -> Result<VerifyingKey, KeyringError> {
        let slot = match self.inner.servers.get(origin) {
            None => return Err(KeyringError::UnknownServer(origin.clone())),
            Some(Source::Pinned(keys)) => {
                return keys
                    .get(key_id)
                    .copied()
                    .ok_or_else(|| unknown_key(origin, key_id));
            }
            Some(Source::Fetch(slot)) => slot,
        };
        let now = self.inner.clock.now_ms();
        let generation = match slot.lookup(key_id, now, &self.inner.settings) {
            Lookup::Found { key, refresh } => {
                if refresh {
                    self.spawn_refresh(origin, slot);
                }
                return Ok(key);
            }
            Lookup::Fetch { generation } => generation,
            Lookup::Refused(refusal) => return Err(self.suppressed(origin, key_id, refusal)),
        };
        // Boxed: the fetch is rare, and its future (an HTTP request) would
        // otherwise make every request's state that much larger.
        Box::pin(self.wait_or_fetch(origin, key_id, slot, generation)).await
    }

    /// The slow path of [`Self::request_key`]: waits for a fetch of the
    /// server's keys already under way, or makes one.
    async fn wait_or_fetch(
        &self,
        origin: &ServerName,
        key_id: &KeyId,
        slot: &Slot,
        generation: u64,
    ) -> Result<VerifyingKey, KeyringError> {
        let _flight = slot.flight.lock().await;
        let now = self.inner.clock.now_ms();
        if let Some(result) = slot.after_wait(key_id, now, generation) {
            return result.map_err(|refusal| self.suppressed(origin, key_id, refusal));
        }
        self.fetch_and_store(origin, slot).await?;
        let now = self.inner.clock.now_ms();
        slot.cached_key(key_id, now)
            .ok_or_else(|| unknown_key(origin, key_id))
    }

    /// The currently cached fetched keys of `server`, if any.
    pub fn cached_keys(&self, server: &ServerName) -> Option<Arc<ServerKeys>> {
        match self.inner.servers.get(server)? {
            Source::Pinned(_) => None,
            Source::Fetch(slot) => slot.keys(),
        }
    }

    /// Event counters for the metrics exporter.
    pub fn events(&self) -> Arc<KeyringEvents> {
        self.inner.events.clone()
    }

    /// Whether fetched keys are persisted under `state_dir`.
    pub fn persistence_enabled(&self) -> bool {
        self.inner.persist.is_some()
    }

    /// Fetches, validates, caches and persists; called with the flight lock.
    async fn fetch_and_store(&self, origin: &ServerName, slot: &Slot) -> Result<(), KeyringError> {
        let inner = &self.inner;
        let fetched =
            fetch::fetch_server_keys(&inner.client, origin, &*inner.clock, &inner.settings).await;
        let now = inner.clock.now_ms();
        match fetched {
            Ok(keys) => {
                inner.events.fetch_ok.fetch_add(1, Ordering::Relaxed);
                let persisted = match &inner.persist {
                    Some(persist) => persist.store(&keys).await,
                    None => true,
                };
                if !persisted {
                    inner.events.persist_failed.fetch_add(1, Ordering::Relaxed);
                }
                if slot.store(keys, now) {
                    inner.events.rotations.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(server = %origin, "server signing keys changed (key rotation)");
                }
                Ok(())
            }
            Err(source) => {
                inner.events.fetch_failed.fetch_add(1, Ordering::Relaxed);
                slot.record_failure(now, &inner.settings);
                tracing::warn!(server = %origin, error = %source, "key fetch failed");
                Err(KeyringError::Fetch {
                    server: origin.clone(),
                    source: Box::new(source),
                })
            }
        }
    }

    /// Starts a background refresh of `origin`'s soon-expiring keys unless
    /// one is already scheduled.
    fn spawn_refresh(&self, origin: &ServerName, slot: &Slot) {
        if !slot.begin_refresh() {
            return;
        }
        let keyring = self.clone();
        let origin = origin.clone();
        tokio::spawn(async move { keyring.refresh(&origin).await });
    }

    async fn refresh(&self, origin: &ServerName) {
        let Some(Source::Fetch(slot)) = self.inner.servers.get(origin) else {
            return;
        };
        {
            let _flight = slot.flight.lock().await;
            let now = self.inner.clock.now_ms();
            if slot.refresh_due(now, &self.inner.settings) {
                // A failure is logged and counted there; the cached keys stay.
                let _ = self.fetch_and_store(origin, slot).await;
            }
        }
        slot.end_refresh();
    }

    fn suppressed(
        &self,
        origin: &ServerName,
        key_id: &KeyId,
        refusal: slot::Refusal,
    ) -> KeyringError {
        self.inner
            .events
            .fetch_suppressed
            .fetch_add(1, Ordering::Relaxed);
        match refusal {
            slot::Refusal::Backoff { retry_in_ms } => KeyringError::Backoff {
                server: origin.clone(),
                retry_in_ms,
            },
            slot::Refusal::RateLimited => unknown_key(origin, key_id),
        }
    }
}

/// The source of "now" in milliseconds since the Unix epoch (tests move it).
pub trait Clock: Send + Sync + 'static {
    /// The current time, in ms since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Tunables of fetching and caching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyringSettings {
    /// Time allowed for one whole fetch (connect, headers, body).
    pub fetch_timeout: Duration,
    /// Largest accepted key response body, in bytes.
    pub max_response_bytes: usize,
    /// Backoff after the first failed fetch; doubles per further failure.
    pub backoff_initial: Duration,
    /// Largest backoff.
    pub backoff_max: Duration,
    /// Minimum time between two fetches caused by unknown key ids (and
    /// between background refreshes).
    pub refetch_interval: Duration,
    /// Cached keys are refreshed in the background when they expire within
    /// this margin.
    pub refresh_before: Duration,
}

impl Default for KeyringSettings {
    fn default() -> Self {
        Self {
            fetch_timeout: Duration::from_secs(10),
            max_response_bytes: 64 * 1024,
            backoff_initial: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            refetch_interval: Duration::from_secs(30),
            refresh_before: Duration::from_secs(3600),
        }
    }
}

/// Where a server's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Keys pinned in config: authoritative, never fetched.
    Pinned(std::collections::BTreeMap<KeyId, VerifyingKey>),
    /// Fetched from the server's key endpoint through the client.
    Fetch,
}

/// Counters of keyring events, read by the metrics exporter.
#[derive(Debug, Default)]
pub struct KeyringEvents {
    /// Key fetches that returned valid keys.
    pub fetch_ok: AtomicU64,
    /// Key fetches that failed (network, HTTP status, invalid response).
    pub fetch_failed: AtomicU64,
    /// Fetches refused by the failure backoff or the refetch rate limit.
    pub fetch_suppressed: AtomicU64,
    /// Key changes for servers whose keys were known before.
    pub rotations: AtomicU64,
    /// Servers whose keys were loaded from the persisted cache at start.
    pub loaded_from_disk: AtomicU64,
    /// Failed writes of the persisted cache.
    pub persist_failed: AtomicU64,
}

/// Why no key could be produced for a request.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The origin is not in the config; nothing was fetched.
    #[error("{0} is not a configured server")]
    UnknownServer(ServerName),
    /// The server's known, valid keys do not include this key id.
    #[error("{server} has no valid key {key_id}")]
    UnknownKeyId {
        /// The server.
        server: ServerName,
        /// The key id asked for.
        key_id: KeyId,
    },
    /// A recent fetch failed; the next one is not due yet.
    #[error("key fetch for {server} failed recently; next attempt in {retry_in_ms} ms")]
    Backoff {
        /// The server.
        server: ServerName,
        /// Time until a fetch is allowed again.
        retry_in_ms: u64,
    },
    /// Fetching the keys failed.
    #[error("key fetch for {server} failed: {source}")]
    Fetch {
        /// The server.
        server: ServerName,
        /// What went wrong (boxed: keeps the error small).
        source: Box<FetchError>,
    },
}

impl KeyringError {
    /// A stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownServer(_) => "key_unknown_server",
            Self::UnknownKeyId { .. } => "key_unknown_id",
            Self::Backoff { .. } => "key_fetch_backoff",
            Self::Fetch { source, .. } => source.reason(),
        }
    }
}

struct Inner {
    servers: HashMap<ServerName, Source>,
    client: HttpClient,
    clock: Arc<dyn Clock>,
    settings: KeyringSettings,
    persist: Option<PersistDir>,
    events: Arc<KeyringEvents>,
}

enum Source {
    Pinned(std::collections::BTreeMap<KeyId, VerifyingKey>),
    Fetch(Slot),
}

fn unknown_key(server: &ServerName, key_id: &KeyId) -> KeyringError {
    KeyringError::UnknownKeyId {
        server: server.clone(),
        key_id: key_id.clone(),
    }
}
