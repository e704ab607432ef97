//! Upstream faults: down, slow, recovering. Never a 200 the upstream did
//! not send.

use std::time::Duration;

use super::SEND_BODY;
use crate::common::*;

#[tokio::test]
async fn upstream_down_is_502() {
    let dead = dead_addr().await;
    let other = FakeHs::start(Duration::ZERO).await;
    let gw = start_gateway(&Setup::new(dead, other.addr)).await;
    let response = send_raw(
        gw.addr,
        &signed("GET", "/_matrix/federation/v1/state/%21r%3Ahs.test", None),
    )
    .await;
    assert_eq!(response.status, 502, "{response:?}");
    assert_eq!(response.errcode(), "M_UNKNOWN");
    assert!(other.seen().is_empty());
}

#[tokio::test]
async fn upstream_slow_is_504_and_never_200() {
    let slow = FakeHs::start(Duration::from_secs(3)).await;
    let other = FakeHs::start(Duration::ZERO).await;
    let mut setup = Setup::new(slow.addr, other.addr);
    setup.response_timeout = Duration::from_millis(300);
    let gw = start_gateway(&setup).await;
    let response = send_raw(
        gw.addr,
        &signed("PUT", "/_matrix/federation/v1/send/t6", Some(SEND_BODY)),
    )
    .await;
    assert_eq!(response.status, 504, "{response:?}");
    assert_eq!(response.errcode(), "M_UNKNOWN");
}

#[tokio::test]
async fn upstream_recovery_after_502() {
    let dead = dead_addr().await;
    let other = FakeHs::start(Duration::ZERO).await;
    let gw = start_gateway(&Setup::new(dead, other.addr)).await;
    let request = signed("GET", "/_matrix/federation/v1/state/%21r%3Ahs.test", None);
    assert_eq!(send_raw(gw.addr, &request).await.status, 502);
    let back = FakeHs::start_on(dead).await;
    let response = send_raw(gw.addr, &request).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(back.seen().len(), 1);
}

#[tokio::test]
async fn upstream_resetting_connections_is_502_and_never_200() {
    let resetting = resetting_upstream().await;
    let other = FakeHs::start(Duration::ZERO).await;
    let gw = start_gateway(&Setup::new(resetting, other.addr)).await;
    for target in [
        "/_matrix/federation/v1/send/reset1",
        "/_matrix/federation/v1/send/reset2",
    ] {
        let response = send_raw(gw.addr, &signed("PUT", target, Some(SEND_BODY))).await;
        assert_eq!(response.status, 502, "{response:?}");
        assert_eq!(response.errcode(), "M_UNKNOWN");
    }
    assert!(other.seen().is_empty());
}

#[tokio::test]
async fn reload_under_load_drops_no_connection() {
    let hs = FakeHs::start(Duration::ZERO).await;
    let other = FakeHs::start(Duration::ZERO).await;
    let setup = Setup::new(hs.addr, other.addr);
    let gw = start_gateway(&setup).await;
    let stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let gateway = gw.gateway.clone();
    let reloads = tokio::spawn(async move {
        for _ in 0..20 {
            let config = mxgate_core::config::Config::from_toml_str(
                &setup.config_text(),
                std::path::Path::new("/tmp"),
            )
            .unwrap();
            gateway.reload(config).unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    for n in 0..60 {
        let target = format!("/_matrix/federation/v1/send/load{n}");
        let request = keep_alive_request("PUT", &target, SEND_BODY);
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200, "request {n} during reloads");
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
    }
    reloads.await.unwrap();
    assert!(
        !connection.is_finished(),
        "the client connection stayed open"
    );
    assert_eq!(hs.seen().len(), 60);
}

/// An upstream that accepts each connection, reads a little and resets it
/// (RST, via a zero linger) before answering.
async fn resetting_upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 64];
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    });
    addr
}

/// A signed keep-alive request for a hyper client connection.
fn keep_alive_request(
    method: &str,
    target: &str,
    body: &str,
) -> hyper::Request<http_body_util::Full<bytes::Bytes>> {
    let auth = x_matrix(
        &remote_key(),
        REMOTE,
        HS,
        method,
        target,
        Some(body.as_bytes()),
    );
    hyper::Request::builder()
        .method(method)
        .uri(target)
        .header("host", HS)
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_owned(),
        )))
        .unwrap()
}
