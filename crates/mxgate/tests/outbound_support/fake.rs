//! Fake federation servers (plain HTTP or TLS from a test CA) that record
//! what reaches them and count accepted connections.

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, Response, Version, body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use mxgate::tls::{self, CertKeyPaths};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
};
use tokio_rustls::TlsAcceptor;

/// What a fake server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    /// The HTTP/2 `:authority`, else the `Host` header.
    pub authority: Option<String>,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub sni: Option<String>,
}

/// A fake federation server (TLS or plain) that records requests, counts
/// accepted connections and answers `200 {"via": NAME}` after `delay`;
/// `/_matrix/key/v2/server` is answered with `key_body` when set.
pub struct FakeServer {
    pub addr: SocketAddr,
    name: &'static str,
    delay: Duration,
    key_body: Option<Vec<u8>>,
    seen: Mutex<Vec<Seen>>,
    connections: AtomicUsize,
}

impl FakeServer {
    pub async fn start(
        name: &'static str,
        tls: Option<&CertKeyPaths>,
        delay: Duration,
        key_body: Option<Vec<u8>>,
    ) -> Arc<Self> {
        let acceptor = tls.map(|pair| {
            TlsAcceptor::from(Arc::new(
                tls::server_config(std::slice::from_ref(pair)).unwrap(),
            ))
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            name,
            delay,
            key_body,
            seen: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
        });
        let weak = Arc::downgrade(&server);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Some(server) = weak.upgrade() else { return };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    server.connections.fetch_add(1, Ordering::SeqCst);
                    let Some(acceptor) = acceptor else {
                        return server.serve(tcp, None).await;
                    };
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let sni = stream.get_ref().1.server_name().map(str::to_owned);
                    server.serve(stream, sni).await;
                });
            }
        });
        server
    }

    async fn serve<I>(self: Arc<Self>, io: I, sni: Option<String>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = service_fn(move |request| self.clone().answer(request, sni.clone()));
        let _ = auto::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(io), service)
            .await;
    }

    async fn answer(
        self: Arc<Self>,
        request: Request<Incoming>,
        sni: Option<String>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        let is_key = parts.uri.path() == "/_matrix/key/v2/server";
        self.seen.lock().unwrap().push(Seen {
            method: parts.method.to_string(),
            target: parts.uri.path_and_query().unwrap().to_string(),
            authority: parts
                .uri
                .authority()
                .map(ToString::to_string)
                .or_else(|| Some(parts.headers.get("host")?.to_str().ok()?.to_owned())),
            version: parts.version,
            headers: parts.headers,
            body,
            sni,
        });
        tokio::time::sleep(self.delay).await;
        let body = match (&self.key_body, is_key) {
            (Some(key_body), true) => key_body.clone(),
            _ => format!("{{\"via\":\"{}\"}}", self.name).into_bytes(),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        response
            .headers_mut()
            .insert("x-fake", self.name.parse().unwrap());
        Ok(response)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests other than key fetches.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| !s.target.starts_with("/_matrix/key/"))
            .collect()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A test certificate authority.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
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

    /// Writes the CA certificate to `dir/<file>`.
    pub fn write_root(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, self.issuer.pem()).unwrap();
        path
    }

    /// Writes a leaf certificate for `name` (chain) and its key into `dir`.
    pub fn leaf(&self, dir: &Path, name: &str) -> CertKeyPaths {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let paths = CertKeyPaths {
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&paths.cert, cert.pem() + &self.issuer.pem()).unwrap();
        std::fs::write(&paths.key, key.serialize_pem()).unwrap();
        paths
    }
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir =
        std::env::temp_dir().join(format!("mxgate-outbound-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
