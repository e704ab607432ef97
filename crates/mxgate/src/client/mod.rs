//! Pooled HTTP(S) client to our homeservers' upstreams and to trusted remotes.
//!
//! Every destination is named in config: a request can only go to a server
//! name the client was built with, with the TLS roots configured for it.
//! There is never a DNS SRV lookup.
//!
//! - A `[[homeserver]]` is reached at its `upstream` (`http` or `https`).
//! - A `[[remote]]` is reached over TLS at its pinned `address`, while the TLS
//!   name (SNI, certificate name) and the `Host` header are the server name's
//!   host, as in the spec's server-name resolution
//!   (<https://spec.matrix.org/v1.16/server-server-api/#resolving-server-names>).
//!   An IP-literal server name sends no SNI and needs an IP SAN.
//! - A `[[remote]]` with `discovery = "well-known"` (no `address`) is
//!   resolved lazily through `/.well-known/matrix/server` and cached; see
//!   [`discovery`]. Requests to it are re-targeted to the delegated name
//!   (URI authority, `Host`, SNI), so pooled connections follow a change.
//! - Roots: the destination's pinned `ca` file only; else the global
//!   `[outbound] ca`; else the system trust store. Optional SPKI pins.
//!
//! Connections are pooled with keep-alive per destination, and HTTP/2 is used
//! whenever the peer selects `h2` by ALPN.

mod connector;
mod destination;
pub mod discovery;
mod error;
mod pins;
mod well_known;

use std::{collections::HashMap, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};
use hyper::{
    Request, Response, Uri,
    body::Incoming,
    header::{self, HeaderValue},
    http::uri::PathAndQuery,
};
use hyper_util::{
    client::legacy::Client,
    rt::{TokioExecutor, TokioTimer},
};
use mxgate_core::{
    config::{Config, Discovery},
    ids::ServerName,
};

use crate::lanes;
pub use connector::ConnectError;
use connector::PinnedConnector;
use destination::{Base, Via};
pub use destination::{Destination, TlsSettings};
use discovery::{Discoverer, DiscoveryEvents, DiscoveryOptions, DynamicRoutes};
pub use error::ClientError;
pub use well_known::DiscoveryError;

/// A boxed error, as carried by [`ClientBody`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The default request body type: any body, boxed.
pub type ClientBody = UnsyncBoxBody<Bytes, BoxError>;

/// A complete body from bytes.
pub fn full_body(bytes: impl Into<Bytes>) -> ClientBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty_body() -> ClientBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Timeouts and pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Time allowed for TCP connect plus TLS handshake.
    pub connect_timeout: Duration,
    /// Time allowed from sending a request until its response headers
    /// arrive (connecting included).
    pub response_timeout: Duration,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per destination (in each lane's pool).
    pub pool_max_idle_per_host: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(60),
            pool_idle_timeout: Duration::from_secs(90),
            // As many as may be in flight to one homeserver
            // (`MAX_UPSTREAM_IN_FLIGHT`): with fewer, connections opened for
            // a burst are closed as it ends and opened again for the next
            // one (1 700 connects a second with 1 000 busy inbound
            // connections and 32 here).
            pool_max_idle_per_host: 128,
        }
    }
}

/// The pooled client. Cheap to clone; clones share the pools.
///
/// There is one pool per [lane](crate::lanes) plus one for other threads, so
/// a request and its upstream connection's task run on the same thread.
pub struct HttpClient<B = ClientBody> {
    pools: Arc<[Client<PinnedConnector, B>]>,
    destinations: Arc<HashMap<ServerName, Destination>>,
    /// Each destination's base, parsed.
    bases: Arc<HashMap<ServerName, Base>>,
    /// Discovered destinations by base (`https://{server}`).
    discovered: Arc<HashMap<String, Arc<Discoverer>>>,
    discovery_events: Arc<DiscoveryEvents>,
    response_timeout: Duration,
}

impl<B> Clone for HttpClient<B> {
    fn clone(&self) -> Self {
        Self {
            pools: self.pools.clone(),
            destinations: self.destinations.clone(),
            bases: self.bases.clone(),
            discovered: self.discovered.clone(),
            discovery_events: self.discovery_events.clone(),
            response_timeout: self.response_timeout,
        }
    }
}

