//! Integration tests of the outbound proxy (Synapse's federation-proxy
//! protocol) against fake homeserver upstreams and fake TLS remotes on
//! loopback.

#[path = "outbound/canonical.rs"]
mod canonical;
mod outbound_support;

use std::time::{Duration, Instant};

use hyper::Version;
use mxgate::outbound::OutboundListener;
use outbound_support::*;
use tokio::net::UnixListener;

/// A raw target with percent-escapes and a query, as Synapse sends it.
const TARGET: &str = "/_matrix/federation/v1/send/17%40x%3Ay%2Fz?ver=1&q=%2F%40";
const BODY: &str = r#"{"origin":"hs.test","origin_server_ts":1,"pdus":[],"edus":[{"edu_type":"m.typing","content":{"a":"é"}}]}"#;

#[tokio::test]
async fn allowed_destination_is_forwarded_byte_identical() {
    let world = World::start("allowed").await;
    let (addr, _gw) = world.tcp_gateway("enforce").await;
    let request = proxied("PUT", REMOTE, TARGET, Some(BODY));
    let response = send(addr, &request).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.json()["via"], "remote");
    assert!(
        response
            .head
            .to_ascii_lowercase()
            .contains("x-fake: remote")
    );

    let seen = world.remote.requests();
    assert_eq!(seen.len(), 1);
    let seen = &seen[0];
    assert_eq!(seen.method, "PUT");
    assert_eq!(seen.target, TARGET);
    assert_eq!(seen.body.as_ref(), BODY.as_bytes());
    let expected_auth = x_matrix(&hs_key(), HS_KEY, HS, REMOTE, "PUT", TARGET, Some(BODY));
    assert_eq!(seen.headers["authorization"], expected_auth.as_str());
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["user-agent"], "Synapse/1.163.2");
    assert!(!seen.headers.contains_key("proxy-authorization"));
    assert_eq!(seen.sni.as_deref(), Some(REMOTE), "TLS name = server name");
    assert_eq!(
        seen.authority.as_deref(),
        Some(REMOTE),
        "Host/:authority = server name"
    );
    assert!(world.hs_upstream.seen().is_empty());
}

