//! Per-server cache state: the current keys, the failure backoff and the
//! unknown-key-id refetch rate limit, plus the single-flight lock.

use std::sync::{
    Arc, PoisonError, RwLock,
    atomic::{AtomicBool, Ordering},
};

use ed25519_dalek::VerifyingKey;
use mxgate_core::{ids::KeyId, keys::ServerKeys};

use super::KeyringSettings;

/// Largest exponent of the backoff doubling (avoids overflow).
const MAX_BACKOFF_DOUBLINGS: u32 = 20;

/// One fetchable server.
pub(super) struct Slot {
    state: RwLock<State>,
    /// Held for the whole duration of a fetch: one fetch per server at a time.
    pub(super) flight: tokio::sync::Mutex<()>,
    /// A background refresh is scheduled or running.
    refreshing: AtomicBool,
}

/// What [`Slot::lookup`] decided.
pub(super) enum Lookup {
    /// A cached key valid now; `refresh`: the keys expire soon and a
    /// background refresh is due.
    Found { key: VerifyingKey, refresh: bool },
    /// Not cached; a fetch is allowed. `generation` identifies the state seen.
    Fetch { generation: u64 },
    /// Not cached and no fetch allowed now.
    Refused(Refusal),
}

/// Why no fetch is made now.
pub(super) enum Refusal {
    /// A fetch failed recently.
    Backoff { retry_in_ms: u64 },
    /// Valid keys were fetched recently; the key id is not among them.
    RateLimited,
}

#[derive(Default)]
struct State {
    keys: Option<Arc<ServerKeys>>,
    /// Bumped by every completed fetch attempt.
    generation: u64,
    failures: u32,
    retry_at_ms: u64,
    last_fetch_ms: Option<u64>,
}

impl Slot {
    /// A slot starting with `keys` (e.g. loaded from disk).
    pub(super) fn new(keys: Option<ServerKeys>) -> Self {
        let state = State {
            keys: keys.map(Arc::new),
            ..State::default()
        };
        Self {
            state: RwLock::new(state),
            flight: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
        }
    }

    /// The cached key, or whether a fetch may be made.
    pub(super) fn lookup(&self, id: &KeyId, now: u64, settings: &KeyringSettings) -> Lookup {
        let state = self.read();
        if let Some(key) = state.key(id, now) {
            let refresh = state.refresh_due(now, settings);
            return Lookup::Found { key, refresh };
        }
        match state.refusal(now, settings) {
            Some(refusal) => Lookup::Refused(refusal),
            None => Lookup::Fetch {
                generation: state.generation,
            },
        }
    }

    /// Whether the cached keys expire within `refresh_before` and a fetch is
    /// allowed now.
    pub(super) fn refresh_due(&self, now: u64, settings: &KeyringSettings) -> bool {
        self.read().refresh_due(now, settings)
    }

    /// Marks a background refresh as scheduled; `false` if one already is.
    pub(super) fn begin_refresh(&self) -> bool {
        !self.refreshing.swap(true, Ordering::AcqRel)
    }

    /// Marks the background refresh as finished.
    pub(super) fn end_refresh(&self) {
        self.refreshing.store(false, Ordering::Release);
    }

    /// After waiting for the flight lock: the outcome of another caller's
    /// fetch if one completed meanwhile (`None`: fetch now).
    pub(super) fn after_wait(
        &self,
        id: &KeyId,
        now: u64,
        generation: u64,
    ) -> Option<Result<VerifyingKey, Refusal>> {
        let state = self.read();
        if let Some(key) = state.key(id, now) {
            return Some(Ok(key));
        }
        if state.generation == generation {
            return None;
        }
        Some(Err(if now < state.retry_at_ms {
            Refusal::Backoff {
                retry_in_ms: state.retry_at_ms - now,
            }
        } else {
            Refusal::RateLimited
        }))
    }

    /// The cached key `id` if valid for requests at `now`.
    pub(super) fn cached_key(&self, id: &KeyId, now: u64) -> Option<VerifyingKey> {
        self.read().key(id, now)
    }

    /// The cached keys.
    pub(super) fn keys(&self) -> Option<Arc<ServerKeys>> {
        self.read().keys.clone()
    }

    /// Stores freshly fetched keys. Returns whether they differ from keys
    /// known before (a key rotation).
    pub(super) fn store(&self, keys: ServerKeys, now: u64) -> bool {
        let mut state = self.write();
        let rotated = state
            .keys
            .as_ref()
            .is_some_and(|old| old.verify_keys() != keys.verify_keys());
        state.keys = Some(Arc::new(keys));
        state.generation += 1;
        state.failures = 0;
        state.retry_at_ms = 0;
        state.last_fetch_ms = Some(now);
        rotated
    }

    /// Records a failed fetch and starts (or extends) the backoff.
    pub(super) fn record_failure(&self, now: u64, settings: &KeyringSettings) {
        let mut state = self.write();
        state.generation += 1;
        state.failures = state.failures.saturating_add(1);
        let doublings = (state.failures - 1).min(MAX_BACKOFF_DOUBLINGS);
        let backoff = millis(settings.backoff_initial)
            .saturating_mul(1 << doublings)
            .min(millis(settings.backoff_max));
        state.retry_at_ms = now.saturating_add(backoff);
        state.last_fetch_ms = Some(now);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn key(&self, id: &KeyId, now: u64) -> Option<VerifyingKey> {
        self.keys.as_ref()?.key_for_request(id, now).copied()
    }

    /// Why no fetch may be made now, if so.
    fn refusal(&self, now: u64, settings: &KeyringSettings) -> Option<Refusal> {
        if now < self.retry_at_ms {
            let retry_in_ms = self.retry_at_ms - now;
            return Some(Refusal::Backoff { retry_in_ms });
        }
        let valid = self.keys.as_ref().is_some_and(|k| k.expires_at() >= now);
        (valid && self.fetched_recently(now, settings)).then_some(Refusal::RateLimited)
    }

    fn refresh_due(&self, now: u64, settings: &KeyringSettings) -> bool {
        let margin = millis(settings.refresh_before);
        let expiring = self
            .keys
            .as_ref()
            .is_some_and(|k| k.expires_at().saturating_sub(now) < margin);
        expiring && now >= self.retry_at_ms && !self.fetched_recently(now, settings)
    }

    fn fetched_recently(&self, now: u64, settings: &KeyringSettings) -> bool {
        let interval = millis(settings.refetch_interval);
        self.last_fetch_ms
            .is_some_and(|at| now < at.saturating_add(interval))
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
