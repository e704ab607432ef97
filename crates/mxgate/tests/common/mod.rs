//! Test harness: a fake homeserver that records what reaches it, a gateway
//! on `127.0.0.1:0`, signing keys, and raw HTTP/1.1 over TCP.
#![allow(dead_code)]

#[path = "../shared/raw_response.rs"]
mod raw_response;
pub use raw_response::{RawResponse, parse_response};

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, Response, body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use mxgate::{audit::Audit, client::ClientOptions, inbound::Gateway, metrics::Metrics, server};
use mxgate_core::{
    config::Config,
    ids::{KeyId, ServerName},
    json::{self, encode_base64},
    xmatrix::RequestToSign,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
};

/// Our fronted homeserver.
pub const HS: &str = "hs.test";
/// A second fronted homeserver.
pub const OTHER_HS: &str = "other.test";
/// The trusted remote, with a pinned key.
pub const REMOTE: &str = "remote.test";
/// Its key id.
pub const REMOTE_KEY: &str = "ed25519:r1";

/// What the fake homeserver received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A fake homeserver answering `200 {"ok":true}` after `delay`.
pub struct FakeHs {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeHs {
    pub async fn start(delay: Duration) -> FakeHs {
        Self::serving_keys(delay, None).await
    }

    /// Like `start`, answering `GET /_matrix/key/v2/server` with `keys`.
    pub async fn serving_keys(delay: Duration, keys: Option<Bytes>) -> FakeHs {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, delay, keys)
    }

    /// A fake homeserver on a given address (e.g. one that was down).
    pub async fn start_on(addr: SocketAddr) -> FakeHs {
        Self::serve(TcpListener::bind(addr).await.unwrap(), Duration::ZERO, None)
    }

    fn serve(listener: TcpListener, delay: Duration, keys: Option<Bytes>) -> FakeHs {
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, keys) = (log.clone(), keys.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (log, keys) = (log.clone(), keys.clone());
                        async move {
                            let is_key_request = request.uri().path() == "/_matrix/key/v2/server";
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            log.lock().unwrap().push(Seen {
                                method: parts.method.to_string(),
                                target: parts.uri.to_string(),
                                headers: parts.headers,
                                body,
                            });
                            tokio::time::sleep(delay).await;
                            let body = match keys {
                                Some(keys) if is_key_request => keys,
                                _ => Bytes::from_static(b"{\"ok\":true}"),
                            };
                            let mut response = Response::new(Full::new(body));
                            response
                                .headers_mut()
                                .insert("x-upstream", "fake".parse().unwrap());
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeHs { addr, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

/// An address where nothing listens.
pub async fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

pub fn remote_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

pub fn other_hs_key() -> SigningKey {
    SigningKey::from_bytes(&[5; 32])
}

/// A signed key response of `other.test` (key id `ed25519:r1`).
pub fn other_hs_key_response() -> Bytes {
    let server = ServerName::parse(OTHER_HS).unwrap();
    let key_id = KeyId::parse(REMOTE_KEY).unwrap();
    let valid_until = mxgate::audit::now_ms() + 86_400_000;
    Bytes::from(mxgate_core::keys::build_key_response(
        &server,
        &key_id,
        &other_hs_key(),
        valid_until,
    ))
}

pub fn untrusted_key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

/// A new empty directory for a gateway's state.
pub fn fresh_state_dir() -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("mxgate-inbound-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

/// Extra settings for a test gateway.
pub struct Setup {
    pub mode: &'static str,
    pub upstream: SocketAddr,
    pub other_upstream: SocketAddr,
    pub extra_inbound: &'static str,
    pub extra_gateway: &'static str,
    pub response_timeout: Duration,
    pub state_dir: String,
}

impl Setup {
    pub fn new(upstream: SocketAddr, other_upstream: SocketAddr) -> Setup {
        Setup {
            mode: "enforce",
            upstream,
            other_upstream,
            extra_inbound: "",
            extra_gateway: "",
            response_timeout: Duration::from_secs(5),
            state_dir: fresh_state_dir(),
        }
    }

    pub fn config_text(&self) -> String {
        let public = encode_base64(remote_key().verifying_key().as_bytes());
        format!(
            r#"
[gateway]
mode = "{mode}"
state_dir = "{state_dir}"
{extra_gateway}

[inbound]
listen = "127.0.0.1:0"
{timeout}
{extra}

[[homeserver]]
server_name = "{HS}"
upstream = "http://{up}"

[[homeserver]]
server_name = "{OTHER_HS}"
upstream = "http://{other}"

[[remote]]
server_name = "{REMOTE}"
tier = "external"
address = "127.0.0.1:1"
keys = {{ "{REMOTE_KEY}" = "{public}" }}
"#,
            mode = self.mode,
            timeout = if self.extra_inbound.contains("request_timeout_secs") {
                ""
            } else {
                "request_timeout_secs = 2"
            },
            state_dir = self.state_dir,
            extra = self.extra_inbound,
            extra_gateway = self.extra_gateway,
            up = self.upstream,
            other = self.other_upstream,
        )
    }
}

/// A running gateway; stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    stop: Option<oneshot::Sender<()>>,
}

impl Running {
    /// Signals shutdown (stop accepting, drain).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

pub async fn start_gateway(setup: &Setup) -> Running {
    let config = Config::from_toml_str(&setup.config_text(), Path::new("/tmp")).unwrap();
    let options = ClientOptions {
        connect_timeout: Duration::from_secs(2),
        response_timeout: setup.response_timeout,
        ..ClientOptions::default()
    };
    let (audit, _task) = Audit::start(config.gateway.audit_log.clone())
        .await
        .unwrap();
    let gateway =
        Arc::new(Gateway::new(config, options, Arc::new(Metrics::new()), Arc::new(audit)).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server::run(listener, gateway.clone(), async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        gateway,
        stop: Some(stop),
    }
}

/// The X-Matrix header value for a request.
pub fn x_matrix(
    key: &SigningKey,
    origin: &str,
    destination: &str,
    method: &str,
    uri: &str,
    body: Option<&[u8]>,
) -> String {
    let content = body.map(|b| json::parse_strict(b).unwrap());
    let origin = ServerName::parse(origin).unwrap();
    let destination = ServerName::parse(destination).unwrap();
    let request = RequestToSign {
        method,
        uri,
        origin: &origin,
        destination: &destination,
        content: content.as_ref(),
    };
    request
        .sign(&KeyId::parse(REMOTE_KEY).unwrap(), key)
        .to_header_value()
}

/// A raw HTTP/1.1 request signed by the trusted remote for `hs.test`.
pub fn signed(method: &str, target: &str, body: Option<&str>) -> Vec<u8> {
    let auth = x_matrix(
        &remote_key(),
        REMOTE,
        HS,
        method,
        target,
        body.map(str::as_bytes),
    );
    raw_request(method, target, &[("Authorization", &auth)], body)
}

/// A raw HTTP/1.1 request with `Host: hs.test`, `Connection: close`,
/// Content-Length when there is a body, and `headers`.
pub fn raw_request(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Vec<u8> {
    let mut text = format!("{method} {target} HTTP/1.1\r\nHost: {HS}\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        text.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    text.push_str("\r\n");
    text.push_str(body.unwrap_or(""));
    text.into_bytes()
}

/// Writes `request` on a fresh connection and reads until the server closes.
pub async fn send_raw(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes));
    read.await.expect("response within 10 s").unwrap_or(0);
    parse_response(&bytes)
}
