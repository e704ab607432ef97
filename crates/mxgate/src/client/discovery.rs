//! `discovery = "well-known"`: a `[[remote]]` without a pinned `address` is
//! found with the spec's server-name resolution
//! (<https://spec.matrix.org/v1.16/server-server-api/#resolving-server-names>),
//! minus DNS SRV, which mxgate never looks up:
//!
//! 1. an IP-literal server name, or one with an explicit port, is reached at
//!    itself (port 8448 by default) — no request is made
//!    ([`super::Destination::well_known`] builds a static route for it);
//! 2. otherwise `GET https://<hostname>/.well-known/matrix/server`, with the
//!    remote's roots, bounded in time and size, redirects not followed;
//! 3. its `m.server` (`<delegated>[:<port>]`) is reached at the delegated
//!    host and port, 8448 when the port is absent (where the spec would first
//!    look up SRV records); TLS name (SNI, certificate) and `Host` are the
//!    delegated name.
//!
//! Resolution is lazy (first request), single-flight, cached for the
//! response's `Cache-Control: max-age` clamped to
//! [`DiscoveryOptions::min_ttl`]..=[`DiscoveryOptions::max_ttl`] (default
//! TTL 1 h without the header). Every failure fails closed — there is no
//! fallback to `<hostname>:8448` — and starts an exponential backoff. A
//! changed resolution is logged and counted
//! ([`DiscoveryEvents::changes`], `mxgate_discovery_changes_total`).

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, LazyLock, Mutex, RwLock, atomic::AtomicU64, atomic::Ordering},
    time::Duration,
};

use mxgate_core::ids::ServerName;
use prometheus_client::metrics::counter::Counter;
use rustls::ClientConfig;

use super::{
    connector::{Route, TlsTarget},
    well_known::{self, DiscoveryError, WellKnown},
};
use crate::keyring::{Clock, SystemClock};

/// Port used when a server name or a delegated name has none.
pub const DEFAULT_PORT: u16 = 8448;

/// Tunables of well-known discovery.
#[derive(Clone)]
pub struct DiscoveryOptions {
    /// Time allowed for one whole well-known request.
    pub fetch_timeout: Duration,
    /// Largest accepted well-known body, in bytes.
    pub max_response_bytes: usize,
    /// Cache time when the response has no `Cache-Control: max-age`.
    pub default_ttl: Duration,
    /// Shortest cache time (a smaller `max-age` is raised to it).
    pub min_ttl: Duration,
    /// Longest cache time (a larger `max-age` is lowered to it).
    pub max_ttl: Duration,
    /// Backoff after the first failure; doubles per further failure.
    pub backoff_initial: Duration,
    /// Largest backoff.
    pub backoff_max: Duration,
    /// Source of "now" (tests move it).
    pub clock: Arc<dyn Clock>,
    /// Port of the well-known endpoint: 443 per spec; tests override it.
    #[doc(hidden)]
    pub well_known_port: u16,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        Self {
            fetch_timeout: Duration::from_secs(10),
            max_response_bytes: 16 * 1024,
            default_ttl: Duration::from_secs(3600),
            min_ttl: Duration::from_secs(300),
            max_ttl: Duration::from_secs(24 * 3600),
            backoff_initial: Duration::from_secs(10),
            backoff_max: Duration::from_secs(600),
            clock: Arc::new(SystemClock),
            well_known_port: 443,
        }
    }
}

impl fmt::Debug for DiscoveryOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscoveryOptions")
            .field("fetch_timeout", &self.fetch_timeout)
            .field("default_ttl", &self.default_ttl)
            .field("min_ttl", &self.min_ttl)
            .field("max_ttl", &self.max_ttl)
            .field("well_known_port", &self.well_known_port)
            .finish_non_exhaustive()
    }
}

/// Counters of discovery events of one client (all its destinations).
#[derive(Debug, Default)]
pub struct DiscoveryEvents {
    /// Well-known requests that gave a valid delegation.
    pub fetch_ok: AtomicU64,
    /// Well-known requests that failed.
    pub fetch_failed: AtomicU64,
    /// Resolutions that differ from the previous one for the same server.
    pub changes: AtomicU64,
}

/// The process-wide `mxgate_discovery_changes_total` counter (every client
/// adds to it; the metrics registry exports it).
pub fn changes_counter() -> Counter {
    static CHANGES: LazyLock<Counter> = LazyLock::new(Counter::default);
    CHANGES.clone()
}

/// Routes to resolved targets, keyed by `https://<target>` (the authority of
/// the rewritten request URIs), shared by a client's connector and its
/// discoverers.
pub(super) type DynamicRoutes = Arc<RwLock<HashMap<String, Arc<Route>>>>;

/// What a discovered destination needs before the client is built.
pub(super) struct WellKnownSpec {
    /// TLS configuration for the resolved target (ALPN `h2`, `http/1.1`).
    pub(super) tls: Arc<ClientConfig>,
    /// The same roots and pins, ALPN `http/1.1` only, for the well-known.
    pub(super) fetch_tls: Arc<ClientConfig>,
    /// Tunables.
    pub(super) options: DiscoveryOptions,
}

/// Resolves and caches one server's delegation.
pub(super) struct Discoverer {
    server: ServerName,
    spec: Arc<WellKnownSpec>,
    routes: DynamicRoutes,
    events: Arc<DiscoveryEvents>,
    cache: Mutex<Cache>,
    flight: tokio::sync::Mutex<()>,
}

