//! `discovery = "well-known"` through the pooled client, on loopback only:
//! the remote is named `localhost` (resolved by /etc/hosts to 127.0.0.1),
//! its well-known endpoint listens on a test port (the hidden
//! `well_known_port` option) and delegates to fake federation servers on
//! `localhost:<port>`. Time is a manual clock.

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use mxgate::{
    client::{
        ClientError, ClientOptions, Destination, HttpClient, TlsSettings,
        discovery::DiscoveryOptions, empty_body,
    },
    keyring::Clock,
    metrics::Metrics,
    tls::{self, CertKeyPaths},
};
use mxgate_core::ids::ServerName;
use tokio::net::TcpListener;

const PATH: &str = "/_matrix/federation/v1/version";

#[tokio::test]
async fn delegation_is_used_cached_and_followed_after_its_ttl() {
    let env = Env::new("ttl").await;
    env.well_known
        .answer(200, Some("max-age=600"), &delegate(&env.x));
    for _ in 0..3 {
        assert_eq!(env.get().await.unwrap(), "x");
    }
    assert_eq!(env.well_known.hits().len(), 1, "one well-known fetch");
    let hits = env.x.hits();
    assert_eq!(hits.len(), 3);
    let host = format!("localhost:{}", env.x.addr.port());
    assert!(hits.iter().all(|h| h.host == host && h.path == PATH));
    assert!(hits.iter().all(|h| h.sni.as_deref() == Some("localhost")));
    env.well_known
        .answer(200, Some("max-age=600"), &delegate(&env.y));
    env.clock.advance(Duration::from_secs(599));
    assert_eq!(env.get().await.unwrap(), "x", "still cached");
    assert_eq!(env.well_known.hits().len(), 1);
    let before = mxgate::client::discovery::changes_counter().get();
    env.clock.advance(Duration::from_secs(2));
    assert_eq!(env.get().await.unwrap(), "y", "change followed");
    assert_eq!(env.get().await.unwrap(), "y");
    assert_eq!(env.well_known.hits().len(), 2);
    let events = env.client.discovery_events();
    assert_eq!(events.changes.load(Ordering::SeqCst), 1);
    assert_eq!(events.fetch_ok.load(Ordering::SeqCst), 2);
    assert!(mxgate::client::discovery::changes_counter().get() > before);
    let text = Metrics::new().encode();
    assert!(text.contains("mxgate_discovery_changes_total"), "{text}");
}

#[tokio::test]
async fn cache_time_is_clamped_between_5_minutes_and_24_hours() {
    let env = Env::new("clamp").await;
    let cases = [
        (Some("max-age=1"), 300),
        (Some("public, max-age=999999999"), 24 * 3600),
        (None, 3600),
    ];
    for (cache_control, ttl) in cases {
        env.well_known.answer(200, cache_control, &delegate(&env.x));
        let before = env.well_known.hits().len();
        env.clock.advance(Duration::from_secs(24 * 3600 + 1));
        env.get().await.unwrap();
        let fetched = env.well_known.hits().len();
        assert_eq!(fetched, before + 1, "{cache_control:?}");
        env.clock.advance(Duration::from_secs(ttl - 1));
        env.get().await.unwrap();
        assert_eq!(env.well_known.hits().len(), fetched, "{cache_control:?}");
        env.clock.advance(Duration::from_secs(2));
        env.get().await.unwrap();
        assert_eq!(
            env.well_known.hits().len(),
            fetched + 1,
            "{cache_control:?}"
        );
    }
}

#[tokio::test]
async fn failed_well_known_fails_closed_with_backoff() {
    let env = Env::new("fail").await;
    let failures = [
        (404, None, "{}".to_owned(), "discovery_status"),
        (302, None, delegate(&env.x), "discovery_redirect"),
        (
            200,
            None,
            "{\"m.server\":\"no/good\"}".to_owned(),
            "discovery_invalid",
        ),
        (200, None, "x".repeat(20_000), "discovery_too_large"),
    ];
    for (status, cache_control, body, reason) in failures {
        env.well_known.answer(status, cache_control, &body);
        env.clock.advance(Duration::from_secs(3600));
        let error = env.get().await.unwrap_err();
        assert_eq!(error.reason(), reason, "{error}");
        assert!(
            error
                .to_string()
                .contains("well-known discovery for localhost")
        );
    }
    let fetched = env.well_known.hits().len();
    let error = env.get().await.unwrap_err();
    assert_eq!(error.reason(), "discovery_backoff", "{error}");
    assert_eq!(env.well_known.hits().len(), fetched, "no fetch in backoff");
    assert!(env.x.hits().is_empty(), "nothing sent to a guessed address");
    env.well_known.answer(200, None, &delegate(&env.x));
    env.clock.advance(Duration::from_secs(601));
    assert_eq!(env.get().await.unwrap(), "x", "recovers after the backoff");
}

#[tokio::test]
async fn unreachable_or_untrusted_well_known_fails_closed() {
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let env = Env::new("unreachable").await;
    let client = env.client_with(dead_port, &env.ca);
    let error = get(&client).await.unwrap_err();
    assert_eq!(error.reason(), "discovery_connect", "{error}");
    let other_ca = self_signed(&env.dir, "other");
    env.well_known.answer(200, None, &delegate(&env.x));
    let client = env.client_with(env.well_known.addr.port(), &other_ca.cert);
    let error = get(&client).await.unwrap_err();
    assert_eq!(error.reason(), "discovery_tls", "{error}");
    assert!(env.well_known.hits().is_empty() && env.x.hits().is_empty());
}

