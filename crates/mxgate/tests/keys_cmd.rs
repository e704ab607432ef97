//! `mxgate keys fetch` / `keys show` against an in-process TLS key server
//! (certificates from a test CA made with rcgen), through the library and
//! through the built binary.

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
};

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use http_body_util::Full;
use hyper::{Response, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use mxgate::{
    keyring::{Clock, SystemClock},
    keys_cmd::{self, FetchTarget},
    tls::{self, CertKeyPaths},
};
use mxgate_core::{
    config::{Config, HostPort},
    ids::{KeyId, ServerName},
    json::encode_base64,
    keys::build_key_response,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const DAY_MS: u64 = 86_400_000;

/// A test CA writing its certificate to `dir/ca.pem`.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem: PathBuf,
}

impl TestCa {
    fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pem = dir.join(format!("{name}.pem"));
        std::fs::write(&pem, issuer.pem()).unwrap();
        Self { issuer, pem }
    }

    fn leaf(&self, dir: &Path, name: &str) -> CertKeyPaths {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        let paths = CertKeyPaths {
            cert: dir.join("leaf.pem"),
            key: dir.join("leaf.key"),
        };
        std::fs::write(&paths.cert, cert.pem()).unwrap();
        std::fs::write(&paths.key, key.serialize_pem()).unwrap();
        paths
    }
}

