//! Hostile input: every refusal asserts the exact status and errcode and
//! that no upstream received anything.

use super::{SEND_BODY, env, env_with, refused};
use crate::common::*;

#[tokio::test]
async fn authorization_problems_are_401() {
    let env = env().await;
    let target = "/_matrix/federation/v1/state/%21r%3Ahs.test";
    let good = x_matrix(&remote_key(), REMOTE, HS, "GET", target, None);
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("Authorization", "Bearer abc".into())],
        vec![("Authorization", "X-Matrix origin=remote.test".into())],
        vec![
            ("Authorization", good.clone()),
            ("Authorization", good.clone()),
        ],
        vec![("Authorization", format!("{good},origin=\"remote.test\""))],
        vec![("Authorization", good.replace("ed25519:r1", "ed25519:other"))],
        vec![(
            "Authorization",
            x_matrix(
                &remote_key(),
                REMOTE,
                HS,
                "GET",
                "/_matrix/federation/v1/state/x",
                None,
            ),
        )],
        vec![(
            "Authorization",
            x_matrix(&remote_key(), REMOTE, HS, "PUT", target, None),
        )],
    ];
    for headers in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        refused(
            &env,
            &raw_request("GET", target, &headers, None),
            401,
            "M_UNAUTHORIZED",
        )
        .await;
    }
}

#[tokio::test]
async fn tampered_body_is_401() {
    let env = env().await;
    let target = "/_matrix/federation/v1/send/t1";
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
    refused(&env, &request, 401, "M_UNAUTHORIZED").await;
}

#[tokio::test]
async fn untrusted_origin_is_403() {
    let env = env().await;
    let target = "/_matrix/federation/v2/invite/%21r%3Ahs.test/%24e";
    let body = "{\"event\":{}}";
    let auth = x_matrix(
        &untrusted_key(),
        "evil.test",
        HS,
        "PUT",
        target,
        Some(body.as_bytes()),
    );
    refused(
        &env,
        &raw_request("PUT", target, &[("Authorization", &auth)], Some(body)),
        403,
        "M_FORBIDDEN",
    )
    .await;
}

#[tokio::test]
async fn wrong_destination_is_401() {
    let env = env().await;
    let target = "/_matrix/federation/v1/state/%21r%3Ahs.test";
    let auth = x_matrix(&remote_key(), REMOTE, "elsewhere.test", "GET", target, None);
    refused(
        &env,
        &raw_request("GET", target, &[("Authorization", &auth)], None),
        401,
        "M_UNAUTHORIZED",
    )
    .await;
    // Signed for other.test but Host names hs.test: disagreement, refused.
    let auth = x_matrix(&remote_key(), REMOTE, OTHER_HS, "GET", target, None);
    refused(
        &env,
        &raw_request("GET", target, &[("Authorization", &auth)], None),
        401,
        "M_UNAUTHORIZED",
    )
    .await;
}

#[tokio::test]
async fn paths_outside_the_allow_list_are_404() {
    let env = env().await;
    let targets = [
        "/_matrix/client/v3/sync",
        "/_matrix/client/v3/rooms/%21r%3Ahs.test/send/m.room.message/1",
        "/_synapse/admin/v1/users/%40a%3Ahs.test",
        "/_synapse/client/password_reset/email/submit_token",
        "/_matrix/federation/v1/../../client/v3/sync",
        "/_matrix/federation/v1/%2e%2e/%2e%2e/client/v3/sync",
        "/_matrix/federation/v1/state/%2E%2E",
        "/_matrix//federation/v1/version",
        "/_matrix/federation/v1/version/",
        "/_matrix%2Ffederation/v1/version",
        "/_matrix/federation%2Fv1/version",
        "/_matrix/federation/v1/state/%zz",
        "/",
    ];
    for target in targets {
        refused(&env, &signed("GET", target, None), 404, "M_UNRECOGNIZED").await;
    }
    refused(
        &env,
        &signed("DELETE", "/_matrix/federation/v1/version", None),
        405,
        "M_UNRECOGNIZED",
    )
    .await;
}

