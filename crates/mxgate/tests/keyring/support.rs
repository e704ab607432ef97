//! Test support: a manual clock, a test CA (rcgen), and a fake key server
//! (HTTP/1.1 + HTTP/2, TLS or plain) that counts requests and connections.

use std::{
    collections::{BTreeMap, VecDeque},
    net::SocketAddr,
    path::{Path, PathBuf},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use hyper::{
    Request, Response, StatusCode, Version,
    body::{Body, Frame, Incoming, SizeHint},
    service::service_fn,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use mxgate::{
    client::{ClientOptions, Destination, HttpClient, TlsSettings},
    keyring::{Clock, KeySource, Keyring, KeyringSettings},
    tls::{self, CertKeyPaths},
};
use mxgate_core::{
    config::{HostPort, SpkiPin},
    ids::{KeyId, ServerName},
    keys::build_key_response,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, PublicKeyData};
use sha2::{Digest, Sha256};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
};
use tokio_rustls::TlsAcceptor;

/// 2023-11-14, an arbitrary fixed "now".
pub const T0: u64 = 1_700_000_000_000;
/// One day in ms.
pub const DAY: u64 = 86_400_000;
/// The fetched remote's server name.
pub const REMOTE: &str = "remote.test";

pub fn remote() -> ServerName {
    ServerName::parse(REMOTE).unwrap()
}

pub fn kid(version: &str) -> KeyId {
    KeyId::parse(&format!("ed25519:{version}")).unwrap()
}

pub fn signing(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// A clock the test moves by hand.
pub struct TestClock(pub AtomicU64);

impl TestClock {
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A key server, its CA, a state directory and a clock.
pub struct Env {
    pub server: Arc<FakeKeyServer>,
    pub dir: PathBuf,
    pub ca_file: PathBuf,
    pub leaf_pin: SpkiPin,
    pub state: PathBuf,
    pub clock: Arc<TestClock>,
}

impl Env {
    pub async fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("mxgate-keyring-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = TestCa::new("test ca");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.issuer.pem()).unwrap();
        let (pair, leaf_pin) = ca.leaf(&dir, REMOTE);
        let server = FakeKeyServer::start(Some(&pair)).await;
        Self {
            server,
            dir: dir.clone(),
            ca_file,
            leaf_pin,
            state: dir.join("state"),
            clock: Arc::new(TestClock(AtomicU64::new(T0))),
        }
    }

    pub fn response(&self, version: &str, seed: u8, valid_until_ts: u64) -> Vec<u8> {
        build_key_response(&remote(), &kid(version), &signing(seed), valid_until_ts)
    }

    pub fn keyring(&self) -> Keyring {
        self.keyring_with(&self.ca_file, Some(&self.state), Vec::new())
    }

    pub fn keyring_with(&self, ca: &Path, state: Option<&Path>, pins: Vec<SpkiPin>) -> Keyring {
        let settings = KeyringSettings {
            fetch_timeout: Duration::from_secs(5),
            ..KeyringSettings::default()
        };
        self.build(ca, state, pins, settings)
    }

    /// A keyring (no persistence) with these settings.
    pub fn keyring_with_settings(&self, settings: KeyringSettings) -> Keyring {
        self.build(&self.ca_file, None, Vec::new(), settings)
    }

    fn build(
        &self,
        ca: &Path,
        state: Option<&Path>,
        pins: Vec<SpkiPin>,
        settings: KeyringSettings,
    ) -> Keyring {
        let tls = TlsSettings {
            ca_files: vec![ca.to_path_buf()],
            spki_pins: pins,
        };
        let address = HostPort {
            host: "127.0.0.1".into(),
            port: self.server.addr.port(),
        };
        let dest = Destination::remote(remote(), Some(&address), &tls).unwrap();
        let client = HttpClient::new(vec![dest], ClientOptions::default()).unwrap();
        let pinned = BTreeMap::from([(kid("p"), signing(7).verifying_key())]);
        let servers = [
            (remote(), KeySource::Fetch),
            (
                ServerName::parse("pinned.test").unwrap(),
                KeySource::Pinned(pinned),
            ),
        ];
        Keyring::new(servers, client, state, self.clock.clone(), settings)
    }
}

pub struct TestCa {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    /// Writes a leaf certificate for `name` and its key; returns the paths
    /// and the leaf's SPKI pin.
    pub fn leaf(&self, dir: &Path, name: &str) -> (CertKeyPaths, SpkiPin) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let paths = CertKeyPaths {
            cert: dir.join("leaf.pem"),
            key: dir.join("leaf.key"),
        };
        std::fs::write(&paths.cert, cert.pem() + &self.issuer.pem()).unwrap();
        std::fs::write(&paths.key, key.serialize_pem()).unwrap();
        let pin = SpkiPin(Sha256::digest(key.subject_public_key_info()).into());
        (paths, pin)
    }
}

/// A TLS key server (HTTP/1.1 + HTTP/2) answering every request the same way.
pub struct FakeKeyServer {
    pub addr: SocketAddr,
    body: Mutex<Result<Vec<u8>, StatusCode>>,
    pub delay: Mutex<Duration>,
    pub chunked: Mutex<bool>,
    hits: AtomicUsize,
    connections: AtomicUsize,
    pub versions: Mutex<Vec<Version>>,
}

impl FakeKeyServer {
    /// Starts on 127.0.0.1; TLS with `pair`, else plain HTTP.
    pub async fn start(pair: Option<&CertKeyPaths>) -> Arc<Self> {
        let acceptor = pair.map(|pair| {
            let config = tls::server_config(std::slice::from_ref(pair)).unwrap();
            TlsAcceptor::from(Arc::new(config))
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            body: Mutex::new(Err(StatusCode::NOT_FOUND)),
            delay: Mutex::new(Duration::ZERO),
            chunked: Mutex::new(false),
            hits: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            versions: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&server);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Some(server) = weak.upgrade() else { return };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Some(acceptor) = acceptor else {
                        return server.serve_connection(tcp).await;
                    };
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        server.serve_connection(tls).await;
                    }
                });
            }
        });
        server
    }

    async fn serve_connection(
        self: Arc<Self>,
        io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    ) {
        self.connections.fetch_add(1, Ordering::SeqCst);
        let service = service_fn(|req| self.clone().answer(req));
        let _ = auto::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(io), service)
            .await;
    }

    pub fn serve(&self, body: Vec<u8>) {
        *self.body.lock().unwrap() = Ok(body);
    }

    pub fn fail(&self, status: StatusCode) {
        *self.body.lock().unwrap() = Err(status);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    async fn answer(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<TestBody>, std::convert::Infallible> {
        self.hits.fetch_add(1, Ordering::SeqCst);
        assert_eq!(req.uri().path(), "/_matrix/key/v2/server");
        self.versions.lock().unwrap().push(req.version());
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        let answer = self.body.lock().unwrap().clone();
        let chunked = *self.chunked.lock().unwrap();
        Ok(match answer {
            Ok(body) => Response::new(TestBody::new(body, chunked)),
            Err(status) => {
                let mut response = Response::new(TestBody::new(b"{}".to_vec(), false));
                *response.status_mut() = status;
                response
            }
        })
    }
}

/// A response body sent whole (known length) or in 8 KiB chunks of
/// unknown total length.
struct TestBody {
    chunks: VecDeque<Bytes>,
    len: Option<u64>,
}

impl TestBody {
    fn new(body: Vec<u8>, chunked: bool) -> Self {
        let len = (!chunked).then_some(body.len() as u64);
        let body = Bytes::from(body);
        let chunks = (0..body.len())
            .step_by(8192)
            .map(|start| body.slice(start..(start + 8192).min(body.len())))
            .collect();
        Self { chunks, len }
    }
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(
            self.get_mut()
                .chunks
                .pop_front()
                .map(|c| Ok(Frame::data(c))),
        )
    }

    fn size_hint(&self) -> SizeHint {
        self.len
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}
