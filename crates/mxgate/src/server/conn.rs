//! One inbound connection: TLS handshake, hyper serving with limits, idle
//! timeout and graceful shutdown.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use hyper::service::service_fn;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use mxgate_core::config::InboundLimits;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    sync::{Notify, watch},
    time::Instant,
};
use tokio_rustls::TlsAcceptor;

use crate::inbound::{ConnInfo, Gateway};

/// Concurrent HTTP/2 streams per connection.
const MAX_STREAMS: u32 = 256;

/// Requests a client may cancel on one connection before the gateway closes
/// it, beyond one for every two answered (see [`too_many_cancelled`]).
const CANCEL_ALLOWANCE: u64 = 64;

/// The `mxgate_connections_closed` reason for that.
const TOO_MANY_CANCELLED: &str = "too_many_cancelled_requests";

/// Everything a connection task needs.
pub(super) struct Connection {
    pub(super) gateway: Arc<Gateway>,
    pub(super) builder: Arc<auto::Builder<TokioExecutor>>,
    pub(super) acceptor: Option<TlsAcceptor>,
    pub(super) limits: InboundLimits,
    pub(super) stopped: watch::Receiver<bool>,
}

/// hyper's HTTP/1 header count limit when none is set.
const HYPER_MAX_HEADERS: usize = 100;

/// The hyper builder with the inbound limits: header count and size, header
/// read timeout (slowloris), HTTP/2 stream limits and keep-alive pings.
pub(super) fn builder(limits: &InboundLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let mut http1 = builder.http1();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true)
        // While a request is being answered, hyper would otherwise poll the
        // socket to notice a client hanging up, and reserve a second 8 KB
        // read buffer for that while the first is still held by the
        // request's headers and body (about 8 KB more per connection with
        // a request in flight). The cost: a request whose client has left
        // is still forwarded and answered (within the request timeout);
        // writing the answer then fails and the connection ends.
        .half_close(true);
    // hyper's own limit is 100 headers (431 above), parsed in place; any
    // explicit value, even 100, makes it fill a header table for every request.
    if limits.max_headers != HYPER_MAX_HEADERS {
        http1.max_headers(limits.max_headers);
    }
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(MAX_STREAMS)
        .max_pending_accept_reset_streams(Some(64))
        .max_local_error_reset_streams(Some(256))
        .keep_alive_interval(Some(limits.idle_timeout / 2))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

impl Connection {
    /// Serves the connection to completion.
    pub(super) async fn serve(self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let Some(acceptor) = self.acceptor.clone() else {
            return self.serve_io(stream, ConnInfo::new(Some(peer), None)).await;
        };
        // Boxed: a TLS session's state is large (≈ 5 KB), and every plain
        // connection's task would otherwise be sized for it too.
        Box::pin(self.serve_tls(acceptor, stream, peer)).await;
    }

    async fn serve_tls(self, acceptor: TlsAcceptor, stream: TcpStream, peer: SocketAddr) {
        let handshake = tokio::time::timeout(self.limits.request_timeout, acceptor.accept(stream));
        let stream = match handshake.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return tracing::debug!(%peer, %error, "TLS handshake failed"),
            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
        };
        let sni = stream.get_ref().1.server_name().map(Arc::from);
        self.serve_io(stream, ConnInfo::new(Some(peer), sni)).await;
    }

    async fn serve_io<I>(mut self, io: I, info: ConnInfo)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = info.peer;
        // One shared block per connection: a request clones one Arc.
        let shared = Arc::new(Shared {
            gateway: self.gateway.clone(),
            activity: Activity::new(),
            info,
        });
        let activity = shared.clone();
        let service = service_fn(move |request| {
            let in_flight = InFlight::begin(shared.clone());
            async move {
                let shared = &in_flight.shared;
                let response = shared.gateway.handle(request, &shared.info).await;
                in_flight.finish();
                Ok::<_, Infallible>(response)
            }
        });
        let activity = &activity.activity;
        let connection = self.builder.serve_connection(TokioIo::new(io), service);
        let mut connection = std::pin::pin!(connection);
        let idle = self.limits.idle_timeout;
        loop {
            let deadline = activity.idle_deadline(idle);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(?peer, %error, "connection ended with an error");
                    }
                    return;
                }
                _ = self.stopped.wait_for(|stop| *stop) => break,
                () = activity.too_many_cancelled.notified() => {
                    tracing::warn!(
                        ?peer,
                        cancelled = activity.cancelled.load(Ordering::Relaxed),
                        "closing a connection whose client cancels most of its requests \
                         (HTTP/2 rapid reset?)"
                    );
                    self.gateway.metrics().connection_closed(TOO_MANY_CANCELLED);
                    return;
                }
                () = tokio::time::sleep_until(deadline) => {
                    if activity.is_idle(idle) {
                        break;
                    }
                }
            }
        }
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    }
}

/// What every request of one connection shares.
struct Shared {
    gateway: Arc<Gateway>,
    activity: Activity,
    info: ConnInfo,
}

/// Requests in flight, the time of the last request start/end, and how
/// many requests ended by being cancelled rather than answered.
struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
    answered: AtomicU64,
    cancelled: AtomicU64,
    too_many_cancelled: Notify,
}

/// One request being handled; dropping it unfinished counts a cancellation
/// (for HTTP/2: the client reset the stream).
struct InFlight {
    shared: Arc<Shared>,
    finished: bool,
}

impl InFlight {
    fn begin(shared: Arc<Shared>) -> Self {
        shared.activity.in_flight.fetch_add(1, Ordering::AcqRel);
        shared.activity.touch();
        Self {
            shared,
            finished: false,
        }
    }

    fn finish(mut self) {
        self.finished = true;
        self.shared
            .activity
            .answered
            .fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.shared.activity;
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
        activity.touch();
        if !self.finished {
            let cancelled = activity.cancelled.fetch_add(1, Ordering::Relaxed) + 1;
            if too_many_cancelled(cancelled, activity.answered.load(Ordering::Relaxed)) {
                activity.too_many_cancelled.notify_one();
            }
        }
    }
}

/// The rapid-reset rule (CVE-2023-44487): a client may cancel
/// [`CANCEL_ALLOWANCE`] requests, plus one for every two it let finish.
///
/// hyper's `max_pending_accept_reset_streams` only counts streams reset
/// before they were accepted, so it depends on how far the serving thread
/// lags behind the socket: a lane that accepts each stream as it arrives
/// never reaches it. Counting cancelled handlers does not depend on timing.
fn too_many_cancelled(cancelled: u64, answered: u64) -> bool {
    cancelled > CANCEL_ALLOWANCE + answered / 2
}

impl Activity {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            answered: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            too_many_cancelled: Notify::new(),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Release);
    }

    fn idle_deadline(&self, idle: Duration) -> Instant {
        self.origin + Duration::from_millis(self.last_ms.load(Ordering::Acquire)) + idle
    }

    fn is_idle(&self, idle: Duration) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0 && Instant::now() >= self.idle_deadline(idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelled_requests_are_allowed_up_to_the_allowance_plus_half_the_answered() {
        assert!(!too_many_cancelled(CANCEL_ALLOWANCE, 0));
        assert!(too_many_cancelled(CANCEL_ALLOWANCE + 1, 0));
        // A long-lived connection may cancel one request in three.
        assert!(!too_many_cancelled(CANCEL_ALLOWANCE + 500, 1_000));
        assert!(too_many_cancelled(CANCEL_ALLOWANCE + 501, 1_000));
    }
}