#[tokio::test]
async fn unknown_destination_is_refused_and_nothing_is_sent() {
    let world = World::start("unknown").await;
    let (addr, gw) = world.tcp_gateway("enforce").await;
    for (method, target, body) in [
        ("PUT", TARGET, Some(BODY)),
        ("GET", "/_matrix/key/v2/server", None),
    ] {
        let response = send(addr, &proxied(method, "evil.test", target, body)).await;
        assert_eq!(response.status, 403, "{response:?}");
        assert_eq!(response.errcode(), "M_FORBIDDEN");
        assert!(
            response.error().contains(
                "destination evil.test is not a trusted server in mxgate's configuration"
            ),
            "{}",
            response.error()
        );
    }
    for server in [&world.remote, &world.hs_upstream, &world.other_upstream] {
        assert!(server.seen().is_empty());
    }
    let lines = gw.audit_lines().await;
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["direction"], "outbound");
    assert_eq!(lines[0]["destination"], "evil.test");
    assert_eq!(
        lines[0]["origin"], HS,
        "the refusal names the sending homeserver"
    );
    assert_eq!(lines[0]["reason"], "untrusted_destination");
    assert_eq!(lines[0]["status"], 403);
    let metrics = gw.metrics.encode();
    let refused: u64 = metrics
        .lines()
        .filter(|l| l.contains("direction=\"outbound\"") && l.contains("\"untrusted_destination\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(refused, 2, "{metrics}");
    let per_server = r#"mxgate_server_requests_total{direction="outbound",server="unconfigured",verdict="rejected"} 2"#;
    assert!(metrics.contains(per_server), "{metrics}");
}

#[tokio::test]
async fn missing_or_wrong_secret_is_refused() {
    let world = World::start("secret").await;
    let (addr, _gw) = world.tcp_gateway("enforce").await;
    let auth = x_matrix(&hs_key(), HS_KEY, HS, REMOTE, "PUT", TARGET, Some(BODY));
    let absolute = format!("matrix-federation://{REMOTE}{TARGET}");
    let wrong = format!("Bearer {SECRET}x");
    let short = "Bearer s3cret".to_owned();
    let basic = format!("Basic {SECRET}");
    let cases: [&[(&str, &str)]; 5] = [
        &[("Authorization", &auth)],
        &[("Authorization", &auth), ("Proxy-Authorization", &wrong)],
        &[("Authorization", &auth), ("Proxy-Authorization", &short)],
        &[("Authorization", &auth), ("Proxy-Authorization", &basic)],
        &[("Authorization", &auth), ("Proxy-Authorization", "Bearer ")],
    ];
    for headers in cases {
        let request = proxy_request("PUT", &absolute, REMOTE, headers, Some(BODY));
        let response = send(addr, &request).await;
        assert_eq!(response.status, 401, "{headers:?}");
        assert_eq!(response.errcode(), "M_UNAUTHORIZED");
    }
    assert!(world.remote.seen().is_empty());
}

#[tokio::test]
async fn origin_not_ours_is_refused() {
    let world = World::start("origin").await;
    let (addr, _gw) = world.tcp_gateway("enforce").await;
    let foreign = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let auth = x_matrix(
        &foreign,
        "ed25519:r1",
        REMOTE,
        SLOW,
        "PUT",
        TARGET,
        Some(BODY),
    );
    let request = proxy_request(
        "PUT",
        &format!("matrix-federation://{SLOW}{TARGET}"),
        SLOW,
        &[
            ("Authorization", &auth),
            ("Proxy-Authorization", &format!("Bearer {SECRET}")),
        ],
        Some(BODY),
    );
    let response = send(addr, &request).await;
    assert_eq!(response.status, 403, "{response:?}");
    assert_eq!(response.errcode(), "M_FORBIDDEN");
    assert!(
        response
            .error()
            .contains("origin remote.test is not a homeserver behind")
    );
    assert!(world.slow.seen().is_empty());
}

#[tokio::test]
async fn destination_other_than_the_target_authority_is_refused() {
    let world = World::start("mismatch").await;
    let (addr, _gw) = world.tcp_gateway("enforce").await;
    // Signed for slow.test, but sent to remote.test.
    let auth = x_matrix(&hs_key(), HS_KEY, HS, SLOW, "PUT", TARGET, Some(BODY));
    let request = proxy_request(
        "PUT",
        &format!("matrix-federation://{REMOTE}{TARGET}"),
        REMOTE,
        &[
            ("Authorization", &auth),
            ("Proxy-Authorization", &format!("Bearer {SECRET}")),
        ],
        Some(BODY),
    );
    let response = send(addr, &request).await;
    assert_eq!(response.status, 403, "{response:?}");
    assert_eq!(response.errcode(), "M_FORBIDDEN");
    assert!(world.remote.seen().is_empty() && world.slow.seen().is_empty());
}

#[tokio::test]
async fn bad_or_missing_signature_is_refused() {
    let world = World::start("signature").await;
    let (addr, gw) = world.tcp_gateway("enforce").await;
    let secret = format!("Bearer {SECRET}");
    let absolute = format!("matrix-federation://{REMOTE}{TARGET}");
    let signed_other_body = x_matrix(&hs_key(), HS_KEY, HS, REMOTE, "PUT", TARGET, Some("{}"));
    let signed_other_path = x_matrix(
        &hs_key(),
        HS_KEY,
        HS,
        REMOTE,
        "PUT",
        "/_matrix/x",
        Some(BODY),
    );
    let wrong_key = x_matrix(&other_key(), HS_KEY, HS, REMOTE, "PUT", TARGET, Some(BODY));
    let unknown_key_id = x_matrix(
        &hs_key(),
        "ed25519:zz",
        HS,
        REMOTE,
        "PUT",
        TARGET,
        Some(BODY),
    );
    let cases: [&[(&str, &str)]; 5] = [
        &[("Proxy-Authorization", &secret)],
        &[
            ("Proxy-Authorization", &secret),
            ("Authorization", &signed_other_body),
        ],
        &[
            ("Proxy-Authorization", &secret),
            ("Authorization", &signed_other_path),
        ],
        &[
            ("Proxy-Authorization", &secret),
            ("Authorization", &wrong_key),
        ],
        &[
            ("Proxy-Authorization", &secret),
            ("Authorization", &unknown_key_id),
        ],
    ];
    for headers in cases {
        let request = proxy_request("PUT", &absolute, REMOTE, headers, Some(BODY));
        let response = send(addr, &request).await;
        assert_eq!(response.status, 401, "{headers:?} {response:?}");
        assert_eq!(response.errcode(), "M_UNAUTHORIZED");
    }
    assert!(world.remote.seen().is_empty());
    let reasons: Vec<_> = gw
        .audit_lines()
        .await
        .iter()
        .map(|l| l["reason"].clone())
        .collect();
    assert_eq!(
        reasons,
        [
            "missing_authorization",
            "bad_signature",
            "bad_signature",
            "bad_signature",
            "key_unknown_id"
        ]
    );
}

#[tokio::test]
async fn certificate_from_an_unpinned_ca_is_refused_with_a_reason() {
    let world = World::start("wrongca").await;
    let (addr, gw) = world.tcp_gateway("enforce").await;
    let response = send(addr, &proxied("PUT", WRONG_CA, TARGET, Some(BODY))).await;
    assert_eq!(response.status, 502, "{response:?}");
    assert_eq!(response.errcode(), "M_UNKNOWN");
    let error = response.error();
    assert!(
        error.contains("cannot reach wrongca.test") && error.contains("TLS handshake"),
        "{error}"
    );
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert!(
        world.wrong_ca.seen().is_empty(),
        "no request over the refused TLS"
    );
    let lines = gw.audit_lines().await;
    assert_eq!(lines[0]["reason"], "tls_handshake");
    assert_eq!(lines[0]["verdict"], "failed");
}

#[tokio::test]
async fn slow_destination_times_out_with_504() {
    let world = World::start("slow").await;
    let (addr, _gw) = world.tcp_gateway("enforce").await;
    let started = Instant::now();
    let response = send(
        addr,
        &proxied("GET", SLOW, "/_matrix/federation/v1/version", None),
    )
    .await;
    assert_eq!(response.status, 504, "{response:?}");
    assert_eq!(response.errcode(), "M_UNKNOWN");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        world.slow.seen().len(),
        1,
        "the request did reach the slow remote"
    );
}

