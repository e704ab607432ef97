//! Prometheus metrics (`mxgate_*`) and the admin listener
//! (`GET /metrics`, `/healthz`, `/readyz`).

use std::{
    convert::Infallible,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, body::Incoming, header, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use tokio::net::TcpListener;

use crate::{keyring::KeyringEvents, status::StatusBoard};

/// Labels of `mxgate_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// `accepted`, `rejected` or `would_reject` (report mode).
    pub verdict: &'static str,
    /// Reason label (`ok` when accepted).
    pub reason: &'static str,
    /// Endpoint class (`send`, `invite`, ...; `unknown` before classification).
    pub endpoint: &'static str,
}

/// Labels of `mxgate_server_requests_total`: the remote server is the
/// inbound origin or the outbound destination, or `unconfigured` for a
/// server absent from the config (so peers can't grow the label set).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    direction: &'static str,
    server: String,
    verdict: &'static str,
}

/// Labels of `mxgate_json_bodies_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BodyFormLabels {
    direction: &'static str,
    form: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// All gateway metrics, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    server_requests: Family<ServerLabels, Counter>,
    json_bodies: Family<BodyFormLabels, Counter>,
    duration: Histogram,
    upstream_errors: Family<ReasonLabel, Counter>,
    connections_closed: Family<ReasonLabel, Counter>,
    key_fetches: Family<OutcomeLabel, Counter>,
    key_rotations: Counter,
    signatures_checked: Counter,
    signature_batches: Counter,
    keyring: Mutex<KeyringSync>,
}

/// The keyring whose counters are exported, and what was exported so far.
#[derive(Debug, Default)]
struct KeyringSync {
    events: Option<Arc<KeyringEvents>>,
    seen: [u64; 4],
}

/// Readiness: ready once every upstream answered at least once.
#[derive(Debug)]
pub struct Readiness {
    pending: AtomicUsize,
}

