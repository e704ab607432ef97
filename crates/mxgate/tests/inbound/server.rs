//! Connection-level behaviour: admin listener, reload, shutdown drain,
//! slowloris and body timeouts, connection limit, TLS with SNI and ALPN.

use std::{sync::Arc, time::Duration};

use http_body_util::{BodyExt, Full};
use mxgate::{
    metrics::{Metrics, Readiness, serve_admin},
    server,
};
use mxgate_core::config::Config;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use super::{SEND_BODY, env_with};
use crate::common::*;

const STATE: &str = "/_matrix/federation/v1/state/%21r%3Ahs.test";

#[tokio::test]
async fn admin_listener_serves_health_readiness_and_metrics() {
    let hs = FakeHs::start(Duration::ZERO).await;
    let other = FakeHs::start(Duration::ZERO).await;
    let gw = start_gateway(&Setup::new(hs.addr, other.addr)).await;
    send_raw(gw.addr, &signed("GET", STATE, None)).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = listener.local_addr().unwrap();
    let readiness = Arc::new(Readiness::new(2));
    let metrics: Arc<Metrics> = gw.gateway.metrics().clone();
    tokio::spawn(serve_admin(
        listener,
        metrics,
        readiness.clone(),
        gw.gateway.status().clone(),
        std::future::pending(),
    ));
    let get =
        |path: &str| format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
    assert_eq!(
        send_raw(admin, get("/healthz").as_bytes()).await.status,
        200
    );
    assert_eq!(send_raw(admin, get("/readyz").as_bytes()).await.status, 503);
    server::probe_upstreams(gw.gateway.clone(), readiness.clone()).await;
    assert_eq!(send_raw(admin, get("/readyz").as_bytes()).await.status, 200);
    let probes: Vec<String> = hs.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(probes, [STATE, "/_matrix/federation/v1/version"]);
    let metrics = send_raw(admin, get("/metrics").as_bytes()).await;
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains(r#"verdict="accepted",reason="ok",endpoint="state"} 1"#),
        "{text}"
    );
    let per_server = format!(
        r#"mxgate_server_requests_total{{direction="inbound",server="{REMOTE}",verdict="accepted"}} 1"#
    );
    assert!(text.contains(&per_server), "{text}");
    let status = send_raw(admin, get("/status").as_bytes()).await;
    let status: serde_json::Value = serde_json::from_slice(&status.body).unwrap();
    let servers = status["servers"].as_array().unwrap();
    let remote = servers
        .iter()
        .find(|s| s["server_name"] == REMOTE)
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(remote["accepted_inbound"], 1, "{status}");
    let fronted = servers.iter().find(|s| s["server_name"] == HS).unwrap();
    assert_eq!(fronted["upstream"]["state"], "up", "{status}");
    let page = send_raw(admin, get("/").as_bytes()).await;
    assert!(String::from_utf8(page.body).unwrap().contains(REMOTE));
    assert_eq!(send_raw(admin, get("/other").as_bytes()).await.status, 404);
}

#[tokio::test]
async fn reload_switches_upstream_for_new_requests() {
    let env = env_with(|_| {}).await;
    let replacement = FakeHs::start(Duration::ZERO).await;
    let mut setup = Setup::new(replacement.addr, env.other.addr);
    setup.state_dir = fresh_state_dir();
    let config = Config::from_toml_str(&setup.config_text(), std::path::Path::new("/tmp")).unwrap();
    env.gw.gateway.reload(config).unwrap();
    assert_eq!(
        send_raw(env.gw.addr, &signed("GET", STATE, None))
            .await
            .status,
        200
    );
    assert_eq!(replacement.seen().len(), 1);
    assert!(env.hs.seen().is_empty());
}