impl<B> HttpClient<B>
where
    B: hyper::body::Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// A client for every `[[homeserver]]` upstream and every `[[remote]]`
    /// (pinned `address`, or `discovery = "well-known"` with default
    /// [`DiscoveryOptions`]), with `[outbound]` timeouts when configured.
    pub fn from_config(config: &Config) -> Result<Self, ClientError> {
        let outbound = config.outbound.as_ref();
        let global_ca = outbound.and_then(|o| o.ca.clone());
        let mut destinations = Vec::new();
        for hs in &config.homeservers {
            destinations.push(Destination::homeserver(hs)?);
        }
        for remote in &config.remotes {
            let tls = TlsSettings {
                ca_files: remote
                    .ca
                    .clone()
                    .or_else(|| global_ca.clone())
                    .into_iter()
                    .collect(),
                spki_pins: remote.spki_pins.clone(),
            };
            let server = remote.server_name.clone();
            let destination = match (&remote.address, remote.discovery) {
                (Some(address), _) => Destination::remote(server, Some(address), &tls)?,
                (None, Discovery::WellKnown) => {
                    Destination::well_known(server, &tls, DiscoveryOptions::default())?
                }
                (None, Discovery::Pinned) => {
                    tracing::warn!(%server, "no pinned address: not reachable");
                    continue;
                }
            };
            destinations.push(destination);
        }
        let mut options = ClientOptions::default();
        if let Some(outbound) = outbound {
            options.connect_timeout = outbound.connect_timeout;
            options.response_timeout = outbound.response_timeout;
        }
        HttpClient::new(destinations, options)
    }

    /// A client for exactly these destinations.
    pub fn new(
        destinations: Vec<Destination>,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let mut by_name = HashMap::new();
        let mut bases = HashMap::new();
        let mut routes = HashMap::new();
        let mut discovered = HashMap::new();
        let dynamic = DynamicRoutes::default();
        let discovery_events = Arc::new(DiscoveryEvents::default());
        for dest in destinations {
            let duplicate = match &dest.via {
                Via::Route(route) => routes.insert(dest.base.clone(), route.clone()).is_some(),
                Via::WellKnown(spec) => {
                    let discoverer = Discoverer::new(
                        dest.server.clone(),
                        spec.clone(),
                        dynamic.clone(),
                        discovery_events.clone(),
                    );
                    let discoverer = Arc::new(discoverer);
                    discovered.insert(dest.base.clone(), discoverer).is_some()
                }
            };
            if duplicate || (routes.contains_key(&dest.base) && discovered.contains_key(&dest.base))
            {
                return Err(ClientError::DuplicateDestination(dest.base));
            }
            bases.insert(dest.server.clone(), Base::parse(&dest.base)?);
            if let Some(old) = by_name.insert(dest.server.clone(), dest) {
                return Err(ClientError::DuplicateDestination(old.server.to_string()));
            }
        }
        let connector = PinnedConnector::new(routes, dynamic, options.connect_timeout);
        let pools = (0..=lanes::count())
            .map(|_| {
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(options.pool_idle_timeout)
                    .pool_max_idle_per_host(options.pool_max_idle_per_host)
                    .pool_timer(TokioTimer::new())
                    .timer(TokioTimer::new())
                    .build(connector.clone())
            })
            .collect();
        Ok(Self {
            pools,
            destinations: Arc::new(by_name),
            bases: Arc::new(bases),
            discovered: Arc::new(discovered),
            discovery_events,
            response_timeout: options.response_timeout,
        })
    }

    /// Whether `server` is a destination of this client.
    pub fn has_destination(&self, server: &ServerName) -> bool {
        self.destinations.contains_key(server)
    }

    /// The absolute URI of `path_and_query` (e.g. `/_matrix/key/v2/server`)
    /// on `server`: its upstream for a homeserver, `https://{server}` for a
    /// remote. Fails for a server that is not a destination.
    pub fn uri_for(&self, server: &ServerName, path_and_query: &str) -> Result<Uri, ClientError> {
        let dest = self
            .destinations
            .get(server)
            .ok_or_else(|| ClientError::UnknownDestination(server.to_string()))?;
        let text = format!("{}{}", dest.base, path_and_query);
        text.parse().map_err(|_| ClientError::InvalidUri(text))
    }

    /// [`Self::uri_for`] with an already parsed `path_and_query` (e.g. an
    /// inbound request's, as received): nothing is formatted or re-parsed.
    pub fn uri_with(
        &self,
        server: &ServerName,
        path_and_query: PathAndQuery,
    ) -> Result<Uri, ClientError> {
        self.bases
            .get(server)
            .ok_or_else(|| ClientError::UnknownDestination(server.to_string()))?
            .uri(path_and_query)
    }

    /// Counters of the well-known discoveries of this client (shared by its
    /// clones).
    pub fn discovery_events(&self) -> Arc<DiscoveryEvents> {
        self.discovery_events.clone()
    }

    /// Sends `request` (absolute URI from [`Self::uri_for`]) and returns the
    /// response once its headers arrived; the body streams. A request to a
    /// well-known destination first resolves it (or fails closed with
    /// [`ClientError::Discovery`]) and is re-targeted to the delegated name.
    pub async fn request(
        &self,
        mut request: Request<B>,
    ) -> Result<Response<Incoming>, ClientError> {
        if let Some(discoverer) = self.discoverer_for(request.uri()) {
            // Boxed: most requests go to a fixed upstream, and the
            // resolution's future would otherwise enlarge all of them.
            let target =
                Box::pin(discoverer.resolve())
                    .await
                    .map_err(|source| ClientError::Discovery {
                        server: discoverer.server().clone(),
                        source: Box::new(source),
                    })?;
            retarget(&mut request, &target)?;
        }
        let pool = &self.pools[lanes::pool_index(self.pools.len())];
        let sent = pool.request(request);
        match tokio::time::timeout(self.response_timeout, sent).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(ClientError::from_hyper(error)),
            Err(_) => Err(ClientError::ResponseTimeout),
        }
    }

    fn discoverer_for(&self, uri: &Uri) -> Option<&Arc<Discoverer>> {
        if self.discovered.is_empty() {
            return None;
        }
        let (scheme, authority) = (uri.scheme_str()?, uri.authority()?);
        self.discovered.get(&format!("{scheme}://{authority}"))
    }
}

/// Points `request` at the resolved `target`: URI authority (hence the pool
/// key and HTTP/2 `:authority`) and `Host` become the delegated name.
fn retarget<B>(request: &mut Request<B>, target: &ServerName) -> Result<(), ClientError> {
    let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let text = format!("{}{path}", discovery::route_key(target));
    let uri = text.parse().map_err(|_| ClientError::InvalidUri(text))?;
    *request.uri_mut() = uri;
    let host = HeaderValue::from_str(target.as_str())
        .map_err(|_| ClientError::InvalidUri(target.to_string()))?;
    request.headers_mut().insert(header::HOST, host);
    Ok(())
}