/// A TLS server answering every request with `body`.
async fn key_server(pair: &CertKeyPaths, body: Vec<u8>) -> SocketAddr {
    let acceptor = TlsAcceptor::from(Arc::new(
        tls::server_config(std::slice::from_ref(pair)).unwrap(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Bytes::from(body);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |_req| {
                    let body = body.clone();
                    async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

struct Fixture {
    _dir: tempdir::Dir,
    dir: PathBuf,
    ca: TestCa,
    addr: SocketAddr,
    server: ServerName,
    key: SigningKey,
    valid_until: u64,
}

/// A key server for `localhost:PORT` publishing `ed25519:k1`, built by `body`.
async fn fixture(body: impl FnOnce(&ServerName, &SigningKey, u64) -> Vec<u8>) -> Fixture {
    let tmp = tempdir::Dir::new();
    let dir = tmp.path().to_owned();
    let ca = TestCa::new(&dir, "ca");
    let pair = ca.leaf(&dir, "localhost");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let server = ServerName::parse(&format!("localhost:{port}")).unwrap();
    let key = SigningKey::from_bytes(&[7; 32]);
    let valid_until = SystemClock.now_ms() + 3 * DAY_MS;
    let addr = key_server(&pair, body(&server, &key, valid_until)).await;
    Fixture {
        _dir: tmp,
        dir,
        ca,
        addr,
        server,
        key,
        valid_until,
    }
}

fn valid(server: &ServerName, key: &SigningKey, until: u64) -> Vec<u8> {
    build_key_response(server, &KeyId::parse("ed25519:k1").unwrap(), key, until)
}

impl Fixture {
    fn target(&self, ca: Option<&Path>) -> FetchTarget {
        let address = HostPort {
            host: "127.0.0.1".to_owned(),
            port: self.addr.port(),
        };
        FetchTarget::new(
            self.server.clone(),
            Some(address),
            ca.map(Path::to_owned),
            None,
        )
    }
}

#[tokio::test]
async fn fetched_block_pastes_into_a_valid_config_with_the_served_key() {
    let f = fixture(valid).await;
    let target = f.target(Some(&f.ca.pem));
    let keys = keys_cmd::fetch(&target).await.expect("fetch");
    let block = keys_cmd::remote_block(&keys, &target, "external", SystemClock.now_ms());
    let public = encode_base64(f.key.verifying_key().as_bytes());
    assert!(
        block.contains(&format!("keys = {{ \"ed25519:k1\" = \"{public}\" }}")),
        "{block}"
    );
    let fingerprint = keys_cmd::fingerprint(&f.key.verifying_key());
    assert!(
        block.contains(&format!("# ed25519:k1: sha256 fingerprint {fingerprint}")),
        "{block}"
    );
    let until = mxgate::status::time::format_utc(f.valid_until);
    assert!(block.contains(&format!("valid until {until}")), "{block}");
    let text = format!(
        "[gateway]\nstate_dir = \"state\"\n[inbound]\nlisten = \"127.0.0.1:0\"\n\
         [[homeserver]]\nserver_name = \"hs.test\"\nupstream = \"http://127.0.0.1:1\"\n{block}"
    );
    let config = Config::from_toml_str(&text, &f.dir).unwrap_or_else(|p| panic!("{p:?}\n{text}"));
    let remote = config.remote(f.server.as_str()).expect("remote");
    assert_eq!(remote.tier, "external");
    assert_eq!(
        remote.address.as_ref().map(ToString::to_string),
        Some(format!("127.0.0.1:{}", f.addr.port()))
    );
    assert_eq!(remote.ca.as_deref(), Some(f.ca.pem.as_path()));
    assert_eq!(remote.keys.values().next(), Some(&f.key.verifying_key()));
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    let f = fixture(valid).await;
    let other = TestCa::new(&f.dir, "other");
    let error = keys_cmd::fetch(&f.target(Some(&other.pem)))
        .await
        .expect_err("untrusted CA");
    assert_eq!(error.reason(), "tls_handshake", "{error}");
}

#[tokio::test]
async fn document_for_another_server_is_refused() {
    let f = fixture(|_, key, until| valid(&ServerName::parse("evil.example").unwrap(), key, until))
        .await;
    let error = keys_cmd::fetch(&f.target(Some(&f.ca.pem)))
        .await
        .expect_err("wrong server");
    assert_eq!(error.reason(), "key_response_invalid", "{error}");
}

#[tokio::test]
async fn expired_document_is_refused() {
    let f = fixture(|server, key, _| valid(server, key, 1_000)).await;
    let error = keys_cmd::fetch(&f.target(Some(&f.ca.pem)))
        .await
        .expect_err("expired");
    assert_eq!(error.reason(), "key_response_invalid", "{error}");
}

#[tokio::test]
async fn tampered_signature_is_refused() {
    let f = fixture(|server, key, until| {
        let text = String::from_utf8(valid(server, key, until)).unwrap();
        text.replacen("\"valid_until_ts\":", "\"valid_until_ts\":1", 1)
            .into_bytes()
    })
    .await;
    let error = keys_cmd::fetch(&f.target(Some(&f.ca.pem)))
        .await
        .expect_err("tampered");
    assert_eq!(error.reason(), "key_response_invalid", "{error}");
}

#[test]
fn target_defaults_come_from_the_remote_in_the_config() {
    let text = "[gateway]\nstate_dir = \"state\"\n[inbound]\nlisten = \"127.0.0.1:0\"\n\
        [[homeserver]]\nserver_name = \"hs.test\"\nupstream = \"http://127.0.0.1:1\"\n\
        [[remote]]\nserver_name = \"partner.example\"\ntier = \"external\"\n\
        address = \"192.0.2.1:8448\"\nca = \"partner.pem\"\n";
    let config = Config::from_toml_str(text, Path::new("/etc/mxgate")).unwrap();
    let server = ServerName::parse("partner.example").unwrap();
    let target = FetchTarget::new(server.clone(), None, None, Some(&config));
    assert_eq!(target.effective_address().to_string(), "192.0.2.1:8448");
    assert_eq!(
        target.ca.as_deref(),
        Some(Path::new("/etc/mxgate/partner.pem"))
    );
    let overridden = FetchTarget::new(
        server,
        Some(HostPort::parse("x.example:1").unwrap()),
        None,
        Some(&config),
    );
    assert_eq!(overridden.effective_address().to_string(), "x.example:1");
    let bare = FetchTarget::new(
        ServerName::parse("other.example").unwrap(),
        None,
        None,
        None,
    );
    assert_eq!(bare.effective_address().to_string(), "other.example:8448");
}

#[test]
fn show_lists_pinned_cached_expired_unreadable_and_missing_keys() {
    let tmp = tempdir::Dir::new();
    let dir = tmp.path();
    let keys_dir = dir.join("state/keys");
    std::fs::create_dir_all(&keys_dir).unwrap();
    let now = SystemClock.now_ms();
    let key = SigningKey::from_bytes(&[3; 32]);
    let store = |name: &str, file: &str, until: u64| {
        let server = ServerName::parse(name).unwrap();
        let response = String::from_utf8(valid(&server, &key, until)).unwrap();
        let stored = serde_json::json!({"server_name": name, "fetched_at": now - DAY_MS, "response": response});
        std::fs::write(keys_dir.join(file), stored.to_string()).unwrap();
    };
    store("fresh.example", "fresh.example.json", now + 2 * DAY_MS);
    store("old.example", "old.example.json", now - 1000);
    std::fs::write(keys_dir.join("broken.example.json"), "{not json").unwrap();
    let pinned = encode_base64(key.verifying_key().as_bytes());
    let text = format!(
        "[gateway]\nstate_dir = \"state\"\n[inbound]\nlisten = \"127.0.0.1:0\"\n\
         [[homeserver]]\nserver_name = \"hs.test\"\nupstream = \"http://127.0.0.1:1\"\n\
         [[remote]]\nserver_name = \"fresh.example\"\ntier = \"external\"\naddress = \"127.0.0.1:2\"\n\
         [[remote]]\nserver_name = \"old.example\"\ntier = \"external\"\naddress = \"127.0.0.1:3\"\n\
         [[remote]]\nserver_name = \"pinned.example\"\ntier = \"external\"\naddress = \"127.0.0.1:4\"\n\
         keys = {{ \"ed25519:p\" = \"{pinned}\" }}\n"
    );
    let config = Config::from_toml_str(&text, dir).unwrap();
    let rows = keys_cmd::show(&config, now);
    let state = |server: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r.server.contains(server))
            .map(|r| r.state.clone())
            .collect()
    };
    assert_eq!(state("hs.test"), ["not cached"]);
    assert!(
        state("fresh.example")[0].starts_with("cached, valid until "),
        "{rows:?}"
    );
    assert!(
        state("old.example")[0].starts_with("expired since "),
        "{rows:?}"
    );
    assert_eq!(state("pinned.example"), ["pinned"]);
    let broken = state("broken.example");
    assert!(
        broken[0].starts_with("unreadable: ") && broken[0].ends_with("(server not in config)"),
        "{rows:?}"
    );
    let fingerprint = keys_cmd::fingerprint(&key.verifying_key());
    assert!(
        rows.iter()
            .filter(|r| r.key_id != "-")
            .all(|r| r.fingerprint == fingerprint)
    );
    let table = keys_cmd::show_table(&rows);
    assert!(table.starts_with("SERVER"), "{table}");
    assert_eq!(table.lines().count(), rows.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_the_block_and_fails_cleanly() {
    let f = fixture(valid).await;
    let mxgate = env!("CARGO_BIN_EXE_mxgate");
    let (server, port, ca) = (f.server.to_string(), f.addr.port(), f.ca.pem.clone());
    let other = TestCa::new(&f.dir, "other").pem;
    let (ok, bad) = tokio::task::spawn_blocking(move || {
        let run = |ca: &Path| {
            Command::new(mxgate)
                .args([
                    "keys",
                    "fetch",
                    &server,
                    "--address",
                    &format!("127.0.0.1:{port}"),
                ])
                .arg("--ca")
                .arg(ca)
                .output()
                .unwrap()
        };
        (run(&ca), run(&other))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains("[[remote]]")
            && stdout.contains(&encode_base64(f.key.verifying_key().as_bytes())),
        "{stdout}"
    );
    assert!(!bad.status.success());
    assert!(bad.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("tls_handshake"),
        "{bad:?}"
    );
}

#[test]
fn every_command_has_help_with_examples() {
    let mxgate = env!("CARGO_BIN_EXE_mxgate");
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["check-config", "--help"],
        &["keys", "fetch", "--help"],
        &["keys", "show", "--help"],
        &["status", "--help"],
    ] {
        let out = Command::new(mxgate).args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        assert!(text.contains("Examples:\n  mxgate "), "{args:?}: {text}");
    }
}

/// A temporary directory removed on drop (no extra dependency).
mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Self {
            static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let dir =
                std::env::temp_dir().join(format!("mxgate-keys-cmd-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
