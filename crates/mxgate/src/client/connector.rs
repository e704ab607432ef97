//! The pinned connector: maps a request URI's `scheme://authority` to a
//! configured route (or, for well-known discovery, a route registered when
//! the delegation was resolved), connects TCP to the route's address and runs
//! TLS against the route's TLS name — the TCP target and the TLS name may
//! differ.

use std::{
    collections::HashMap,
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use hyper::{
    Uri,
    rt::{Read, ReadBufCursor, Write},
};
use hyper_util::{
    client::legacy::connect::{Connected, Connection},
    rt::TokioIo,
};
use rustls::ClientConfig;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, client::TlsStream};

use super::{ClientError, discovery::DynamicRoutes};

/// Why a connection could not be opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    /// The URI names no configured destination; nothing was sent.
    #[error("no route to {0}: not a configured destination")]
    NoRoute(String),
    /// The TCP connection failed (or the address did not resolve).
    #[error("connect to {address}: {source}")]
    Tcp {
        /// `host:port` tried.
        address: String,
        /// The last error seen.
        source: Arc<io::Error>,
    },
    /// The TLS handshake failed (untrusted certificate, wrong name, pin...).
    #[error("TLS handshake with {address}: {source}")]
    Tls {
        /// `host:port` tried.
        address: String,
        /// What the handshake said.
        source: Arc<io::Error>,
    },
    /// TCP connect plus TLS handshake took longer than allowed.
    #[error("connect timed out")]
    Timeout,
}

impl ConnectError {
    /// A stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoRoute(_) => "unknown_destination",
            Self::Tcp { .. } => "connect_failed",
            Self::Tls { .. } => "tls_handshake",
            Self::Timeout => "connect_timeout",
        }
    }
}

/// The TLS side of a route: the name to verify (and send as SNI unless it is
/// an IP address) and the client configuration (roots, pins, ALPN).
pub(crate) struct TlsTarget {
    name: rustls_pki_types::ServerName<'static>,
    config: Arc<ClientConfig>,
}

impl TlsTarget {
    /// `host` may be a DNS name, an IPv4 literal or a bracketed IPv6 literal.
    pub(crate) fn new(host: &str, config: Arc<ClientConfig>) -> Result<Self, ClientError> {
        let bare = strip_brackets(host);
        let name = rustls_pki_types::ServerName::try_from(bare.to_owned())
            .map_err(|_| ClientError::InvalidUri(host.to_owned()))?;
        Ok(Self { name, config })
    }
}

/// Where and how to connect for one destination.
pub(crate) struct Route {
    host: String,
    port: u16,
    tls: Option<TlsTarget>,
}

impl Route {
    /// `host` may be bracketed (IPv6).
    pub(crate) fn new(host: &str, port: u16, tls: Option<TlsTarget>) -> Self {
        Self {
            host: strip_brackets(host).to_owned(),
            port,
            tls,
        }
    }

    fn address(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]:{}", self.port),
            _ => format!("{}:{}", self.host, self.port),
        }
    }
}

/// A `tower::Service<Uri>` for hyper-util's pooled client.
#[derive(Clone)]
pub(crate) struct PinnedConnector {
    routes: Arc<HashMap<String, Arc<Route>>>,
    discovered: DynamicRoutes,
    timeout: Duration,
}

impl PinnedConnector {
    /// Routes keyed by `scheme://authority` as in request URIs: the static
    /// ones first, then those of resolved well-known delegations.
    pub(crate) fn new(
        routes: HashMap<String, Arc<Route>>,
        discovered: DynamicRoutes,
        timeout: Duration,
    ) -> Self {
        Self {
            routes: Arc::new(routes),
            discovered,
            timeout,
        }
    }

    fn route(&self, key: &str) -> Option<Arc<Route>> {
        if let Some(route) = self.routes.get(key) {
            return Some(route.clone());
        }
        let discovered = self.discovered.read().unwrap_or_else(|p| p.into_inner());
        discovered.get(key).cloned()
    }
}

impl tower_service::Service<Uri> for PinnedConnector {
    type Response = ClientIo;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<ClientIo, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let key = match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
            _ => uri.to_string(),
        };
        let route = self.route(&key);
        let timeout = self.timeout;
        Box::pin(async move {
            let route = route.ok_or(ConnectError::NoRoute(key))?;
            tokio::time::timeout(timeout, connect(&route))
                .await
                .map_err(|_| ConnectError::Timeout)?
        })
    }
}

async fn connect(route: &Route) -> Result<ClientIo, ConnectError> {
    let address = route.address();
    let tcp_error = |source: io::Error| ConnectError::Tcp {
        address: address.clone(),
        source: Arc::new(source),
    };
    let tcp = connect_tcp(&route.host, route.port)
        .await
        .map_err(tcp_error)?;
    tcp.set_nodelay(true).map_err(tcp_error)?;
    let Some(tls) = &route.tls else {
        return Ok(ClientIo::new(Stream::Plain(tcp), false));
    };
    let stream = TlsConnector::from(tls.config.clone())
        .connect(tls.name.clone(), tcp)
        .await
        .map_err(|source| ConnectError::Tls {
            address: address.clone(),
            source: Arc::new(source),
        })?;
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    Ok(ClientIo::new(Stream::Tls(Box::new(stream)), h2))
}

/// Connects to the first address of `host` that accepts.
pub(super) async fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return TcpStream::connect(SocketAddr::new(ip, port)).await;
    }
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host name did not resolve");
    for address in tokio::net::lookup_host((host, port)).await? {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last = error,
        }
    }
    Err(last)
}

fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// A connection to a destination: plain TCP or TLS.
pub(crate) struct ClientIo {
    io: TokioIo<Stream>,
    h2: bool,
}

impl ClientIo {
    fn new(stream: Stream, h2: bool) -> Self {
        Self {
            io: TokioIo::new(stream),
            h2,
        }
    }
}

impl Connection for ClientIo {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl Read for ClientIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for ClientIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    // Vectored writes let hyper send the request head and the body (the
    // buffer read from the sender) in one `writev`, instead of copying the
    // body behind the head first.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    /// hyper only sends head and body with one `writev`, without copying the
    /// body, when the connection says it takes vectored writes.
    #[tokio::test]
    async fn upstream_connections_take_vectored_writes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let io = ClientIo {
            io: TokioIo::new(Stream::Plain(stream)),
            h2: false,
        };
        assert!(Write::is_write_vectored(&io));
    }
}
