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
