//! The outbound gateway: Synapse's federation-proxy protocol, with
//! destinations pinned in config.
//!
//! Our homeservers send every outbound federation request here (Synapse's
//! `outbound_federation_restricted_to` + `instance_map` +
//! `worker_replication_secret`): plain HTTP/1.1 on an internal TCP address or
//! UNIX socket, absolute-form `matrix-federation://DEST/...` targets, the
//! X-Matrix header already set, `Proxy-Authorization: Bearer <secret>`, one
//! new connection per request. Each request goes through, in order:
//! 1. no `CONNECT` (405); the bearer secret, compared in constant time (401);
//! 2. an absolute-form `matrix-federation://` target (400) under `/_matrix/` (404);
//! 3. the destination (the target's authority) is a `[[homeserver]]`
//!    (forwarded to its `upstream`: internal traffic stays internal) or a
//!    `[[remote]]` (at its pinned `address`, or where `discovery =
//!    "well-known"` resolves it; TLS with its pinned roots, see
//!    [`crate::client`]) — anything else is 403 `M_FORBIDDEN` naming the
//!    destination, and nothing is sent anywhere. Key-server requests follow
//!    the same rule;
//! 4. X-Matrix (401); its `origin` is one of our homeservers and its
//!    `destination`, when present, is the target's authority (403);
//! 5. the body within `[inbound] max_body_send`, in `request_timeout` (413/408);
//! 6. the signature over the raw path-and-query and the body, with the
//!    homeserver's keys from the [`Keyring`] (pinned, or fetched from its
//!    upstream) — 401; so a client of this port can't send unsigned traffic;
//! 7. a per-destination concurrency slot (`max_concurrency_per_destination`;
//!    a request waits up to `response_timeout` for one, then 503);
//! 8. forwarding: same method, byte-identical path-and-query, `Authorization`,
//!    `Content-Type`, `User-Agent`, `Host` = the destination's server name,
//!    the exact body bytes; `Proxy-Authorization` is never forwarded. The
//!    response streams back unchanged (minus hop-by-hop headers). Connect/TLS
//!    failures are 502, timeouts 504, with the reason in the Matrix error.
//!
//! Report mode (`[gateway] mode = "report"`) logs and counts steps 4 and 6
//! as `would_reject` and forwards anyway. The secret, the request form,
//! routing and limits are enforced in both modes: in particular a request
//! for an unconfigured destination is never sent, since there is no pinned
//! address or root to send it to.
//!
//! Every refusal is an audit line (`direction = "outbound"`, with origin and
//! destination) and a count in `mxgate_requests_total{direction="outbound"}`.
//! [`OutboundGateway::reload`] swaps the config for new requests (`SIGHUP`).

mod forward;
mod listener;
mod refusal;
mod setup;
mod state;

use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use hyper::{Method, Request, Response, body::Incoming, header, http::request::Parts};
use mxgate_core::{
    config::{Config, Mode},
    endpoints,
    ids::ServerName,
    json,
    xmatrix::{RequestToSign, XMatrix},
};

use crate::{
    audit::{Audit, AuditRecord, now_ms},
    client::HttpClient,
    errors::ResponseBody,
    keyring::Keyring,
    metrics::{Metrics, RequestLabels},
    status::Direction,
};
pub use listener::{OutboundListener, run_outbound};
pub use refusal::Refusal;
pub use setup::{OutboundSetupError, Secret};
use state::State;

/// The URI scheme of Synapse's federation-proxy requests.
pub const PROXY_SCHEME: &str = "matrix-federation";

/// The outbound gateway: the current per-config state plus shared sinks.
pub struct OutboundGateway {
    state: RwLock<Arc<State>>,
    metrics: Arc<Metrics>,
    audit: Arc<Audit>,
}

impl OutboundGateway {
    /// Builds the gateway for `config` (which must have `[outbound]`): reads
    /// the secret file, builds the pinned client for every homeserver and
    /// every remote with an `address`, and a keyring (its own pool)
    /// persisting under `state_dir`.
    pub async fn from_config(
        config: &Config,
        metrics: Arc<Metrics>,
        audit: Arc<Audit>,
    ) -> Result<Self, OutboundSetupError> {
        let state = State::from_config(config).await?;
        Ok(Self::with_state(state, metrics, audit))
    }

    /// Builds the gateway from its parts. `client` decides which
    /// destinations exist; `keyring` must know our homeservers.
    pub fn new(
        config: &Config,
        secret: Secret,
        client: HttpClient,
        keyring: Keyring,
        metrics: Arc<Metrics>,
        audit: Arc<Audit>,
    ) -> Result<Self, OutboundSetupError> {
        let state = State::new(config, secret, client, keyring)?;
        Ok(Self::with_state(state, metrics, audit))
    }