#[tokio::test]
async fn explicit_port_is_used_without_well_known() {
    let env = Env::new("explicit").await;
    let server = ServerName::parse(&format!("localhost:{}", env.x.addr.port())).unwrap();
    let destination =
        Destination::well_known(server.clone(), &env.tls(&env.ca), env.options(1)).unwrap();
    let client = HttpClient::new(vec![destination], ClientOptions::default()).unwrap();
    let uri = client.uri_for(&server, PATH).unwrap();
    let response = client
        .request(Request::get(uri).body(empty_body()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(env.x.hits().len(), 1);
    assert!(env.well_known.hits().is_empty());
}

/// A client to `localhost` by well-known, its fakes and its clock.
struct Env {
    dir: PathBuf,
    ca: PathBuf,
    clock: Arc<ManualClock>,
    well_known: Fake,
    x: Fake,
    y: Fake,
    client: HttpClient,
}

impl Env {
    async fn new(tag: &str) -> Env {
        let dir =
            std::env::temp_dir().join(format!("mxgate-discovery-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pair = self_signed(&dir, "localhost");
        let clock = Arc::new(ManualClock(AtomicU64::new(1_700_000_000_000)));
        let (well_known, x, y) = (
            Fake::start(&pair, "").await,
            Fake::start(&pair, "x").await,
            Fake::start(&pair, "y").await,
        );
        let mut env = Env {
            ca: pair.cert.clone(),
            dir,
            clock,
            well_known,
            x,
            y,
            client: HttpClient::new(Vec::new(), ClientOptions::default()).unwrap(),
        };
        env.client = env.client_with(env.well_known.addr.port(), &env.ca);
        env
    }

    fn tls(&self, ca: &Path) -> TlsSettings {
        TlsSettings {
            ca_files: vec![ca.to_path_buf()],
            spki_pins: Vec::new(),
        }
    }

    fn options(&self, port: u16) -> DiscoveryOptions {
        DiscoveryOptions {
            clock: self.clock.clone(),
            well_known_port: port,
            ..DiscoveryOptions::default()
        }
    }

    fn client_with(&self, port: u16, ca: &Path) -> HttpClient {
        let server = ServerName::parse("localhost").unwrap();
        let destination = Destination::well_known(server, &self.tls(ca), self.options(port));
        HttpClient::new(vec![destination.unwrap()], ClientOptions::default()).unwrap()
    }

    async fn get(&self) -> Result<String, ClientError> {
        get(&self.client).await
    }
}

async fn get(client: &HttpClient) -> Result<String, ClientError> {
    let server = ServerName::parse("localhost").unwrap();
    let uri = client.uri_for(&server, PATH)?;
    let response = client
        .request(Request::get(uri).body(empty_body()).unwrap())
        .await?;
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok(String::from_utf8(body.to_vec()).unwrap())
}

fn delegate(fake: &Fake) -> String {
    format!("{{\"m.server\":\"localhost:{}\"}}", fake.addr.port())
}

/// A clock the test moves.
struct ManualClock(AtomicU64);

impl ManualClock {
    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// What a fake saw of one request.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    host: String,
    sni: Option<String>,
}

/// The programmed answer of a fake.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    cache_control: Option<String>,
    body: String,
}

/// A TLS server on 127.0.0.1 (certificate for `localhost`) recording requests.
struct Fake {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    answer: Arc<Mutex<Answer>>,
}

impl Fake {
    async fn start(pair: &CertKeyPaths, body: &str) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(
            tls::server_config(std::slice::from_ref(pair)).unwrap(),
        ));
        let fake = Fake {
            addr: listener.local_addr().unwrap(),
            hits: Arc::default(),
            answer: Arc::new(Mutex::new(Answer {
                status: 200,
                cache_control: None,
                body: body.to_owned(),
            })),
        };
        let (hits, answer) = (fake.hits.clone(), fake.answer.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    continue;
                };
                let sni = stream.get_ref().1.server_name().map(str::to_owned);
                let (hits, answer) = (hits.clone(), answer.clone());
                let service = service_fn(move |request: Request<Incoming>| {
                    let host = request
                        .headers()
                        .get("host")
                        .map(|h| h.to_str().unwrap().to_owned())
                        .or_else(|| request.uri().authority().map(|a| a.to_string()))
                        .unwrap_or_default();
                    hits.lock().unwrap().push(Hit {
                        path: request.uri().path().to_owned(),
                        host,
                        sni: sni.clone(),
                    });
                    let answer = answer.lock().unwrap().clone();
                    let mut response = Response::builder()
                        .status(answer.status)
                        .header("location", "https://localhost/elsewhere");
                    if let Some(value) = answer.cache_control {
                        response = response.header("cache-control", value);
                    }
                    let response = response.body(Full::new(Bytes::from(answer.body)));
                    async move { Ok::<_, Infallible>(response.unwrap()) }
                });
                tokio::spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        fake
    }

    fn answer(&self, status: u16, cache_control: Option<&str>, body: &str) {
        *self.answer.lock().unwrap() = Answer {
            status,
            cache_control: cache_control.map(str::to_owned),
            body: body.to_owned(),
        };
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1 (its own root).
fn self_signed(dir: &Path, tag: &str) -> CertKeyPaths {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let paths = CertKeyPaths {
        cert: dir.join(format!("{tag}.crt")),
        key: dir.join(format!("{tag}.key")),
    };
    std::fs::write(&paths.cert, cert.cert.pem()).unwrap();
    std::fs::write(&paths.key, cert.signing_key.serialize_pem()).unwrap();
    paths
}