#[tokio::test]
async fn smuggling_and_request_target_forms_are_refused() {
    let env = env().await;
    let target = "/_matrix/federation/v1/send/t2";
    let auth = x_matrix(
        &remote_key(),
        REMOTE,
        HS,
        "PUT",
        target,
        Some(SEND_BODY.as_bytes()),
    );
    let chunked = format!(
        "PUT {target} HTTP/1.1\r\nHost: hs.test\r\nAuthorization: {auth}\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{SEND_BODY}\r\n0\r\n\r\n",
        SEND_BODY.len(),
        SEND_BODY.len()
    );
    refused(&env, chunked.as_bytes(), 400, "M_UNRECOGNIZED").await;
    let te_first = chunked.replace(
        &format!(
            "Content-Length: {}\r\nTransfer-Encoding: chunked",
            SEND_BODY.len()
        ),
        &format!(
            "Transfer-Encoding: chunked\r\nContent-Length: {}",
            SEND_BODY.len()
        ),
    );
    refused(&env, te_first.as_bytes(), 400, "M_UNRECOGNIZED").await;
    let absolute = signed("GET", "http://hs.test/_matrix/federation/v1/version", None);
    refused(&env, &absolute, 400, "M_UNRECOGNIZED").await;
    let connect = b"CONNECT hs.test:443 HTTP/1.1\r\nHost: hs.test:443\r\nConnection: close\r\n\r\n";
    refused(&env, connect, 400, "M_UNRECOGNIZED").await;
    let asterisk = b"OPTIONS * HTTP/1.1\r\nHost: hs.test\r\nConnection: close\r\n\r\n";
    refused(&env, asterisk, 400, "M_UNRECOGNIZED").await;
}