impl Discoverer {
    pub(super) fn new(
        server: ServerName,
        spec: Arc<WellKnownSpec>,
        routes: DynamicRoutes,
        events: Arc<DiscoveryEvents>,
    ) -> Self {
        Self {
            server,
            spec,
            routes,
            events,
            cache: Mutex::default(),
            flight: tokio::sync::Mutex::new(()),
        }
    }

    /// The server name being resolved.
    pub(super) fn server(&self) -> &ServerName {
        &self.server
    }

    /// The current target (`<host>[:<port>]`, whose route is registered),
    /// resolving it first when the cache is empty or expired.
    pub(super) async fn resolve(&self) -> Result<ServerName, DiscoveryError> {
        if let Some(target) = self.cached()? {
            return Ok(target);
        }
        let _flight = self.flight.lock().await;
        if let Some(target) = self.cached()? {
            return Ok(target);
        }
        let options = &self.spec.options;
        let fetch = well_known::fetch(
            self.server.host(),
            options.well_known_port,
            self.spec.fetch_tls.clone(),
            options.max_response_bytes,
        );
        let fetched = match tokio::time::timeout(options.fetch_timeout, fetch).await {
            Ok(result) => result,
            Err(_) => Err(DiscoveryError::Timeout),
        };
        self.store(fetched)
    }

    /// A valid cached target, `Err` during a failure backoff, else `None`.
    fn cached(&self) -> Result<Option<ServerName>, DiscoveryError> {
        let now = self.spec.options.clock.now_ms();
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(resolved) = cache.resolved.as_ref().filter(|r| now < r.expires_ms) {
            return Ok(Some(resolved.target.clone()));
        }
        match &cache.failure {
            Some(failure) if now < failure.retry_at_ms => Err(DiscoveryError::Backoff {
                last: Box::new(failure.error.clone()),
                retry_in_ms: failure.retry_at_ms - now,
            }),
            _ => Ok(None),
        }
    }

    /// Records a fetch outcome; called with the flight lock.
    fn store(
        &self,
        fetched: Result<WellKnown, DiscoveryError>,
    ) -> Result<ServerName, DiscoveryError> {
        let options = &self.spec.options;
        let now = options.clock.now_ms();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let fetched = fetched.and_then(|wk| Ok((self.route_to(&wk.delegated)?, wk)));
        let (route, well_known) = match fetched {
            Ok(ok) => ok,
            Err(error) => {
                self.events.fetch_failed.fetch_add(1, Ordering::Relaxed);
                let count = cache.failure.as_ref().map_or(0, |f| f.count) + 1;
                let backoff = backoff(options, count);
                tracing::warn!(
                    server = %self.server, %error, retry_in_ms = millis(backoff),
                    "well-known discovery failed; requests to this server fail until it succeeds"
                );
                cache.failure = Some(Failure {
                    error: error.clone(),
                    retry_at_ms: now.saturating_add(millis(backoff)),
                    count,
                });
                return Err(error);
            }
        };
        self.events.fetch_ok.fetch_add(1, Ordering::Relaxed);
        let target = well_known.delegated;
        let ttl = well_known
            .max_age
            .unwrap_or(options.default_ttl)
            .clamp(options.min_ttl, options.max_ttl.max(options.min_ttl));
        let previous = cache.resolved.take();
        self.register(&target, route.clone(), previous.as_ref());
        cache.failure = None;
        cache.resolved = Some(Resolved {
            target: target.clone(),
            route,
            expires_ms: now.saturating_add(millis(ttl)),
        });
        Ok(target)
    }

    /// Registers the route of `target`, drops the previous one, and logs and
    /// counts a change.
    fn register(&self, target: &ServerName, route: Arc<Route>, previous: Option<&Resolved>) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        if let Some(previous) = previous {
            let key = route_key(&previous.target);
            if routes
                .get(&key)
                .is_some_and(|r| Arc::ptr_eq(r, &previous.route))
            {
                routes.remove(&key);
            }
        }
        routes.insert(route_key(target), route);
        match previous {
            Some(previous) if previous.target != *target => {
                self.events.changes.fetch_add(1, Ordering::Relaxed);
                changes_counter().inc();
                tracing::warn!(
                    server = %self.server, from = %previous.target, to = %target,
                    "well-known delegation changed"
                );
            }
            Some(_) => {
                tracing::debug!(server = %self.server, %target, "well-known delegation unchanged")
            }
            None => {
                tracing::info!(server = %self.server, %target, "well-known delegation resolved")
            }
        }
    }

    /// The route to a delegated name: its host and port (default 8448), TLS
    /// name = its host.
    fn route_to(&self, target: &ServerName) -> Result<Arc<Route>, DiscoveryError> {
        let tls = TlsTarget::new(target.host(), self.spec.tls.clone())
            .map_err(|_| DiscoveryError::Invalid("m.server is not a TLS name"))?;
        let port = target.port().unwrap_or(DEFAULT_PORT);
        Ok(Arc::new(Route::new(target.host(), port, Some(tls))))
    }
}

/// The connector key (and rewritten URI base) of a resolved target.
pub(super) fn route_key(target: &ServerName) -> String {
    format!("https://{target}")
}

#[derive(Default)]
struct Cache {
    /// The last good resolution, possibly expired (kept to detect changes).
    resolved: Option<Resolved>,
    /// The current failure streak, if the last attempt failed.
    failure: Option<Failure>,
}

struct Resolved {
    target: ServerName,
    route: Arc<Route>,
    expires_ms: u64,
}

struct Failure {
    error: DiscoveryError,
    retry_at_ms: u64,
    count: u32,
}

fn backoff(options: &DiscoveryOptions, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
    options
        .backoff_initial
        .saturating_mul(factor)
        .min(options.backoff_max)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