    /// Swaps in a new config (secret, destinations, keys, limits) for new
    /// requests; requests in flight finish with the old one. On error the
    /// old config stays. The listener itself is not rebound.
    pub async fn reload(&self, config: &Config) -> Result<(), OutboundSetupError> {
        let state = Arc::new(State::from_config(config).await?);
        match self.state.write() {
            Ok(mut guard) => *guard = state,
            Err(poisoned) => *poisoned.into_inner() = state,
        }
        Ok(())
    }

    /// Handles one proxy request; never fails (refusals are Matrix errors).
    pub async fn handle(&self, request: Request<Incoming>) -> Response<ResponseBody> {
        let started = Instant::now();
        let state = self.state();
        let (parts, body) = request.into_parts();
        let mut trace = Trace::new(state.mode, &parts);
        let response = match admit_and_forward(&state, &parts, body, &mut trace).await {
            Ok(response) => {
                if trace.would_reject.is_none() {
                    self.count("accepted", "ok", &trace);
                    let destination = trace.destination.as_deref();
                    self.audit.accepted(Direction::Outbound, destination);
                }
                response
            }
            Err(refusal) => {
                let verdict = if refusal.is_upstream_failure() {
                    self.metrics.upstream_error(refusal.reason());
                    "failed"
                } else {
                    "rejected"
                };
                self.record(&trace, verdict, &refusal);
                refusal.to_matrix_error().into_response()
            }
        };
        if let Some(refusal) = trace.would_reject.take() {
            self.record(&trace, "would_reject", &refusal);
        }
        if let Some(canonical) = trace.canonical_body {
            self.metrics.json_body("outbound", canonical);
        }
        self.metrics.duration(started.elapsed());
        response
    }

    fn with_state(state: State, metrics: Arc<Metrics>, audit: Arc<Audit>) -> Self {
        Self {
            state: RwLock::new(Arc::new(state)),
            metrics,
            audit,
        }
    }

