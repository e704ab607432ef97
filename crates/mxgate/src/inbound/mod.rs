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
//! 6. per-origin rate limit — 429;
//! 7. body within the endpoint class limit, in time — 413/408;
//! 8. strict JSON (`PUT`/`POST`) — 400 `M_NOT_JSON`/`M_BAD_JSON`;
//! 9. key lookup and signature over the raw request-target and body — 401;
//! 10. `/send`: transaction envelope; body `origin` ≠ header origin — 403.
//!
//! Report mode (`[gateway] mode = "report"`) records steps 3, 4, 6, 8, 9
//! and 10 as `would_reject` and forwards anyway; framing, paths, unknown
//! destinations and body limits are enforced in both modes
//! ([`Denied::reportable`]).

mod forward;
mod state;

use std::{
    net::SocketAddr,
    sync::{Arc, RwLock},
    time::Instant,
};

use hyper::{Method, Request, Response, Uri, body::Incoming, header};
use mxgate_core::{
    config::{Config, Mode},
    endpoints::{self, BodyClass, Endpoint, EndpointKind},
    ids::ServerName,
    json::{self, CanonicalJsonValue},
    txn::Transaction,
    xmatrix::{RequestToSign, XMatrix},
};

use crate::{
    audit::{Audit, AuditRecord, now_ms},
    client::ClientOptions,
    errors::{Denied, ResponseBody},
    keyring::KeyringError,
    metrics::{Metrics, RequestLabels},
};
use state::State;
pub use state::StateError;

/// The inbound gateway: current config state plus shared sinks.
pub struct Gateway {
    state: RwLock<Arc<State>>,
    options: ClientOptions,
    metrics: Arc<Metrics>,
    audit: Audit,
}

/// What the gateway knows about the connection a request came on.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// The peer address (for `X-Forwarded-For`).
    pub peer: Option<SocketAddr>,
    /// The TLS SNI name, when TLS was used and the client sent one.
    pub sni: Option<Arc<str>>,
}

