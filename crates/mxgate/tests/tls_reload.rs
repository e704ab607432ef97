//! `SIGHUP` reloads the inbound TLS certificates: `serve()` runs in this
//! test process (its own test binary, so the signal reaches no other test),
//! the certificate files are rewritten and the process signals itself.

mod common;

use std::{path::Path, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::Empty;
use hyper::{Request, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use mxgate::server;
use rcgen::CertifiedKey;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;

use common::*;

#[tokio::test]
async fn sighup_serves_new_certificates_to_new_connections_only() {
    let (a, b) = (cert(), cert());
    let upstream = FakeHs::start(Duration::ZERO).await;
    let other = FakeHs::start(Duration::ZERO).await;
    let dir = fresh_state_dir();
    let (cert_path, key_path) = (
        Path::new(&dir).join("hs.crt"),
        Path::new(&dir).join("hs.key"),
    );
    write_pair(&a, &cert_path, &key_path);
    let tls = format!(
        "[[inbound.tls]]\ncert = \"{}\"\nkey = \"{}\"",
        cert_path.display(),
        key_path.display()
    );
    let mut setup = Setup::new(upstream.addr, other.addr);
    setup.extra_inbound = Box::leak(tls.into_boxed_str());
    setup.state_dir = dir.clone();
    let port = dead_addr().await.port();
    let text = setup
        .config_text()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let config_path = Path::new(&dir).join("mxgate.toml");
    std::fs::write(&config_path, text).unwrap();
    let config = mxgate::cli::load_config(&config_path).unwrap();
    tokio::spawn(server::serve(config, config_path));
    let addr = format!("127.0.0.1:{port}");
    let roots = [&a, &b];

    let (mut kept, leaf) = connect_when_up(&addr, &roots).await;
    assert_eq!(leaf, *a.cert.der(), "starts with certificate A");
    assert_eq!(version(&mut kept).await, 200);

    std::fs::write(&cert_path, "not a certificate\n").unwrap();
    hangup();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, leaf) = connect(&addr, &roots).await.unwrap();
    assert_eq!(leaf, *a.cert.der(), "invalid files: A still served");

    write_pair(&b, &cert_path, &key_path);
    hangup();
    let mut switched = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (_, leaf) = connect(&addr, &roots).await.unwrap();
        if leaf == *b.cert.der() {
            switched = true;
            break;
        }
    }
    assert!(switched, "new connections see certificate B");
    assert_eq!(
        version(&mut kept).await,
        200,
        "the connection opened with A still works"
    );
}

/// A fresh self-signed certificate for the fronted homeserver.
fn cert() -> CertifiedKey<rcgen::KeyPair> {
    rcgen::generate_simple_self_signed(vec![HS.to_owned()]).unwrap()
}

fn write_pair(cert: &CertifiedKey<rcgen::KeyPair>, cert_path: &Path, key_path: &Path) {
    std::fs::write(cert_path, cert.cert.pem()).unwrap();
    std::fs::write(key_path, cert.signing_key.serialize_pem()).unwrap();
}

fn hangup() {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn connect_when_up(
    addr: &str,
    roots: &[&CertifiedKey<rcgen::KeyPair>],
) -> (SendRequest<Empty<Bytes>>, CertificateDer<'static>) {
    for _ in 0..100 {
        if let Some(connected) = connect(addr, roots).await {
            return connected;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gateway never accepted a TLS connection");
}

/// A TLS + HTTP/1.1 connection and the leaf certificate the gateway sent.
async fn connect(
    addr: &str,
    roots: &[&CertifiedKey<rcgen::KeyPair>],
) -> Option<(SendRequest<Empty<Bytes>>, CertificateDer<'static>)> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.cert.der().clone()).unwrap();
    }
    let mut client = rustls::ClientConfig::builder_with_provider(mxgate::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.ok()?;
    let name = rustls::pki_types::ServerName::try_from(HS).unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
        .ok()?;
    let leaf = stream.get_ref().1.peer_certificates()?[0].clone();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(connection);
    Some((sender, leaf))
}

async fn version(sender: &mut SendRequest<Empty<Bytes>>) -> u16 {
    let request = Request::get("/_matrix/federation/v1/version")
        .header("host", HS)
        .body(Empty::new())
        .unwrap();
    sender
        .send_request(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}
