//! A layer-4 TCP balancer on loopback, in the spirit of HAProxy `mode tcp`
//! with `balance roundrobin`, `retries` and `option redispatch`: each client
//! connection goes to the next backend in turn; when connecting to a backend
//! fails, the next one is tried. Bytes are copied both ways, untouched.
//!
//! Each backend is reached from its own loopback source address, so the
//! upstream homeserver can tell from `X-Forwarded-For` (the peer address
//! mxgate saw) which instance forwarded a request.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpSocket, TcpStream},
    task::JoinHandle,
};

/// How long a backend may take to accept a connection (HAProxy's `timeout connect`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// One backend: a gateway instance and the source address used to reach it.
#[derive(Clone, Copy, Debug)]
pub struct Backend {
    /// The instance's inbound listener.
    pub addr: SocketAddr,
    /// The loopback address the balancer connects from.
    pub source: IpAddr,
}

/// What the balancer did, since the last [`Balancer::take_counts`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Client connections passed to each backend.
    pub connections: Vec<u64>,
    /// Backend connection attempts that failed and moved to the next backend.
    pub redispatched: u64,
    /// Client connections closed because no backend accepted.
    pub dropped: u64,
}

/// A running balancer; stops accepting when dropped.
pub struct Balancer {
    /// Where clients connect.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: JoinHandle<()>,
}

impl Balancer {
    /// Listens on `127.0.0.1:0` and balances over `backends`.
    pub async fn start(backends: Vec<Backend>) -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            connections: backends.iter().map(|_| AtomicU64::new(0)).collect(),
            backends,
            next: AtomicUsize::new(0),
            redispatched: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            routes: Mutex::new(HashMap::new()),
        });
        let acceptor = tokio::spawn(accept_loop(listener, shared.clone()));
        Balancer {
            addr,
            shared,
            acceptor,
        }
    }

    /// The backend index serving the client connection from local port `port`.
    pub fn route_of(&self, client_port: u16) -> Option<usize> {
        self.shared
            .routes
            .lock()
            .unwrap()
            .get(&client_port)
            .copied()
    }

    /// The counts so far, resetting them.
    pub fn take_counts(&self) -> Counts {
        let shared = &self.shared;
        Counts {
            connections: shared
                .connections
                .iter()
                .map(|count| count.swap(0, Ordering::Relaxed))
                .collect(),
            redispatched: shared.redispatched.swap(0, Ordering::Relaxed),
            dropped: shared.dropped.swap(0, Ordering::Relaxed),
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

struct Shared {
    backends: Vec<Backend>,
    next: AtomicUsize,
    connections: Vec<AtomicU64>,
    redispatched: AtomicU64,
    dropped: AtomicU64,
    /// Client port -> backend index, for the client's per-backend figures.
    routes: Mutex<HashMap<u16, usize>>,
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((client, peer)) = listener.accept().await {
        tokio::spawn(relay(client, peer, shared.clone()));
    }
}

/// Connects to the next backend (trying each once, in turn), then copies
/// bytes both ways until both sides are done.
async fn relay(mut client: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let count = shared.backends.len();
    let first = shared.next.fetch_add(1, Ordering::Relaxed);
    for index in (first..first + count).map(|i| i % count) {
        let Ok(mut server) = connect(shared.backends[index]).await else {
            shared.redispatched.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        shared.connections[index].fetch_add(1, Ordering::Relaxed);
        shared.routes.lock().unwrap().insert(peer.port(), index);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        return;
    }
    shared.dropped.fetch_add(1, Ordering::Relaxed);
}

async fn connect(backend: Backend) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(backend.source, 0))?;
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(backend.addr))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
