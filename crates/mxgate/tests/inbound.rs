//! Inbound gateway integration tests over real sockets on 127.0.0.1:0: a
//! fake homeserver records what reaches it; every refusal asserts the exact
//! status and errcode and that the upstream received nothing.

#[path = "inbound/batch.rs"]
mod batch;
mod common;
#[path = "inbound/edge.rs"]
mod edge;
#[path = "inbound/faults.rs"]
mod faults;
#[path = "inbound/hostile.rs"]
mod hostile;
#[path = "inbound/server.rs"]
mod server;

use std::time::Duration;

use common::*;

const SEND_BODY: &str = "{\"origin\":\"remote.test\", \"origin_server_ts\":1700000000000,\n \"pdus\":[{\"type\":\"m.room.message\",\"content\":{\"body\":\"hé\"}}],\"edus\":[]}";

struct Env {
    hs: FakeHs,
    other: FakeHs,
    gw: Running,
}

async fn env() -> Env {
    env_with(|_| {}).await
}

async fn env_with(adjust: impl FnOnce(&mut Setup)) -> Env {
    let hs = FakeHs::start(Duration::ZERO).await;
    let other = FakeHs::start(Duration::ZERO).await;
    let mut setup = Setup::new(hs.addr, other.addr);
    adjust(&mut setup);
    let gw = start_gateway(&setup).await;
    Env { hs, other, gw }
}

/// Sends `request`, expects `status` + `errcode`, and that no upstream saw anything.
async fn refused(env: &Env, request: &[u8], status: u16, errcode: &str) {
    let response = send_raw(env.gw.addr, request).await;
    let shown = String::from_utf8_lossy(request);
    assert_eq!(response.status, status, "{shown}\n-> {response:?}");
    assert_eq!(response.errcode(), errcode, "{shown}\n-> {response:?}");
    assert!(env.hs.seen().is_empty(), "upstream saw {shown}");
    assert!(env.other.seen().is_empty(), "other upstream saw {shown}");
}

#[tokio::test]
async fn happy_path_send_is_forwarded_byte_identical() {
    let env = env().await;
    let target = "/_matrix/federation/v1/send/1700000000000-a";
    let response = send_raw(env.gw.addr, &signed("PUT", target, Some(SEND_BODY))).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, b"{\"ok\":true}");
    assert!(
        response
            .head
            .to_ascii_lowercase()
            .contains("x-upstream: fake")
    );
    let seen = env.hs.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(seen[0].target, target);
    assert_eq!(seen[0].body, SEND_BODY.as_bytes());
    let auth = x_matrix(
        &remote_key(),
        REMOTE,
        HS,
        "PUT",
        target,
        Some(SEND_BODY.as_bytes()),
    );
    assert_eq!(seen[0].headers["authorization"], auth.as_str());
    assert_eq!(seen[0].headers["content-type"], "application/json");
    assert_eq!(seen[0].headers["x-forwarded-for"], "127.0.0.1");
    assert!(env.other.seen().is_empty());
}

/// `SEND_BODY` as Synapse sends it: canonical JSON.
const CANONICAL_SEND_BODY: &str = r#"{"edus":[],"origin":"remote.test","origin_server_ts":1700000000000,"pdus":[{"content":{"body":"hé\n\"x\""},"type":"m.room.message"}]}"#;