/// Serves the admin listener until `shutdown` completes.
pub async fn serve_admin(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    status: Arc<StatusBoard>,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (metrics, readiness, status) = (metrics.clone(), readiness.clone(), status.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = admin_response(&request, &metrics, &readiness, &status);
                async move { Ok::<_, Infallible>(response) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(error) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "admin connection ended");
            }
        });
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "mxgate_requests",
            "Requests by direction, verdict, reason and endpoint class",
            requests.clone(),
        );
        let server_requests = Family::<ServerLabels, Counter>::default();
        registry.register(
            "mxgate_server_requests",
            "Requests by direction, remote server (origin or destination) and verdict",
            server_requests.clone(),
        );
        let json_bodies = Family::<BodyFormLabels, Counter>::default();
        registry.register(
            "mxgate_json_bodies",
            "Signed JSON bodies by form: canonical (checked in one pass over the bytes) or \
             other (parsed into a tree); inbound counts /send bodies, outbound every signed body",
            json_bodies.clone(),
        );
        let duration = Histogram::new(exponential_buckets(0.000_1, 2.0, 18));
        registry.register(
            "mxgate_request_duration_seconds",
            "Time from request head to response head",
            duration.clone(),
        );
        let upstream_errors = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "mxgate_upstream_errors",
            "Failed upstream exchanges by reason",
            upstream_errors.clone(),
        );
        let connections_closed = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "mxgate_connections_closed",
            "Inbound connections the gateway closed for abuse, by reason",
            connections_closed.clone(),
        );
        let key_fetches = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "mxgate_key_fetches",
            "Server key fetches by outcome",
            key_fetches.clone(),
        );
        let key_rotations = Counter::default();
        registry.register(
            "mxgate_key_rotations",
            "Key changes seen for servers with known keys",
            key_rotations.clone(),
        );
        let signatures_checked = Counter::default();
        registry.register(
            "mxgate_signatures_checked",
            "Inbound X-Matrix signatures checked (Ed25519)",
            signatures_checked.clone(),
        );
        let signature_batches = Counter::default();
        registry.register(
            "mxgate_signature_batches",
            "Batches the inbound signatures were checked in (a signature checked alone is a \
             batch of one); checked / batches is the mean batch size",
            signature_batches.clone(),
        );
        registry.register(
            "mxgate_discovery_changes",
            "Changes of a well-known delegation (discovery = \"well-known\")",
            crate::client::discovery::changes_counter(),
        );
        Self {
            registry,
            requests,
            server_requests,
            json_bodies,
            duration,
            upstream_errors,
            connections_closed,
            key_fetches,
            key_rotations,
            signatures_checked,
            signature_batches,
            keyring: Mutex::default(),
        }
    }

    /// Exports this keyring's fetch and rotation counters from now on
    /// (replacing the previous keyring's after a reload).
    pub fn watch_keyring(&self, events: Arc<KeyringEvents>) {
        self.sync_keyring();
        let mut sync = self.keyring.lock().unwrap_or_else(|p| p.into_inner());
        *sync = KeyringSync {
            events: Some(events),
            seen: [0; 4],
        };
    }

    /// Counts one request with its verdict.
    pub fn request(&self, labels: RequestLabels) {
        self.requests.get_or_create(&labels).inc();
    }

    /// Counts a request per remote server: the inbound origin or the
    /// outbound destination, `unconfigured` unless `configured`, `none`
    /// when the request named no server.
    pub fn server_request(
        &self,
        direction: &'static str,
        server: Option<&str>,
        configured: bool,
        verdict: &'static str,
    ) {
        let server = match server {
            Some(name) if configured => name.to_owned(),
            Some(_) => "unconfigured".to_owned(),
            None => "none".to_owned(),
        };
        let labels = ServerLabels {
            direction,
            server,
            verdict,
        };
        self.server_requests.get_or_create(&labels).inc();
    }

    /// Counts a signed JSON body by its form: `canonical` when the one-pass
    /// scan took it (`json::scan_canonical`), `other` when it was parsed.
    pub fn json_body(&self, direction: &'static str, canonical: bool) {
        let form = if canonical { "canonical" } else { "other" };
        self.json_bodies
            .get_or_create(&BodyFormLabels { direction, form })
            .inc();
    }

    /// Records the time a request took until its response head.
    pub fn duration(&self, elapsed: Duration) {
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// Counts a failed upstream exchange.
    pub fn upstream_error(&self, reason: &'static str) {
        self.upstream_errors
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Counts an inbound connection closed for abuse.
    pub fn connection_closed(&self, reason: &'static str) {
        self.connections_closed
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Counts a key fetch with its outcome (`ok`, `error`, `invalid`, ...).
    pub fn key_fetch(&self, outcome: &'static str) {
        self.key_fetches
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// Counts a batch of `signatures` signature checks (1: checked alone).
    pub fn signatures_checked(&self, signatures: usize) {
        self.signature_batches.inc();
        self.signatures_checked
            .inc_by(u64::try_from(signatures).unwrap_or(u64::MAX));
    }

    /// Counts a key rotation (a server's keys changed).
    pub fn key_rotation(&self) {
        self.key_rotations.inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        self.sync_keyring();
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

impl Metrics {
    /// Adds the keyring's counter increments since the last sync.
    fn sync_keyring(&self) {
        let mut sync = self.keyring.lock().unwrap_or_else(|p| p.into_inner());
        let Some(events) = sync.events.clone() else {
            return;
        };
        let now = [
            events.fetch_ok.load(Ordering::Relaxed),
            events.fetch_failed.load(Ordering::Relaxed),
            events.fetch_suppressed.load(Ordering::Relaxed),
            events.rotations.load(Ordering::Relaxed),
        ];
        let delta: Vec<u64> = now
            .iter()
            .zip(sync.seen)
            .map(|(n, s)| n.saturating_sub(s))
            .collect();
        for (outcome, count) in ["ok", "error", "suppressed"].into_iter().zip(&delta) {
            if *count > 0 {
                self.key_fetches
                    .get_or_create(&OutcomeLabel { outcome })
                    .inc_by(*count);
            }
        }
        self.key_rotations.inc_by(delta[3]);
        sync.seen = now;
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    /// Readiness waiting for `upstreams` upstreams to answer.
    pub fn new(upstreams: usize) -> Self {
        Self {
            pending: AtomicUsize::new(upstreams),
        }
    }

    /// Marks one upstream as having answered (call once per upstream).
    pub fn upstream_answered(&self) {
        let _ = self
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Whether every upstream answered.
    pub fn is_ready(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0
    }
}

fn admin_response(
    request: &Request<Incoming>,
    metrics: &Metrics,
    readiness: &Readiness,
    status: &StatusBoard,
) -> Response<Full<Bytes>> {
    if let Some(response) = status.admin_routes(request.method(), request.uri().path()) {
        return response;
    }
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Bytes::from(metrics.encode()),
        ),
        (&Method::GET, "/healthz") => (StatusCode::OK, "text/plain", Bytes::from_static(b"ok\n")),
        (&Method::GET, "/readyz") if readiness.is_ready() => {
            (StatusCode::OK, "text/plain", Bytes::from_static(b"ready\n"))
        }
        (&Method::GET, "/readyz") => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            Bytes::from_static(b"waiting for upstreams\n"),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"not found\n"),
        ),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_metric_names_and_labels() {
        let metrics = Metrics::new();
        metrics.request(RequestLabels {
            direction: "inbound",
            verdict: "rejected",
            reason: "unknown_origin",
            endpoint: "send",
        });
        metrics.key_fetch("ok");
        metrics.key_rotation();
        metrics.upstream_error("connect");
        metrics.duration(Duration::from_millis(3));
        let text = metrics.encode();
        assert!(text.contains(
            r#"mxgate_requests_total{direction="inbound",verdict="rejected",reason="unknown_origin",endpoint="send"} 1"#
        ), "{text}");
        assert!(
            text.contains(r#"mxgate_key_fetches_total{outcome="ok"} 1"#),
            "{text}"
        );
        assert!(text.contains("mxgate_key_rotations_total 1"), "{text}");
        assert!(
            text.contains(r#"mxgate_upstream_errors_total{reason="connect"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("mxgate_request_duration_seconds_count 1"),
            "{text}"
        );
    }

    #[test]
    fn keyring_counters_are_exported_as_deltas() {
        let metrics = Metrics::new();
        let events = Arc::new(KeyringEvents::default());
        metrics.watch_keyring(events.clone());
        events.fetch_ok.fetch_add(2, Ordering::Relaxed);
        events.rotations.fetch_add(1, Ordering::Relaxed);
        let text = metrics.encode();
        assert!(
            text.contains(r#"mxgate_key_fetches_total{outcome="ok"} 2"#),
            "{text}"
        );
        events.fetch_ok.fetch_add(1, Ordering::Relaxed);
        let text = metrics.encode();
        assert!(
            text.contains(r#"mxgate_key_fetches_total{outcome="ok"} 3"#),
            "{text}"
        );
        assert!(text.contains("mxgate_key_rotations_total 1"), "{text}");
    }

    #[test]
    fn readiness_counts_down() {
        let readiness = Readiness::new(2);
        assert!(!readiness.is_ready());
        readiness.upstream_answered();
        assert!(!readiness.is_ready());
        readiness.upstream_answered();
        readiness.upstream_answered();
        assert!(readiness.is_ready());
    }
}