    fn state(&self) -> Arc<State> {
        match self.state.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Time allowed to read a request's head (and body).
    fn request_timeout(&self) -> Duration {
        self.state().request_timeout
    }

    fn count(&self, verdict: &'static str, reason: &'static str, trace: &Trace) {
        self.metrics.request(RequestLabels {
            direction: "outbound",
            verdict,
            reason,
            endpoint: trace.endpoint,
        });
        let destination = trace.destination.as_deref();
        self.metrics
            .server_request("outbound", destination, trace.routed, verdict);
    }

    fn record(&self, trace: &Trace, verdict: &'static str, refusal: &Refusal) {
        let status = refusal.status().as_u16();
        tracing::warn!(
            origin = ?trace.origin.as_ref().map(ServerName::as_str),
            destination = ?trace.destination,
            method = %trace.method,
            path = %trace.path,
            verdict,
            reason = refusal.reason(),
            status,
            "outbound request: {refusal}"
        );
        self.count(verdict, refusal.reason(), trace);
        self.audit.record(AuditRecord {
            ts: now_ms(),
            direction: "outbound",
            origin: trace.origin.as_ref().map(ToString::to_string),
            destination: trace.destination.clone(),
            method: trace.method.as_str().to_owned(),
            path: trace.path.clone(),
            endpoint: trace.endpoint,
            verdict,
            reason: refusal.reason(),
            status,
        });
    }
}

/// Runs the pipeline of the module docs on one request.
async fn admit_and_forward(
    state: &State,
    parts: &Parts,
    body: Incoming,
    trace: &mut Trace,
) -> Result<Response<ResponseBody>, Refusal> {
    if parts.method == Method::CONNECT {
        return Err(Refusal::Connect);
    }
    state.secret.check(&parts.headers)?;
    let (authority, target) = proxy_target(parts)?;
    trace.destination = Some(authority.to_owned());
    let destination = state.route(authority)?;
    trace.routed = true;
    let xmatrix = authenticate(state, parts, &destination, trace)?;
    let body = forward::read_body(body, state.max_body, state.request_timeout).await?;
    if let Some(xm) = &xmatrix
        && let Err(refusal) = verify(
            state,
            &parts.method,
            target,
            &destination,
            &body,
            xm,
            &mut trace.canonical_body,
        )
        .await
    {
        trace.soft(refusal)?;
    }
    forward::forward(state, parts, target, &destination, body).await
}

/// X-Matrix present and well-formed, origin ours, destination the target's.
/// Returns the header when the signature must be checked.
fn authenticate(
    state: &State,
    parts: &Parts,
    destination: &ServerName,
    trace: &mut Trace,
) -> Result<Option<XMatrix>, Refusal> {
    let values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let xm = match XMatrix::from_headers(values.map(|v| v.as_bytes())) {
        Ok(xm) => xm,
        Err(error) => return trace.soft(Refusal::XMatrix(error)).map(|()| None),
    };
    trace.origin = Some(xm.origin.clone());
    if let Some(header) = xm.destination.as_ref().filter(|d| *d != destination) {
        trace.soft(Refusal::DestinationMismatch {
            header: header.clone(),
            authority: destination.to_string(),
        })?;
    }
    if !state.homeservers.contains(&xm.origin) {
        trace.soft(Refusal::ForeignOrigin(xm.origin.clone()))?;
        return Ok(None);
    }
    Ok(state.verify.then_some(xm))
}

/// Checks the signature over the raw target and the body with the origin's
/// current key.
async fn verify(
    state: &State,
    method: &Method,
    target: &str,
    destination: &ServerName,
    body: &[u8],
    xm: &XMatrix,
    canonical_body: &mut Option<bool>,
) -> Result<(), Refusal> {
    // A canonical body (Synapse sends them so) is signed over as it is;
    // anything else is parsed strictly, which also names what is wrong.
    let scanned = json::scan_canonical(body);
    if !body.is_empty() {
        *canonical_body = Some(scanned.is_some());
    }
    let content = match (&scanned, body.is_empty()) {
        (None, false) => Some(json::parse_strict(body).map_err(Refusal::Json)?),
        _ => None,
    };
    let key = state
        .keyring
        .request_key(&xm.origin, &xm.key)
        .await
        .map_err(Refusal::Key)?;
    let request = RequestToSign {
        method: method.as_str(),
        uri: target,
        origin: &xm.origin,
        destination,
        content: content.as_ref(),
    };
    let verified = match &scanned {
        Some(doc) => request.verify_canonical(xm, &key, doc),
        None => request.verify_with_raw(xm, &key, body),
    };
    verified.map_err(Refusal::Signature)
}

/// What is known about a request as it goes through the pipeline.
struct Trace {
    mode: Mode,
    method: Method,
    path: String,
    endpoint: &'static str,
    origin: Option<ServerName>,
    destination: Option<String>,
    /// The destination is a configured server (routing succeeded).
    routed: bool,
    would_reject: Option<Refusal>,
    /// For a signed JSON body: whether it was canonical (took the scan).
    canonical_body: Option<bool>,
}

impl Trace {
    fn new(mode: Mode, parts: &Parts) -> Self {
        let path = parts.uri.path();
        let endpoint = endpoints::classify(parts.method.as_str(), path)
            .map_or("unknown", |endpoint| endpoint.class());
        // The origin the header claims, so that refusals made before the
        // X-Matrix checks (secret, routing) still name the sending homeserver
        // in the audit log. `authenticate` replaces it with the checked one.
        let values = parts.headers.get_all(header::AUTHORIZATION).iter();
        let origin = XMatrix::from_headers(values.map(|v| v.as_bytes()))
            .ok()
            .map(|xm| xm.origin);
        Self {
            mode,
            method: parts.method.clone(),
            path: path.to_owned(),
            endpoint,
            origin,
            destination: None,
            routed: false,
            would_reject: None,
            canonical_body: None,
        }
    }

    /// Enforce mode: `Err(refusal)`. Report mode: remember the first
    /// reportable refusal and go on; the others are still errors.
    fn soft(&mut self, refusal: Refusal) -> Result<(), Refusal> {
        if self.mode == Mode::Report && refusal.reportable() {
            self.would_reject.get_or_insert(refusal);
            Ok(())
        } else {
            Err(refusal)
        }
    }
}

/// The authority and the raw path-and-query of an absolute-form
/// `matrix-federation://AUTHORITY/_matrix/...` target.
fn proxy_target(parts: &Parts) -> Result<(&str, &str), Refusal> {
    let uri = &parts.uri;
    if uri.scheme_str() != Some(PROXY_SCHEME) {
        return Err(Refusal::NotAbsoluteForm);
    }
    let authority = uri.authority().ok_or(Refusal::NotAbsoluteForm)?;
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    if !target.starts_with("/_matrix/") {
        return Err(Refusal::NotMatrixPath);
    }
    Ok((authority.as_str(), target))
}