#[tokio::test]
async fn sighup_reloads_a_valid_file_and_keeps_the_old_config_otherwise() {
    let old = FakeHs::start(Duration::ZERO).await;
    let new = FakeHs::start(Duration::ZERO).await;
    let third = FakeHs::start(Duration::ZERO).await;
    let state_requests = |fake: &FakeHs| fake.seen().iter().filter(|s| s.target == STATE).count();
    let port = dead_addr().await.port();
    let dir = fresh_state_dir();
    let path = std::path::Path::new(&dir).join("mxgate.toml");
    let write = |upstream| {
        let mut setup = Setup::new(upstream, third.addr);
        setup.state_dir = dir.clone();
        let text = setup
            .config_text()
            .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
        std::fs::write(&path, text).unwrap();
    };
    write(old.addr);
    let config = mxgate::cli::load_config(&path).unwrap();
    tokio::spawn(server::serve(config, path.clone()));
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut up = false;
    for _ in 0..50 {
        if TcpStream::connect(addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "gateway listening");
    assert_eq!(
        send_raw(addr, &signed("GET", STATE, None)).await.status,
        200
    );
    assert_eq!(state_requests(&old), 1);
    let hup = |_: ()| {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    write(new.addr);
    hup(());
    let mut switched = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        send_raw(addr, &signed("GET", STATE, None)).await;
        if state_requests(&new) > 0 {
            switched = true;
            break;
        }
    }
    assert!(switched, "valid config took effect");
    std::fs::write(&path, "this is [not toml").unwrap();
    hup(());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = new.seen().len();
    assert_eq!(
        send_raw(addr, &signed("GET", STATE, None)).await.status,
        200
    );
    assert_eq!(
        new.seen().len(),
        before + 1,
        "old (valid) config still serves"
    );
}

#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    let slow = FakeHs::start(Duration::from_millis(500)).await;
    let other = FakeHs::start(Duration::ZERO).await;
    let mut gw = start_gateway(&Setup::new(slow.addr, other.addr)).await;
    let addr = gw.addr;
    let in_flight = tokio::spawn(async move {
        send_raw(
            addr,
            &signed("PUT", "/_matrix/federation/v1/send/drain", Some(SEND_BODY)),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    gw.stop();
    let response = in_flight.await.unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}

#[tokio::test]
async fn a_client_that_half_closes_after_its_request_still_gets_the_answer() {
    // The upstream answers after 300 ms; the client shuts its write side
    // down right after the request (HTTP/1.1 allows that half-close).
    let slow = FakeHs::start(Duration::from_millis(300)).await;
    let other = FakeHs::start(Duration::ZERO).await;
    let gw = start_gateway(&Setup::new(slow.addr, other.addr)).await;
    let mut stream = TcpStream::connect(gw.addr).await.unwrap();
    let request = signed("PUT", "/_matrix/federation/v1/send/half", Some(SEND_BODY));
    stream.write_all(&request).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut bytes));
    read.await.expect("closed within 5 s").unwrap();
    let response = parse_response(&bytes);
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(slow.seen().len(), 1);
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let env = env_with(|_| {}).await;
    let mut stream = TcpStream::connect(env.gw.addr).await.unwrap();
    stream
        .write_all(b"GET /_matrix/federation/v1/version HTTP/1.1\r\nHost: hs.test\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "connection closed by the header read timeout");
    assert!(env.hs.seen().is_empty());
}

#[tokio::test]
async fn slow_body_is_408() {
    let env = env_with(|_| {}).await;
    let target = "/_matrix/federation/v1/send/slow";
    let auth = x_matrix(
        &remote_key(),
        REMOTE,
        HS,
        "PUT",
        target,
        Some(SEND_BODY.as_bytes()),
    );
    let head = format!(
        "PUT {target} HTTP/1.1\r\nHost: hs.test\r\nAuthorization: {auth}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{{\"origin\"",
        SEND_BODY.len()
    );
    let response = send_raw(env.gw.addr, head.as_bytes()).await;
    assert_eq!(response.status, 408, "{response:?}");
    assert_eq!(response.errcode(), "M_UNKNOWN");
    assert!(env.hs.seen().is_empty());
}

#[tokio::test]
async fn connection_limit_closes_extra_connections() {
    let env = env_with(|s| s.extra_inbound = "max_connections = 1").await;
    let _held = TcpStream::connect(env.gw.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(env.gw.addr).await.unwrap();
    let _ = extra.write_all(&signed("GET", STATE, None)).await;
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), extra.read_to_end(&mut bytes)).await;
    assert!(read.is_ok(), "extra connection closed");
    assert!(bytes.is_empty(), "no response on the extra connection");
    assert!(env.hs.seen().is_empty());
}

#[tokio::test]
async fn tls_with_sni_and_alpn_h2() {
    let cert = rcgen::generate_simple_self_signed(vec![HS.to_owned()]).unwrap();
    let dir = fresh_state_dir();
    let cert_path = std::path::Path::new(&dir).join("hs.crt");
    let key_path = std::path::Path::new(&dir).join("hs.key");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let tls = format!(
        "[[inbound.tls]]\ncert = \"{}\"\nkey = \"{}\"",
        cert_path.display(),
        key_path.display()
    );
    let tls: &'static str = Box::leak(tls.into_boxed_str());
    let env = env_with(|s| s.extra_inbound = tls).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let mut client = rustls::ClientConfig::builder_with_provider(mxgate::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(env.gw.addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from(HS).unwrap();
    let stream = connector.connect(name, tcp).await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    // No Host header and no X-Matrix destination: the SNI name routes.
    let target = "/_matrix/federation/v1/state/%21r%3Ahs.test?x=1";
    let origin = mxgate_core::ids::ServerName::parse(REMOTE).unwrap();
    let destination = mxgate_core::ids::ServerName::parse(HS).unwrap();
    let key_id = mxgate_core::ids::KeyId::parse(REMOTE_KEY).unwrap();
    let mut xm = mxgate_core::xmatrix::RequestToSign {
        method: "GET",
        uri: target,
        origin: &origin,
        destination: &destination,
        content: None,
    }
    .sign(&key_id, &remote_key());
    xm.destination = None;
    let request = hyper::Request::get(format!("https://gateway.example{target}"))
        .header("authorization", xm.to_header_value())
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200, "routed by SNI");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"{\"ok\":true}");
    assert_eq!(env.hs.seen()[0].target, target);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let env =
        env_with(|s| s.extra_inbound = "idle_timeout_secs = 1\nrequest_timeout_secs = 5").await;
    let mut stream = TcpStream::connect(env.gw.addr).await.unwrap();
    let request = String::from_utf8(signed("GET", STATE, None))
        .unwrap()
        .replace("Connection: close\r\n", "");
    stream.write_all(request.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(4), stream.read_to_end(&mut bytes)).await;
    assert!(read.is_ok(), "idle connection closed");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(String::from_utf8_lossy(&bytes).starts_with("HTTP/1.1 200"));
    assert_eq!(env.hs.seen().len(), 1);
}