#[tokio::test]
async fn homeserver_destination_goes_to_its_upstream() {
    let world = World::start("internal").await;
    let (addr, _gw) = world.tcp_gateway("enforce").await;
    let response = send(addr, &proxied("PUT", OTHER_HS, TARGET, Some(BODY))).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.json()["via"], "other-upstream");
    let seen = world.other_upstream.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, TARGET);
    assert_eq!(seen[0].body.as_ref(), BODY.as_bytes());
    assert_eq!(seen[0].authority.as_deref(), Some(OTHER_HS));
    assert!(world.remote.seen().is_empty());
}

#[tokio::test]
async fn homeserver_keys_are_fetched_from_its_upstream() {
    let world = World::start("fetch").await;
    let (addr, _gw) = world.tcp_gateway("enforce").await;
    let auth = x_matrix(
        &other_key(),
        OTHER_KEY,
        OTHER_HS,
        REMOTE,
        "PUT",
        TARGET,
        Some(BODY),
    );
    let secret = format!("Bearer {SECRET}");
    let absolute = format!("matrix-federation://{REMOTE}{TARGET}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Proxy-Authorization", &secret),
    ];
    for _ in 0..2 {
        let response = send(
            addr,
            &proxy_request("PUT", &absolute, REMOTE, &headers, Some(BODY)),
        )
        .await;
        assert_eq!(response.status, 200, "{response:?}");
    }
    let key_fetches = world
        .other_upstream
        .seen()
        .iter()
        .filter(|s| s.target == "/_matrix/key/v2/server")
        .count();
    assert_eq!(key_fetches, 1, "fetched once, then cached");
    assert_eq!(world.remote.requests().len(), 2);
}

