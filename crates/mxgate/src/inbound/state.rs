//! Per-config routing state, built once per (re)load, never per request.

use std::{
    collections::{HashMap, HashSet},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use http_body_util::Full;
use mxgate_core::{
    config::{Config, InboundLimits, Mode},
    ids::ServerName,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{
    client::{ClientError, ClientOptions, Destination, HttpClient},
    errors::Denied,
    keyring::{Keyring, SystemClock},
};

/// Concurrent requests forwarded to one homeserver; more wait for a slot
/// (within the request timeout).
pub(crate) const MAX_UPSTREAM_IN_FLIGHT: usize = 128;

/// The client type used to forward inbound requests to upstreams.
pub(crate) type UpstreamClient = HttpClient<Full<Bytes>>;

/// Everything a request needs from the config, precomputed.
pub(crate) struct State {
    /// The config this state was built from.
    pub(crate) config: Arc<Config>,
    /// Enforce or report.
    pub(crate) mode: Mode,
    /// Verify signatures (false only in bench pass-through mode).
    pub(crate) verify: bool,
    /// Check signatures in per-lane batches (`[gateway] batch_verify`).
    pub(crate) batch_verify: bool,
    /// Inbound limits.
    pub(crate) limits: InboundLimits,
    /// Trusted origins: remotes and our own homeservers.
    origins: HashSet<ServerName>,
    /// Their keys: pinned, or fetched only for these servers.
    pub(crate) keyring: Keyring,
    /// Our homeservers by name, plus by host when the name has no port.
    homeservers: HashMap<String, ServerName>,
    /// Precomputed `/.well-known/matrix/server` bodies by homeserver (empty
    /// when `[inbound] well_known = false`).
    well_known: HashMap<ServerName, Bytes>,
    /// Pooled client to every homeserver upstream (and nothing else).
    pub(crate) client: UpstreamClient,
    /// Requests in flight to each homeserver, at most
    /// [`MAX_UPSTREAM_IN_FLIGHT`]: the client opens one upstream connection
    /// per concurrent request, so without a bound 1 000 inbound connections
    /// hold 1 000 upstream ones (about half the gateway's memory).
    upstream_slots: HashMap<ServerName, Arc<Semaphore>>,
    limiter: DefaultKeyedRateLimiter<ServerName>,
    clock: DefaultClock,
}

/// Why a config can't be served.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The upstream client could not be built (TLS roots, duplicates).
    #[error("upstream client: {0}")]
    Client(#[from] ClientError),
}

impl StateError {
    /// Stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Client(error) => error.reason(),
        }
    }
}

impl State {
    /// Builds the routing maps, rate limiter and upstream client for `config`.
    pub(crate) fn new(config: Arc<Config>, options: ClientOptions) -> Result<Self, StateError> {
        let mut origins = HashSet::new();
        let mut homeservers = HashMap::new();
        let mut destinations = Vec::new();
        for hs in &config.homeservers {
            origins.insert(hs.server_name.clone());
            homeservers.insert(hs.server_name.as_str().to_owned(), hs.server_name.clone());
            if hs.server_name.port().is_none() {
                let with_port = format!("{}:8448", hs.server_name.host());
                homeservers
                    .entry(with_port)
                    .or_insert_with(|| hs.server_name.clone());
            }
            destinations.push(Destination::homeserver(hs)?);
        }
        for remote in &config.remotes {
            origins.insert(remote.server_name.clone());
        }
        let limits = config.inbound.limits;
        let rate = NonZeroU32::new(limits.rate_limit_per_origin_per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.rate_limit_burst).unwrap_or(rate);
        let well_known = well_known_bodies(&config);
        let keyring = Keyring::from_config(
            &config,
            HttpClient::from_config(&config)?,
            Arc::new(SystemClock),
        );
        let upstream_slots = config
            .homeservers
            .iter()
            .map(|hs| {
                let slots = Arc::new(Semaphore::new(MAX_UPSTREAM_IN_FLIGHT));
                (hs.server_name.clone(), slots)
            })
            .collect();
        Ok(Self {
            upstream_slots,
            keyring,
            well_known,
            mode: config.gateway.mode,
            verify: config.gateway.verify,
            batch_verify: config.gateway.batch_verify,
            limits,
            origins,
            homeservers,
            client: HttpClient::new(destinations, options)?,
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
            config,
        })
    }

    /// Whether `origin` is a configured remote or homeserver.
    pub(crate) fn is_trusted(&self, origin: &ServerName) -> bool {
        self.origins.contains(origin)
    }

    /// The `/.well-known/matrix/server` body for a fronted homeserver.
    pub(crate) fn well_known(&self, server: &ServerName) -> Option<Bytes> {
        self.well_known.get(server).cloned()
    }

    /// The homeserver a destination or Host/SNI name designates.
    pub(crate) fn homeserver(&self, name: &str) -> Option<&ServerName> {
        self.homeservers.get(name)
    }

    /// A slot for one request to `server`'s upstream, held until its
    /// response head (`None` for a server without slots: not a homeserver);
    /// a gateway timeout when none frees up within `wait`.
    pub(crate) async fn upstream_slot(
        &self,
        server: &ServerName,
        wait: Duration,
    ) -> Result<Option<OwnedSemaphorePermit>, Denied> {
        let Some(slots) = self.upstream_slots.get(server) else {
            return Ok(None);
        };
        match tokio::time::timeout(wait, slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            Ok(Err(_)) | Err(_) => Err(Denied::GatewayTimeout),
        }
    }

    /// Takes one request from `origin`'s budget; `Err(ms)` = retry after.
    pub(crate) fn rate_limit(&self, origin: &ServerName) -> Result<(), u64> {
        self.limiter.check_key(origin).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1)
        })
    }
}

/// `{"m.server": ...}`: `well_known_server`, else the server name's host
/// with the inbound port.
fn well_known_bodies(config: &Config) -> HashMap<ServerName, Bytes> {
    if !config.inbound.well_known {
        return HashMap::new();
    }
    let port = config.inbound.listen.port();
    config
        .homeservers
        .iter()
        .map(|hs| {
            let server = match &hs.well_known_server {
                Some(name) => name.to_string(),
                None => format!("{}:{port}", hs.server_name.host()),
            };
            let body = serde_json::json!({ "m.server": server }).to_string();
            (hs.server_name.clone(), Bytes::from(body))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const CONFIG: &str = r#"
[gateway]
state_dir = "state"
[inbound]
listen = "127.0.0.1:8448"
[[homeserver]]
server_name = "hs.test"
upstream = "http://127.0.0.1:8008"
"#;

    #[tokio::test]
    async fn upstream_slots_are_bounded_per_homeserver() {
        let config = Config::from_toml_str(CONFIG, Path::new("/tmp")).expect("config");
        let state = State::new(Arc::new(config), ClientOptions::default()).expect("state");
        let hs = ServerName::parse("hs.test").expect("name");
        let wait = Duration::from_millis(20);
        let mut held = Vec::new();
        for _ in 0..MAX_UPSTREAM_IN_FLIGHT {
            held.push(state.upstream_slot(&hs, wait).await.expect("slot"));
        }
        assert!(held.iter().all(Option::is_some));
        assert!(matches!(
            state.upstream_slot(&hs, wait).await,
            Err(Denied::GatewayTimeout)
        ));
        held.pop();
        assert!(matches!(state.upstream_slot(&hs, wait).await, Ok(Some(_))));
        let other = ServerName::parse("other.test").expect("name");
        assert!(matches!(state.upstream_slot(&other, wait).await, Ok(None)));
    }
}
