//! The proxy listener: TCP or UNIX socket, HTTP/1.1 (Synapse's proxy client
//! opens one connection per request), graceful shutdown.

use std::{convert::Infallible, future::Future, path::PathBuf, sync::Arc, time::Duration};

use hyper::{server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use mxgate_core::config::OutboundListen;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, UnixListener},
    sync::{Semaphore, watch},
};

use super::{OutboundGateway, OutboundSetupError};

/// Connections served at once; further ones wait to be accepted.
const MAX_CONNECTIONS: usize = 1024;

/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound proxy listener.
#[derive(Debug)]
pub enum OutboundListener {
    /// `listen = "ip:port"`.
    Tcp(TcpListener),
    /// `listen = "unix:/path"`; the socket file is removed at shutdown.
    Unix(UnixListener),
}

impl OutboundListener {
    /// Binds the configured `[outbound] listen`. A stale UNIX socket file
    /// left by a previous run is replaced; any other existing file is not.
    pub async fn bind(listen: &OutboundListen) -> Result<Self, OutboundSetupError> {
        match listen {
            OutboundListen::Tcp(addr) => {
                TcpListener::bind(addr)
                    .await
                    .map(Self::Tcp)
                    .map_err(|source| OutboundSetupError::Bind {
                        listen: addr.to_string(),
                        source,
                    })
            }
            OutboundListen::Unix(path) => {
                remove_stale_socket(path);
                UnixListener::bind(path).map(Self::Unix).map_err(|source| {
                    OutboundSetupError::Bind {
                        listen: format!("unix:{}", path.display()),
                        source,
                    }
                })
            }
        }
    }

    /// The socket file of a UNIX listener.
    fn unix_path(&self) -> Option<PathBuf> {
        match self {
            Self::Tcp(_) => None,
            Self::Unix(listener) => listener
                .local_addr()
                .ok()
                .and_then(|addr| addr.as_pathname().map(ToOwned::to_owned)),
        }
    }
}

/// Serves the federation-proxy protocol on `listener` until `shutdown`
/// completes, then stops accepting and lets requests in flight finish (up to
/// 30 s). Connections are served on the calling runtime, not on
/// [`lanes`](crate::lanes): Synapse opens one proxy connection per request,
/// and with per-lane pools consecutive requests to a remote would open one
/// TLS connection per lane instead of sharing one. A UNIX socket file is removed at the end.
pub async fn run_outbound(
    listener: OutboundListener,
    gateway: Arc<OutboundGateway>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepting = async {
            let slot = slots.clone().acquire_owned().await;
            (slot, accept(&listener).await)
        };
        let (slot, accepted) = tokio::select! {
            () = &mut shutdown => break,
            accepted = accepting => accepted,
        };
        let (Ok(slot), Some(io)) = (slot, accepted) else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let (gateway, stopped) = (gateway.clone(), stopped.clone());
        tokio::spawn(async move {
            match io {
                Io::Tcp(stream) => serve_connection(stream, gateway, stopped).await,
                Io::Unix(stream) => serve_connection(stream, gateway, stopped).await,
            }
            drop(slot);
        });
    }
    let socket_file = listener.unix_path();
    drop(listener);
    if let Some(path) = socket_file {
        let _ = std::fs::remove_file(path);
    }
    let _ = stop.send(true);
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN_TIMEOUT, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("outbound shutdown: requests still in flight after the drain timeout");
    }
}

/// An accepted connection.
enum Io {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(listener: &OutboundListener) -> Option<Io> {
    let accepted = match listener {
        OutboundListener::Tcp(listener) => listener.accept().await.map(|(s, _)| Io::Tcp(s)),
        OutboundListener::Unix(listener) => listener.accept().await.map(|(s, _)| Io::Unix(s)),
    };
    accepted
        .inspect_err(|error| tracing::warn!(%error, "outbound accept failed"))
        .ok()
}

/// Serves HTTP/1.1 on one connection; on shutdown, finishes the request in
/// flight and closes.
async fn serve_connection<I>(
    io: I,
    gateway: Arc<OutboundGateway>,
    mut stopped: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = gateway.request_timeout();
    let service = service_fn(move |request| {
        let gateway = gateway.clone();
        async move { Ok::<_, Infallible>(gateway.handle(request).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "outbound connection ended with an error");
            }
            return;
        }
        _ = stopped.wait_for(|stop| *stop) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// Removes `path` if it is a UNIX socket (left by a previous run).
fn remove_stale_socket(path: &std::path::Path) {
    use std::os::unix::fs::FileTypeExt;
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    if is_socket && let Err(error) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), %error, "cannot remove the stale socket");
    }
}