#[tokio::test]
async fn sequential_requests_share_one_pooled_connection() {
    let world = World::start("pool").await;
    let (addr, _gw) = world.tcp_gateway("enforce").await;
    for i in 0..5 {
        let target = format!("/_matrix/federation/v1/send/{i}");
        let response = send(addr, &proxied("PUT", REMOTE, &target, Some(BODY))).await;
        assert_eq!(response.status, 200, "{response:?}");
    }
    assert_eq!(world.remote.requests().len(), 5);
    assert_eq!(world.remote.connections(), 1, "one TLS connection for all");
    assert!(
        world
            .remote
            .seen()
            .iter()
            .all(|s| s.version == Version::HTTP_2)
    );
}

#[tokio::test]
async fn unix_socket_listener_serves_and_cleans_up() {
    let world = World::start("unix").await;
    let path = world.dir.join("outbound.sock");
    let listener = OutboundListener::Unix(UnixListener::bind(&path).unwrap());
    let gw = world.gateway("enforce", listener).await;
    let response = send_unix(&path, &proxied("PUT", REMOTE, TARGET, Some(BODY))).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(world.remote.requests()[0].target, TARGET);
    let response = send_unix(&path, &proxied("PUT", "evil.test", TARGET, Some(BODY))).await;
    assert_eq!(response.status, 403);
    gw.stop().await;
    assert!(!path.exists(), "socket file removed at shutdown");
}

#[tokio::test]
async fn bound_listener_replaces_a_stale_socket() {
    let world = World::start("stale").await;
    let path = world.dir.join("stale.sock");
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let listen = mxgate_core::config::OutboundListen::Unix(path.clone());
    let listener = OutboundListener::bind(&listen).await.unwrap();
    let _gw = world.gateway("enforce", listener).await;
    let response = send_unix(
        &path,
        &proxied("GET", REMOTE, "/_matrix/key/v2/server", None),
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
}

#[tokio::test]
async fn report_mode_forwards_bad_signatures_but_never_unknown_destinations() {
    let world = World::start("report").await;
    let (addr, gw) = world.tcp_gateway("report").await;
    let tampered = x_matrix(&hs_key(), HS_KEY, HS, REMOTE, "PUT", TARGET, Some("{}"));
    let request = proxy_request(
        "PUT",
        &format!("matrix-federation://{REMOTE}{TARGET}"),
        REMOTE,
        &[
            ("Authorization", &tampered),
            ("Proxy-Authorization", &format!("Bearer {SECRET}")),
        ],
        Some(BODY),
    );
    assert_eq!(send(addr, &request).await.status, 200);
    assert_eq!(world.remote.requests().len(), 1);
    let response = send(addr, &proxied("PUT", "evil.test", TARGET, Some(BODY))).await;
    assert_eq!(response.status, 403);
    let lines = gw.audit_lines().await;
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["verdict"], "would_reject");
    assert_eq!(lines[0]["reason"], "bad_signature");
    assert_eq!(lines[1]["verdict"], "rejected");
    assert_eq!(lines[1]["reason"], "untrusted_destination");
}

