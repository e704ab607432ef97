//! Signatures are checked in per-lane batches: many requests at once, some
//! forged, each get their own verdict.

use super::{SEND_BODY, env};
use crate::common::*;

/// Requests sent at once; every fourth one is forged.
const REQUESTS: usize = 48;

#[tokio::test]
async fn concurrent_requests_with_some_forged_signatures_each_get_their_own_verdict() {
    let env = env().await;
    let mut sent = Vec::new();
    for n in 0..REQUESTS {
        let target = format!("/_matrix/federation/v1/send/batch-{n}");
        let forged = n % 4 == 1;
        // A forger names the trusted origin but signs with another key.
        let key = if forged {
            untrusted_key()
        } else {
            remote_key()
        };
        let auth = x_matrix(&key, REMOTE, HS, "PUT", &target, Some(SEND_BODY.as_bytes()));
        let request = raw_request("PUT", &target, &[("Authorization", &auth)], Some(SEND_BODY));
        let addr = env.gw.addr;
        sent.push((
            forged,
            tokio::spawn(async move { send_raw(addr, &request).await }),
        ));
    }
    for (forged, task) in sent {
        let response = task.await.unwrap();
        if forged {
            assert_eq!(response.status, 401, "{response:?}");
            assert_eq!(response.errcode(), "M_UNAUTHORIZED", "{response:?}");
        } else {
            assert_eq!(response.status, 200, "{response:?}");
        }
    }
    let mut forwarded: Vec<String> = env.hs.seen().into_iter().map(|s| s.target).collect();
    forwarded.sort();
    let mut expected: Vec<String> = (0..REQUESTS)
        .filter(|n| n % 4 != 1)
        .map(|n| format!("/_matrix/federation/v1/send/batch-{n}"))
        .collect();
    expected.sort();
    assert_eq!(forwarded, expected, "exactly the genuine requests");
    let metrics = env.gw.gateway.metrics().encode();
    assert!(
        metrics.contains(&format!("mxgate_signatures_checked_total {REQUESTS}\n")),
        "{metrics}"
    );
    // They arrive together and a debug-build check takes a while, so checks
    // queue up behind each other: some batch held more than one (3 to 4
    // batches for the 48 in practice).
    let batches: usize = metrics
        .lines()
        .find_map(|line| line.strip_prefix("mxgate_signature_batches_total "))
        .and_then(|n| n.parse().ok())
        .expect("batch counter");
    assert!(batches < REQUESTS, "{batches} batches: {metrics}");
}
