//! The inbound pipeline: classify, authenticate, admit and forward one
//! federation request to the fronted homeserver.
//!
//! Decisions are made by small functions returning `Result<_, Denied>`; this
//! module only sequences them, applies report mode, and records the verdict
//! (metrics, audit). Order of checks, cheapest and most fundamental first:
//! 1. HTTP framing: no CONNECT, no absolute-form target on HTTP/1.x, no
//!    `Transfer-Encoding` request body (hyper would silently resolve
//!    Content-Length + Transfer-Encoding in favour of the latter; every
//!    federation sender sends Content-Length) — 400;
//! 2. endpoint allow-list on the raw path ([`mxgate_core::endpoints`]) — 404/405;
//! 3. X-Matrix header (exactly one `Authorization`) — 401;
//! 4. origin trusted (`[[remote]]` or `[[homeserver]]`) — 403; nothing is
//!    fetched for an unknown origin;
//! 5. destination (X-Matrix `destination`, else Host, else SNI) is a fronted
//!    homeserver, and Host/SNI don't name another one — 401;
//! 6. body within the endpoint class limit, in time — 413/408;
//! 7. strict JSON (`PUT`/`POST`) — 400 `M_NOT_JSON`/`M_BAD_JSON`; a canonical
//!    `/send` body is checked in one pass without a tree
//!    ([`mxgate_core::json::scan_canonical`]);
//! 8. key lookup and signature over the raw request-target and body — 401;
//! 9. per-origin rate limit, after the signature so that forged requests
//!    can't spend a trusted origin's quota — 429;
//! 10. `/send`: transaction envelope; body `origin` ≠ header origin — 403;
//! 11. invite and send_join/leave/knock: the membership event itself
//!     (`edge.rs`) — 403, 401 for its signature, 400 for an unknown room version.
//!
//! Report mode (`[gateway] mode = "report"`) records steps 3, 4, 7, 8, 9,
//! 10 and 11 as `would_reject` and forwards anyway; framing, paths, unknown
//! destinations and body limits are enforced in both modes
//! ([`Denied::reportable`]).

mod checks;
mod edge;
mod forward;
mod state;

use std::{
    net::SocketAddr,
    sync::{Arc, RwLock},
    time::Instant,
};

use http_body_util::Full;
use hyper::{Method, Request, Response, Uri, body::Incoming, header::HeaderValue};
use mxgate_core::{
    config::{Config, Mode},
    endpoints::{self, EndpointKind},
    ids::ServerName,
    txn::{Envelope, Transaction},
    xmatrix::RequestToSign,
};

use crate::{
    audit::{Audit, AuditRecord, now_ms},
    client::ClientOptions,
    errors::{Denied, ResponseBody},
    metrics::{Metrics, RequestLabels},
    status::{Direction, StatusBoard},
};
use checks::{
    Content, authenticate, body_limit, check_framing, host_name, parse_content, verify, well_known,
};
use state::State;
pub use state::StateError;

/// The delegation document answered from config.
const WELL_KNOWN: &str = "/.well-known/matrix/server";

/// The inbound gateway: current config state plus shared sinks.
pub struct Gateway {
    state: RwLock<Arc<State>>,
    options: ClientOptions,
    metrics: Arc<Metrics>,
    audit: Arc<Audit>,
}

/// What the gateway knows about the connection a request came on.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// The peer address (for `X-Forwarded-For`).
    pub peer: Option<SocketAddr>,
    /// The TLS SNI name, when TLS was used and the client sent one.
    pub sni: Option<Arc<str>>,
    /// `X-Forwarded-For` for `peer`, built once per connection rather than
    /// once per request.
    forwarded_for: Option<HeaderValue>,
}

impl ConnInfo {
    /// A connection from `peer`, with the TLS SNI name if any.
    pub fn new(peer: Option<SocketAddr>, sni: Option<Arc<str>>) -> Self {
        let forwarded_for =
            peer.and_then(|peer| HeaderValue::from_str(&peer.ip().to_string()).ok());
        Self {
            peer,
            sni,
            forwarded_for,
        }
    }
}