#[tokio::test]
async fn only_absolute_matrix_federation_targets_within_limits_are_served() {
    let world = World::start("form").await;
    let (addr, _gw) = world.tcp_gateway("enforce").await;
    let secret = format!("Bearer {SECRET}");
    let auth = x_matrix(
        &hs_key(),
        HS_KEY,
        HS,
        REMOTE,
        "GET",
        "/_matrix/key/v2/server",
        None,
    );
    let headers = [
        ("Authorization", auth.as_str()),
        ("Proxy-Authorization", &secret),
    ];
    let cases = [
        ("/_matrix/key/v2/server", 400),
        ("https://remote.test/_matrix/key/v2/server", 400),
        (
            "matrix-federation://remote.test/_synapse/admin/v1/users",
            404,
        ),
    ];
    for (target, status) in cases {
        let response = send(addr, &proxy_request("GET", target, REMOTE, &headers, None)).await;
        assert_eq!(response.status, status, "{target}: {response:?}");
    }
    let mut huge = proxy_request(
        "PUT",
        &format!("matrix-federation://{REMOTE}{TARGET}"),
        REMOTE,
        &headers,
        None,
    );
    let head_end = huge.len() - 2;
    huge.splice(
        head_end..head_end,
        b"Content-Length: 100000000\r\n".iter().copied(),
    );
    let response = send(addr, &huge).await;
    assert_eq!(response.status, 413, "{response:?}");
    assert!(world.remote.seen().is_empty());
}

#[tokio::test]
async fn concurrency_per_destination_is_limited() {
    let world = World::start("limit").await;
    let (addr, _gw) = world.tcp_gateway("enforce").await;
    let requests: Vec<_> = (0..6)
        .map(|i| {
            let target = format!("/_matrix/federation/v1/query/profile?n={i}");
            tokio::spawn(async move { send(addr, &proxied("GET", SLOW, &target, None)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        world.slow.seen().len(),
        4,
        "max_concurrency_per_destination = 4"
    );
    for request in requests {
        let status = request.await.unwrap().status;
        assert!(status == 503 || status == 504, "{status}");
    }
}

#[tokio::test]
async fn unreachable_discovered_remote_fails_closed() {
    let world = World::start("unpinned").await;
    let (addr, gw) = world.tcp_gateway("report").await;
    let response = send(
        addr,
        &proxied("GET", UNPINNED, "/_matrix/key/v2/server", None),
    )
    .await;
    assert_eq!(response.status, 502, "{response:?}");
    assert!(
        response.error().contains(UNPINNED),
        "the error names the destination: {}",
        response.error()
    );
    let lines = gw.audit_lines().await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["verdict"], "failed");
    assert_eq!(lines[0]["destination"], UNPINNED);
}

#[tokio::test]
async fn reload_swaps_the_secret_and_a_failed_reload_keeps_the_old_one() {
    let world = World::start("reload").await;
    let (addr, gw) = world.tcp_gateway("enforce").await;
    let config = world.config("enforce");
    std::fs::write(world.dir.join("secret"), "rotated-secret\n").unwrap();
    gw.gateway.reload(&config).await.unwrap();
    let auth = x_matrix(
        &hs_key(),
        HS_KEY,
        HS,
        REMOTE,
        "GET",
        "/_matrix/key/v2/server",
        None,
    );
    let with_secret = |secret: &str| {
        proxy_request(
            "GET",
            &format!("matrix-federation://{REMOTE}/_matrix/key/v2/server"),
            REMOTE,
            &[
                ("Authorization", &auth),
                ("Proxy-Authorization", &format!("Bearer {secret}")),
            ],
            None,
        )
    };
    assert_eq!(send(addr, &with_secret(SECRET)).await.status, 401);
    assert_eq!(send(addr, &with_secret("rotated-secret")).await.status, 200);
    std::fs::remove_file(world.dir.join("secret")).unwrap();
    assert!(gw.gateway.reload(&config).await.is_err());
    assert_eq!(send(addr, &with_secret("rotated-secret")).await.status, 200);
}