#[tokio::test]
async fn malformed_http_is_refused_by_hyper_before_the_pipeline() {
    let env = env().await;
    let target = "/_matrix/federation/v1/send/t3";
    let auth = x_matrix(
        &remote_key(),
        REMOTE,
        HS,
        "PUT",
        target,
        Some(SEND_BODY.as_bytes()),
    );
    let n = SEND_BODY.len();
    let conflicting = format!(
        "PUT {target} HTTP/1.1\r\nHost: hs.test\r\nAuthorization: {auth}\r\nContent-Length: {n}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{SEND_BODY}",
        n + 1
    );
    let folded = "GET /_matrix/federation/v1/version HTTP/1.1\r\nHost: hs.test\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n".to_owned();
    for request in [conflicting, folded] {
        let response = send_raw(env.gw.addr, request.as_bytes()).await;
        assert_eq!(response.status, 400, "{request}: {response:?}");
    }
    let many: Vec<(String, String)> = (0..150)
        .map(|i| (format!("X-H{i}"), "v".to_owned()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let response = send_raw(
        env.gw.addr,
        &raw_request("GET", "/_matrix/federation/v1/version", &many, None),
    )
    .await;
    assert_eq!(response.status, 431, "{response:?}");
    let huge = "a".repeat(40_000);
    let response = send_raw(
        env.gw.addr,
        &raw_request(
            "GET",
            "/_matrix/federation/v1/version",
            &[("X-Big", &huge)],
            None,
        ),
    )
    .await;
    assert_eq!(response.status, 431, "{response:?}");
    assert!(env.hs.seen().is_empty());
}

#[tokio::test]
async fn body_problems() {
    let env = env().await;
    let target = "/_matrix/federation/v2/invite/%21r%3Ahs.test/%24e";
    let big = format!("{{\"event\":\"{}\"}}", "x".repeat(300 * 1024));
    refused(&env, &signed("PUT", target, Some(&big)), 413, "M_TOO_LARGE").await;
    let get_body = raw_request("GET", "/_matrix/federation/v1/version", &[], Some("{}"));
    refused(&env, &get_body, 413, "M_TOO_LARGE").await;
    let dup = "{\"event\":{},\"event\":{}}";
    let auth = x_matrix(
        &remote_key(),
        REMOTE,
        HS,
        "PUT",
        target,
        Some(b"{\"event\":{}}"),
    );
    refused(
        &env,
        &raw_request("PUT", target, &[("Authorization", &auth)], Some(dup)),
        400,
        "M_BAD_JSON",
    )
    .await;
    let not_json = "{\"event\":";
    refused(
        &env,
        &raw_request("PUT", target, &[("Authorization", &auth)], Some(not_json)),
        400,
        "M_NOT_JSON",
    )
    .await;
}

#[tokio::test]
async fn transaction_origin_must_match_the_signer() {
    let env = env().await;
    let body = SEND_BODY.replace("\"origin\":\"remote.test\"", "\"origin\":\"hs.test\"");
    refused(
        &env,
        &signed("PUT", "/_matrix/federation/v1/send/t4", Some(&body)),
        403,
        "M_FORBIDDEN",
    )
    .await;
    let pdus: Vec<String> = (0..51).map(|i| format!("{{\"n\":{i}}}")).collect();
    let body = format!(
        "{{\"origin\":\"remote.test\",\"origin_server_ts\":1,\"pdus\":[{}]}}",
        pdus.join(",")
    );
    refused(
        &env,
        &signed("PUT", "/_matrix/federation/v1/send/t5", Some(&body)),
        400,
        "M_BAD_JSON",
    )
    .await;
}

#[tokio::test]
async fn rate_limit_is_429_with_retry_after() {
    let env =
        env_with(|s| s.extra_inbound = "rate_limit_per_origin_per_sec = 1\nrate_limit_burst = 2")
            .await;
    let target = "/_matrix/federation/v1/state/%21r%3Ahs.test";
    for _ in 0..2 {
        assert_eq!(
            send_raw(env.gw.addr, &signed("GET", target, None))
                .await
                .status,
            200
        );
    }
    env.hs.clear();
    let response = send_raw(env.gw.addr, &signed("GET", target, None)).await;
    assert_eq!(response.status, 429);
    assert_eq!(response.errcode(), "M_LIMIT_EXCEEDED");
    assert!(response.json()["retry_after_ms"].as_u64().unwrap() > 0);
    assert!(env.hs.seen().is_empty());
}

#[tokio::test]
async fn forged_requests_do_not_spend_the_origins_quota() {
    let env =
        env_with(|s| s.extra_inbound = "rate_limit_per_origin_per_sec = 1\nrate_limit_burst = 2")
            .await;
    let target = "/_matrix/federation/v1/state/%21r%3Ahs.test";
    let forged = signed(
        "GET",
        "/_matrix/federation/v1/state/%21other%3Ahs.test",
        None,
    );
    let forged =
        String::from_utf8(forged)
            .unwrap()
            .replacen("%21other%3Ahs.test", "%21r%3Ahs.test", 1);
    for _ in 0..5 {
        let response = send_raw(env.gw.addr, forged.as_bytes()).await;
        assert_eq!(response.status, 401, "forged signature refused");
    }
    for _ in 0..2 {
        let response = send_raw(env.gw.addr, &signed("GET", target, None)).await;
        assert_eq!(response.status, 200, "the origin's quota is intact");
    }
}

#[tokio::test]
async fn make_join_only_for_users_of_the_origin() {
    let env = env().await;
    let target = "/_matrix/federation/v1/make_join/%21r%3Ahs.test/%40mallory%3Ahs.test?ver=11";
    refused(&env, &signed("GET", target, None), 403, "M_FORBIDDEN").await;
    let target = "/_matrix/federation/v1/make_join/%21r%3Ahs.test/not-a-user";
    refused(&env, &signed("GET", target, None), 404, "M_UNRECOGNIZED").await;
}

#[tokio::test]
async fn a_configured_header_count_limit_other_than_hyper_default_applies() {
    // 100 is hyper's own limit and is not passed to it; any other value is.
    let env = env_with(|setup| setup.extra_inbound = "max_headers = 20").await;
    let headers = |count: usize| -> Vec<(String, String)> {
        (0..count)
            .map(|i| (format!("X-H{i}"), "v".to_owned()))
            .collect()
    };
    for (count, status) in [(10, 200), (30, 431)] {
        let extra = headers(count);
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let response = send_raw(
            env.gw.addr,
            &raw_request("GET", "/_matrix/federation/v1/version", &extra, None),
        )
        .await;
        assert_eq!(response.status, status, "{count} headers: {response:?}");
    }
}