impl Gateway {
    /// A gateway for `config`. `options` sets the upstream client timeouts.
    pub fn new(
        config: Config,
        options: ClientOptions,
        metrics: Arc<Metrics>,
        audit: Arc<Audit>,
    ) -> Result<Self, StateError> {
        let state = State::new(Arc::new(config), options)?;
        metrics.watch_keyring(state.keyring.events());
        audit
            .status()
            .watch(state.config.clone(), Some(state.keyring.clone()));
        Ok(Self {
            state: RwLock::new(Arc::new(state)),
            options,
            metrics,
            audit,
        })
    }

    /// Swaps in a new config for new requests; requests in flight finish
    /// with the old one. On error the old config stays.
    pub fn reload(&self, config: Config) -> Result<(), StateError> {
        let state = Arc::new(State::new(Arc::new(config), self.options)?);
        self.metrics.watch_keyring(state.keyring.events());
        self.audit
            .status()
            .watch(state.config.clone(), Some(state.keyring.clone()));
        match self.state.write() {
            Ok(mut guard) => *guard = state,
            Err(poisoned) => *poisoned.into_inner() = state,
        }
        Ok(())
    }

    /// The config currently served.
    pub fn config(&self) -> Arc<Config> {
        self.state().config.clone()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The status board (per-server counts, key states, recent refusals).
    pub fn status(&self) -> &Arc<StatusBoard> {
        self.audit.status()
    }

    /// Handles one request; never fails (refusals are Matrix error responses).
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        conn: &ConnInfo,
    ) -> Response<ResponseBody> {
        let started = Instant::now();
        let state = self.state();
        let method = request.method().clone();
        let uri = request.uri().clone();
        let mut verdict = Verdict {
            mode: state.mode,
            ..Verdict::default()
        };
        let outcome = admit_and_forward(&state, &self.metrics, request, conn, &mut verdict).await;
        let response = match outcome {
            Ok(response) => {
                if verdict.would_reject.is_none() {
                    self.metrics
                        .request(labels("accepted", "ok", verdict.endpoint));
                    let origin = verdict.origin.as_ref().map(ServerName::as_str);
                    self.metrics.server_request(
                        "inbound",
                        origin,
                        verdict.origin_trusted,
                        "accepted",
                    );
                    self.audit.accepted(Direction::Inbound, origin);
                }
                if let Some(destination) = &verdict.destination {
                    self.status()
                        .upstream(destination.as_str(), true, None, now_ms());
                }
                response
            }
            Err(denied) => {
                let kind = match denied {
                    Denied::BadGateway(_) | Denied::GatewayTimeout => {
                        self.metrics.upstream_error(denied.reason());
                        "failed"
                    }
                    _ => "rejected",
                };
                self.record(&verdict, &method, &uri, kind, denied);
                denied.to_matrix_error().into_response()
            }
        };
        if let Some(denied) = verdict.would_reject {
            self.record(&verdict, &method, &uri, "would_reject", denied);
        }
        if let Some(canonical) = verdict.canonical_body {
            self.metrics.json_body("inbound", canonical);
        }
        self.metrics.duration(started.elapsed());
        response
    }

    /// Sends `GET /_matrix/federation/v1/version` to `server`'s upstream;
    /// true when it answered with any HTTP response.
    pub async fn probe_upstream(&self, server: &ServerName) -> bool {
        let state = self.state();
        let Ok(uri) = state
            .client
            .uri_for(server, "/_matrix/federation/v1/version")
        else {
            return false;
        };
        let mut request = Request::new(Full::new(bytes::Bytes::new()));
        *request.uri_mut() = uri;
        state.client.request(request).await.is_ok()
    }