impl Gateway {
    /// A gateway for `config`. `options` sets the upstream client timeouts.
    pub fn new(
        config: Config,
        options: ClientOptions,
        metrics: Arc<Metrics>,
        audit: Audit,
    ) -> Result<Self, StateError> {
        let state = State::new(Arc::new(config), options)?;
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
        let response = match admit_and_forward(&state, request, conn, &mut verdict).await {
            Ok(response) => {
                if verdict.would_reject.is_none() {
                    self.metrics
                        .request(labels("accepted", "ok", verdict.endpoint));
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
        let mut request = Request::new(http_body_util::Full::new(bytes::Bytes::new()));
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
    destination: Option<ServerName>,
    would_reject: Option<Denied>,
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
    request: Request<Incoming>,
    conn: &ConnInfo,
    verdict: &mut Verdict,
) -> Result<Response<ResponseBody>, Denied> {
    verdict.endpoint = "unknown";
    check_framing(&request)?;
    let (parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
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
    if let (Some(xm), Some(destination)) = (&auth, &verdict.destination) {
        let request = RequestToSign {
            method: parts.method.as_str(),
            uri: target,
            origin: &xm.origin,
            destination,
            content: content.as_ref(),
        };
        if let Err(denied) = verify(state, &request, xm).await {
            verdict.soft(denied)?;
        }
        if let (EndpointKind::Send, Some(content)) = (endpoint.kind, &content)
            && let Err(error) = Transaction::from_json(content, &xm.origin)
        {
            verdict.soft(error.into())?;
        }
    }
    let destination = verdict
        .destination
        .clone()
        .ok_or(Denied::UnknownDestination)?;
    forward::forward(state, &destination, &parts, target, body, conn).await
}

/// Refuses what hyper accepts but a federation gateway must not.
fn check_framing(request: &Request<Incoming>) -> Result<(), Denied> {
    if request.method() == Method::CONNECT {
        return Err(Denied::BadRequest("connect"));
    }
    let h1 = request.version() < hyper::Version::HTTP_2;
    if h1 && (request.uri().scheme().is_some() || request.uri().authority().is_some()) {
        return Err(Denied::BadRequest("absolute_form"));
    }
    if request.headers().contains_key(header::TRANSFER_ENCODING) {
        return Err(Denied::BadRequest("transfer_encoding"));
    }
    if request.headers().get_all(header::HOST).iter().count() > 1 {
        return Err(Denied::BadRequest("duplicate_host"));
    }
    Ok(())
}

/// The Host header (HTTP/1.1) or the `:authority` (HTTP/2).
fn host_name(parts: &hyper::http::request::Parts) -> Option<&str> {
    match parts.headers.get(header::HOST) {
        Some(value) => value.to_str().ok(),
        None => parts.uri.authority().map(|a| a.as_str()),
    }
}

/// X-Matrix, origin trust, destination and rate limit. Sets
/// `verdict.origin`/`destination`. Returns the header for signed endpoints.
fn authenticate(
    state: &State,
    parts: &hyper::http::request::Parts,
    endpoint: &Endpoint<'_>,
    host: Option<&str>,
    conn: &ConnInfo,
    verdict: &mut Verdict,
) -> Result<Option<XMatrix>, Denied> {
    let by_host = host.and_then(|h| state.homeserver(h));
    let by_sni = conn.sni.as_deref().and_then(|s| state.homeserver(s));
    if !endpoint.signed() {
        verdict.destination = by_host.or(by_sni).cloned();
        return Ok(None);
    }
    let values = parts
        .headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes());
    let xm = match XMatrix::from_headers(values) {
        Ok(xm) => xm,
        Err(error) => {
            verdict.soft(error.into())?;
            verdict.destination = by_host.or(by_sni).cloned();
            return Ok(None);
        }
    };
    verdict.origin = Some(xm.origin.clone());
    let destination = match &xm.destination {
        Some(name) => state
            .homeserver(name.as_str())
            .ok_or(Denied::UnknownDestination)?,
        None => by_host.or(by_sni).ok_or(Denied::UnknownDestination)?,
    };
    if by_host.or(by_sni).is_some_and(|named| named != destination) {
        return Err(Denied::Unauthorized("destination_mismatch"));
    }
    verdict.destination = Some(destination.clone());
    if !state.is_trusted(&xm.origin) {
        verdict.soft(Denied::Forbidden("unknown_origin"))?;
        return Ok(None);
    }
    if let Err(retry_after_ms) = state.rate_limit(&xm.origin) {
        verdict.soft(Denied::RateLimited { retry_after_ms })?;
    }
    Ok(Some(xm))
}

fn body_limit(state: &State, endpoint: &Endpoint<'_>) -> usize {
    match endpoint.body() {
        BodyClass::Transaction => state.limits.max_body_send,
        BodyClass::Json => state.limits.max_body_other,
        BodyClass::Empty | BodyClass::Media => 0,
    }
}

/// Strictly parses the body of `PUT`/`POST` requests (signed content).
fn parse_content(
    method: &Method,
    endpoint: &Endpoint<'_>,
    body: &[u8],
    verdict: &mut Verdict,
) -> Result<Option<CanonicalJsonValue>, Denied> {
    if !matches!(endpoint.body(), BodyClass::Json | BodyClass::Transaction)
        || !(method == Method::PUT || method == Method::POST)
    {
        return Ok(None);
    }
    match json::parse_strict(body) {
        Ok(value) => Ok(Some(value)),
        Err(error) => verdict.soft(error.into()).map(|()| None),
    }
}

/// Gets the origin's key (pinned, cached or fetched) and verifies the signature.
async fn verify(state: &State, request: &RequestToSign<'_>, xm: &XMatrix) -> Result<(), Denied> {
    if !state.verify {
        return Ok(());
    }
    let key = match state.keyring.request_key(&xm.origin, &xm.key).await {
        Ok(key) => key,
        Err(KeyringError::UnknownServer(_)) => return Err(Denied::Forbidden("unknown_origin")),
        Err(error) => {
            tracing::debug!(origin = %xm.origin, key = %xm.key, %error, "no key for request");
            return Err(Denied::Unauthorized(error.reason()));
        }
    };
    Ok(request.verify(xm, &key)?)
}

fn labels(verdict: &'static str, reason: &'static str, endpoint: &'static str) -> RequestLabels {
    RequestLabels {
        direction: "inbound",
        verdict,
        reason,
        endpoint,
    }
}