/// Canonical `/send` bodies are checked without a JSON tree
/// (`json::scan_canonical`); the verdicts are the same as for any other body.
#[tokio::test]
async fn canonical_send_bodies_get_the_same_verdicts() {
    let env = env().await;
    let target = "/_matrix/federation/v1/send/canonical-1";
    let response = send_raw(
        env.gw.addr,
        &signed("PUT", target, Some(CANONICAL_SEND_BODY)),
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    let seen = env.hs.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, CANONICAL_SEND_BODY.as_bytes());
    env.hs.clear();

    let target = "/_matrix/federation/v1/send/canonical-2";
    let auth = x_matrix(
        &remote_key(),
        REMOTE,
        HS,
        "PUT",
        target,
        Some(CANONICAL_SEND_BODY.as_bytes()),
    );
    let tampered = CANONICAL_SEND_BODY.replace("hé", "hè");
    let request = raw_request("PUT", target, &[("Authorization", &auth)], Some(&tampered));
    refused(&env, &request, 401, "M_UNAUTHORIZED").await;

    let forged_origin =
        CANONICAL_SEND_BODY.replace("\"origin\":\"remote.test\"", "\"origin\":\"hs.test\"");
    let target = "/_matrix/federation/v1/send/canonical-3";
    refused(
        &env,
        &signed("PUT", target, Some(&forged_origin)),
        403,
        "M_FORBIDDEN",
    )
    .await;

    let too_large = CANONICAL_SEND_BODY.replace("hé", &"x".repeat(65_536));
    let target = "/_matrix/federation/v1/send/canonical-4";
    refused(
        &env,
        &signed("PUT", target, Some(&too_large)),
        400,
        "M_BAD_JSON",
    )
    .await;

    // All four bodies took the one-pass scan.
    let text = env.gw.gateway.metrics().encode();
    let scanned = r#"mxgate_json_bodies_total{direction="inbound",form="canonical"} 4"#;
    assert!(text.contains(scanned), "{text}");
    assert!(!text.contains(r#"form="other""#), "{text}");
}

#[tokio::test]
async fn encoded_path_and_query_arrive_unchanged() {
    let env = env().await;
    let targets = [
        "/_matrix/federation/v1/make_join/%21room%3Ahs.test/%40alice%3Aremote.test?ver=10&ver=11",
        "/_matrix/federation/v1/event/%24aGVsbG8%2Fd29ybGQ%2Bx",
        "/_matrix/federation/v1/query/profile?user_id=%40bob%3Ahs.test&field=displayname",
    ];
    for target in targets {
        let response = send_raw(env.gw.addr, &signed("GET", target, None)).await;
        assert_eq!(response.status, 200, "{target}: {response:?}");
    }
    let seen: Vec<String> = env.hs.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(seen, targets);
}

#[tokio::test]
async fn destination_selects_the_homeserver() {
    let env = env().await;
    let target = "/_matrix/federation/v1/state/%21r%3Aother.test";
    let auth = x_matrix(&remote_key(), REMOTE, OTHER_HS, "GET", target, None);
    let request = raw_request("GET", target, &[("Authorization", &auth)], None);
    // Host says hs.test (set by raw_request) but X-Matrix says other.test.
    let request = String::from_utf8(request)
        .unwrap()
        .replace("Host: hs.test", "Host: gateway.example");
    let response = send_raw(env.gw.addr, request.as_bytes()).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(env.other.seen().len(), 1);
    assert!(env.hs.seen().is_empty());
}

#[tokio::test]
async fn unsigned_endpoints_need_no_signature() {
    let env = env().await;
    for target in ["/_matrix/federation/v1/version", "/_matrix/key/v2/server"] {
        let response = send_raw(env.gw.addr, &raw_request("GET", target, &[], None)).await;
        assert_eq!(response.status, 200, "{target}");
    }
    assert_eq!(env.hs.seen().len(), 2);
}

#[tokio::test]
async fn report_mode_forwards_would_be_rejections_but_not_bad_paths() {
    let env = env_with(|s| s.mode = "report").await;
    let target = "/_matrix/federation/v1/state/%21r%3Ahs.test";
    let auth = x_matrix(&untrusted_key(), "evil.test", HS, "GET", target, None);
    let response = send_raw(
        env.gw.addr,
        &raw_request("GET", target, &[("Authorization", &auth)], None),
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(env.hs.seen().len(), 1);
    env.hs.clear();
    refused(
        &env,
        &signed("GET", "/_matrix/client/v3/sync", None),
        404,
        "M_UNRECOGNIZED",
    )
    .await;
    let wrong = x_matrix(&remote_key(), REMOTE, "elsewhere.test", "GET", target, None);
    refused(
        &env,
        &raw_request("GET", target, &[("Authorization", &wrong)], None),
        401,
        "M_UNAUTHORIZED",
    )
    .await;
    let metrics = env.gw.gateway.metrics().encode();
    assert!(
        metrics.contains("verdict=\"would_reject\",reason=\"unknown_origin\""),
        "{metrics}"
    );
}

#[tokio::test]
async fn http2_prior_knowledge_uses_the_raw_path() {
    use http_body_util::{BodyExt, Full};
    let env = env().await;
    let stream = tokio::net::TcpStream::connect(env.gw.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let target = "/_matrix/federation/v1/event/%24a%2Fb%3Ac?x=%40y";
    let auth = x_matrix(&remote_key(), REMOTE, HS, "GET", target, None);
    let request = hyper::Request::get(format!("http://{HS}{target}"))
        .header("authorization", auth)
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"{\"ok\":true}");
    assert_eq!(env.hs.seen()[0].target, target);
}

#[tokio::test]
async fn metrics_count_verdicts() {
    let env = env().await;
    send_raw(env.gw.addr, &signed("GET", "/_matrix/client/v3/sync", None)).await;
    send_raw(
        env.gw.addr,
        &signed("PUT", "/_matrix/federation/v1/send/t7", Some(SEND_BODY)),
    )
    .await;
    let text = env.gw.gateway.metrics().encode();
    assert!(text.contains(r#"mxgate_requests_total{direction="inbound",verdict="rejected",reason="unrecognized_endpoint",endpoint="unknown"} 1"#), "{text}");
    assert!(text.contains(r#"mxgate_requests_total{direction="inbound",verdict="accepted",reason="ok",endpoint="send"} 1"#), "{text}");
    // SEND_BODY has whitespace: parsed, not scanned.
    assert!(
        text.contains(r#"mxgate_json_bodies_total{direction="inbound",form="other"} 1"#),
        "{text}"
    );
    assert!(!text.contains(r#"form="canonical""#), "{text}");
}

#[tokio::test]
async fn unpinned_homeserver_origin_keys_are_fetched_from_its_upstream() {
    let hs = FakeHs::start(Duration::ZERO).await;
    let other = FakeHs::serving_keys(Duration::ZERO, Some(other_hs_key_response())).await;
    let gw = start_gateway(&Setup::new(hs.addr, other.addr)).await;
    let target = "/_matrix/federation/v1/state/%21r%3Ahs.test";
    for _ in 0..2 {
        let auth = x_matrix(&other_hs_key(), OTHER_HS, HS, "GET", target, None);
        let response = send_raw(
            gw.addr,
            &raw_request("GET", target, &[("Authorization", &auth)], None),
        )
        .await;
        assert_eq!(response.status, 200, "{response:?}");
    }
    let forged = x_matrix(&untrusted_key(), OTHER_HS, HS, "GET", target, None);
    let response = send_raw(
        gw.addr,
        &raw_request("GET", target, &[("Authorization", &forged)], None),
    )
    .await;
    assert_eq!(response.status, 401, "{response:?}");
    assert_eq!(hs.seen().len(), 2);
    let key_fetches: Vec<String> = other.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(
        key_fetches,
        ["/_matrix/key/v2/server"],
        "one fetch, then cached"
    );
    let text = gw.gateway.metrics().encode();
    assert!(
        text.contains(r#"mxgate_key_fetches_total{outcome="ok"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn verify_false_is_a_pass_through_for_benchmarks() {
    let env = env_with(|s| s.extra_gateway = "verify = false").await;
    let target = "/_matrix/federation/v1/send/t8";
    let auth = x_matrix(
        &remote_key(),
        REMOTE,
        HS,
        "PUT",
        target,
        Some(SEND_BODY.as_bytes()),
    );
    let tampered = SEND_BODY.replace("hé", "hi");
    let request = raw_request("PUT", target, &[("Authorization", &auth)], Some(&tampered));
    assert_eq!(send_raw(env.gw.addr, &request).await.status, 200);
    assert_eq!(env.hs.seen()[0].body, tampered.as_bytes());
    // Everything else still applies.
    env.hs.clear();
    refused(
        &env,
        &signed("GET", "/_matrix/client/v3/sync", None),
        404,
        "M_UNRECOGNIZED",
    )
    .await;
}

#[tokio::test]
async fn every_refusal_and_would_be_refusal_is_audited() {
    let dir = fresh_state_dir();
    let log = format!("{dir}/audit.jsonl");
    let extra: &'static str = Box::leak(format!("audit_log = \"{log}\"").into_boxed_str());
    let env = env_with(|s| s.extra_gateway = extra).await;
    let target = "/_matrix/federation/v1/state/%21r%3Ahs.test";
    let auth = x_matrix(&untrusted_key(), "evil.test", HS, "GET", target, None);
    refused(
        &env,
        &raw_request("GET", target, &[("Authorization", &auth)], None),
        403,
        "M_FORBIDDEN",
    )
    .await;
    refused(
        &env,
        &signed("GET", "/_synapse/admin/v1/users", None),
        404,
        "M_UNRECOGNIZED",
    )
    .await;
    let mut lines = Vec::new();
    for _ in 0..50 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        lines = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect();
        if lines.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["origin"], "evil.test");
    assert_eq!(lines[0]["destination"], HS);
    assert_eq!(lines[0]["method"], "GET");
    assert_eq!(lines[0]["path"], target);
    assert_eq!(lines[0]["endpoint"], "state");
    assert_eq!(lines[0]["verdict"], "rejected");
    assert_eq!(lines[0]["reason"], "unknown_origin");
    assert_eq!(lines[0]["status"], 403);
    assert_eq!(lines[0]["direction"], "inbound");
    assert_eq!(lines[1]["reason"], "unrecognized_endpoint");
    assert_eq!(lines[1]["endpoint"], "unknown");
    assert_eq!(lines[1]["status"], 404);
}
