//! Canonical bodies (as Synapse sends them) are verified over their bytes as
//! they are (`json::scan_canonical`), without a JSON tree: the same verdicts
//! as for any other body.

use super::*;

/// A `/send` body in canonical form: keys sorted, no whitespace.
const CANONICAL_BODY: &str = r#"{"edus":[{"content":{"a":"é\n"},"edu_type":"m.typing"}],"origin":"hs.test","origin_server_ts":1,"pdus":[]}"#;

#[tokio::test]
async fn canonical_bodies_are_verified_as_they_are() {
    let world = World::start("canonical").await;
    let (addr, gw) = world.tcp_gateway("enforce").await;
    let response = send(addr, &proxied("PUT", REMOTE, TARGET, Some(CANONICAL_BODY))).await;
    assert_eq!(response.status, 200, "{response:?}");
    let seen = world.remote.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body.as_ref(), CANONICAL_BODY.as_bytes());

    // Signed for this body, sent with one character changed.
    let secret = format!("Bearer {SECRET}");
    let absolute = format!("matrix-federation://{REMOTE}{TARGET}");
    let auth = x_matrix(
        &hs_key(),
        HS_KEY,
        HS,
        REMOTE,
        "PUT",
        TARGET,
        Some(CANONICAL_BODY),
    );
    let tampered = CANONICAL_BODY.replace("é", "è");
    let headers = [
        ("Proxy-Authorization", secret.as_str()),
        ("Authorization", &auth),
    ];
    let request = proxy_request("PUT", &absolute, REMOTE, &headers, Some(&tampered));
    let response = send(addr, &request).await;
    assert_eq!(response.status, 401, "{response:?}");
    assert_eq!(response.errcode(), "M_UNAUTHORIZED");
    assert_eq!(
        world.remote.requests().len(),
        1,
        "the tampered body was sent"
    );
    let reasons: Vec<_> = gw
        .audit_lines()
        .await
        .iter()
        .map(|l| l["reason"].clone())
        .collect();
    assert_eq!(reasons, ["bad_signature"]);
    let text = gw.metrics.encode();
    let scanned = r#"mxgate_json_bodies_total{direction="outbound",form="canonical"} 2"#;
    assert!(text.contains(scanned), "{text}");
    assert!(!text.contains(r#"form="other""#), "{text}");
}