    fn state(&self) -> Arc<State> {
        match self.state.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn record(
        &self,
        verdict: &Verdict,
        method: &Method,
        uri: &Uri,
        kind: &'static str,
        denied: Denied,
    ) {
        self.metrics
            .request(labels(kind, denied.reason(), verdict.endpoint));
        let origin = verdict.origin.as_ref().map(ServerName::as_str);
        self.metrics
            .server_request("inbound", origin, verdict.origin_trusted, kind);
        self.audit.record(AuditRecord {
            ts: now_ms(),
            direction: "inbound",
            origin: verdict.origin.as_ref().map(ToString::to_string),
            destination: verdict.destination.as_ref().map(ToString::to_string),
            method: method.as_str().to_owned(),
            path: uri.path().to_owned(),
            endpoint: verdict.endpoint,
            verdict: kind,
            reason: denied.reason(),
            status: denied.to_matrix_error().status.as_u16(),
        });
    }
}

/// What is known about a request as it goes through the pipeline.
#[derive(Debug, Default)]
struct Verdict {
    mode: Mode,
    endpoint: &'static str,
    origin: Option<ServerName>,
    /// The origin is a configured `[[remote]]` or `[[homeserver]]`.
    origin_trusted: bool,
    destination: Option<ServerName>,
    would_reject: Option<Denied>,
    /// For a `/send` body: whether it was canonical (took the one-pass scan).
    canonical_body: Option<bool>,
}

impl Verdict {
    /// Enforce mode: `Err(denied)`. Report mode: remember the first
    /// reportable denial and go on; non-reportable ones are still errors.
    fn soft(&mut self, denied: Denied) -> Result<(), Denied> {
        if self.mode == Mode::Report && denied.reportable() {
            self.would_reject.get_or_insert(denied);
            Ok(())
        } else {
            Err(denied)
        }
    }
}

async fn admit_and_forward(
    state: &State,
    metrics: &Metrics,
    request: Request<Incoming>,
    conn: &ConnInfo,
    verdict: &mut Verdict,
) -> Result<Response<ResponseBody>, Denied> {
    verdict.endpoint = "unknown";
    check_framing(&request)?;
    let (parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    if parts.uri.path() == WELL_KNOWN && parts.method == Method::GET {
        verdict.endpoint = "well_known";
        return well_known(state, host_name(&parts), conn);
    }
    let endpoint = endpoints::classify(parts.method.as_str(), parts.uri.path())?;
    verdict.endpoint = endpoint.class();
    let host = host_name(&parts);
    let auth = authenticate(state, &parts, &endpoint, host, conn, verdict)?;
    let body = forward::read_body(
        body,
        body_limit(state, &endpoint),
        state.limits.request_timeout,
    )
    .await?;
    let content = parse_content(&parts.method, &endpoint, &body, verdict)?;
    let destination = verdict
        .destination
        .clone()
        .ok_or(Denied::UnknownDestination)?;
    if let Some(xm) = &auth {
        let request = RequestToSign {
            method: parts.method.as_str(),
            uri: target,
            origin: &xm.origin,
            destination: &destination,
            content: content.tree(),
        };
        if let Err(denied) = verify(state, metrics, &request, xm, &content, &body).await {
            verdict.soft(denied)?;
        }
        // After the signature: a forger naming a trusted origin can't spend
        // that origin's quota (a failed signature is refused above).
        if let Err(retry_after_ms) = state.rate_limit(&xm.origin) {
            verdict.soft(Denied::RateLimited { retry_after_ms })?;
        }
        if let Err(denied) =
            check_content(state, &endpoint, &content, &xm.origin, &destination).await
        {
            verdict.soft(denied)?;
        }
    }
    // `content` borrows `body`, which is forwarded as it is.
    drop(content);
    forward::forward(state, &destination, &parts, body, conn).await
}

/// The signed body's own rules: the `/send` envelope, membership events.
async fn check_content(
    state: &State,
    endpoint: &endpoints::Endpoint<'_>,
    content: &Content<'_>,
    origin: &ServerName,
    destination: &ServerName,
) -> Result<(), Denied> {
    match content {
        Content::Absent => Ok(()),
        Content::Canonical(doc) => {
            Envelope::from_canonical(doc, origin)?;
            Ok(())
        }
        Content::Tree(value) if endpoint.kind == EndpointKind::Send => {
            Transaction::from_json(value, origin)?;
            Ok(())
        }
        Content::Tree(value) => edge::check(state, endpoint, value, origin, destination).await,
    }
}

fn labels(verdict: &'static str, reason: &'static str, endpoint: &'static str) -> RequestLabels {
    RequestLabels {
        direction: "inbound",
        verdict,
        reason,
        endpoint,
    }
}
