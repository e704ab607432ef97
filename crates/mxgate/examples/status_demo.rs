//! Serves the status board (`GET /` and `GET /status`) filled with sample
//! data, for looking at the page and for the headless-browser test
//! (`e2e/test_status_page.py`).
//!
//! ```sh
//! cargo run -p mxgate --example status_demo -- 127.0.0.1:9099
//! ```
//!
//! The sample: two fronted homeservers (one upstream down), an internal
//! remote, a `local_authority` remote, an external partner whose cached
//! keys expire in 5 hours (loaded from a temporary `state_dir` by the real
//! keyring), and refusals of an unknown server.

use std::{convert::Infallible, path::Path, sync::Arc};

use ed25519_dalek::SigningKey;
use http_body_util::Full;
use hyper::{Response, StatusCode, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use mxgate::{
    audit::AuditRecord,
    client::{ClientOptions, HttpClient},
    keyring::{Clock, KeySource, Keyring, KeyringSettings, SystemClock},
    status::{Direction, StatusBoard},
};
use mxgate_core::{
    config::Config,
    ids::{KeyId, ServerName},
    keys::build_key_response,
};
use tokio::net::TcpListener;

const CONFIG: &str = r#"
[gateway]
state_dir = "state"
[inbound]
listen = "127.0.0.1:8448"
[tiers.local_authority]
may_moderate = true
may_join_public_rooms = true
[[homeserver]]
server_name = "hs1.gov.test"
upstream = "http://127.0.0.1:8008"
[[homeserver]]
server_name = "hs2.gov.test"
upstream = "http://127.0.0.1:8009"
[[remote]]
server_name = "ministry.gov.test"
tier = "internal"
address = "127.0.0.1:9447"
keys = { "ed25519:m1" = "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw" }
[[remote]]
server_name = "city.example"
tier = "local_authority"
address = "127.0.0.1:9448"
keys = { "ed25519:c1" = "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw" }
[[remote]]
server_name = "partner.example"
tier = "external"
address = "127.0.0.1:9449"
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9099".to_owned());
    let state = std::env::temp_dir().join(format!("mxgate-status-demo-{}", std::process::id()));
    let board = Arc::new(sample_board(&state)?);
    let listener = TcpListener::bind(&listen).await?;
    println!("status page: http://{}/", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let board = board.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let response = board
                    .admin_routes(req.method(), req.uri().path())
                    .unwrap_or_else(|| {
                        let mut response = Response::new(Full::default());
                        *response.status_mut() = StatusCode::NOT_FOUND;
                        response
                    });
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

fn sample_board(state: &Path) -> Result<StatusBoard, Box<dyn std::error::Error>> {
    let now = SystemClock.now_ms();
    let config = Config::from_toml_str(CONFIG, state).map_err(|p| format!("{p:?}"))?;
    let keyring = sample_keyring(&config, state, now)?;
    let board = StatusBoard::new(now - 2 * 3_600_000);
    board.watch(Arc::new(config), Some(keyring));
    for (server, inbound, outbound) in [
        ("ministry.gov.test", 120, 95),
        ("city.example", 14, 9),
        ("partner.example", 31, 40),
    ] {
        for i in 0..inbound {
            board.record(
                Direction::Inbound,
                Some(server),
                "accepted",
                "ok",
                now - 3_000 - i,
            );
        }
        for i in 0..outbound {
            board.record(
                Direction::Outbound,
                Some(server),
                "accepted",
                "ok",
                now - 65_000 - i,
            );
        }
    }
    board.upstream("hs1.gov.test", true, None, now - 7_200_000);
    let refusals = [
        (
            "inbound",
            "stranger.example",
            "hs1.gov.test",
            "PUT",
            "/_matrix/federation/v2/invite/!a:stranger.example/$x",
            "unknown_origin",
            403,
        ),
        (
            "inbound",
            "partner.example",
            "hs1.gov.test",
            "PUT",
            "/_matrix/federation/v1/send/1718",
            "bad_signature",
            401,
        ),
        (
            "outbound",
            "hs1.gov.test",
            "unlisted.example",
            "GET",
            "/_matrix/federation/v1/query/profile",
            "destination_not_allowed",
            403,
        ),
        (
            "inbound",
            "partner.example",
            "hs2.gov.test",
            "PUT",
            "/_matrix/federation/v1/send/1719",
            "upstream_unreachable",
            502,
        ),
        (
            "inbound",
            "stranger.example",
            "hs1.gov.test",
            "GET",
            "/_matrix/federation/v1/make_join/!a:hs1.gov.test/@eve:stranger.example",
            "unknown_origin",
            403,
        ),
    ];
    for (i, (direction, origin, destination, method, path, reason, status)) in
        refusals.into_iter().enumerate()
    {
        board.refusal(&AuditRecord {
            ts: now - 60_000 + 10_000 * i as u64,
            direction,
            origin: Some(origin.to_owned()),
            destination: Some(destination.to_owned()),
            method: method.to_owned(),
            path: path.to_owned(),
            endpoint: "other",
            verdict: if status == 502 { "failed" } else { "rejected" },
            reason,
            status,
        });
    }
    Ok(board)
}

/// A keyring that loads `partner.example`'s keys (expiring in 5 h) from a
/// cache file, as after a restart.
fn sample_keyring(
    config: &Config,
    state: &Path,
    now: u64,
) -> Result<Keyring, Box<dyn std::error::Error>> {
    let partner = ServerName::parse("partner.example")?;
    let response = build_key_response(
        &partner,
        &KeyId::parse("ed25519:p1")?,
        &SigningKey::from_bytes(&[9; 32]),
        now + 5 * 3_600_000,
    );
    let stored = serde_json::json!({
        "server_name": partner.as_str(),
        "fetched_at": now - 3_600_000,
        "response": String::from_utf8(response)?,
    });
    std::fs::create_dir_all(state.join("state/keys"))?;
    std::fs::write(
        state.join("state/keys/partner.example.json"),
        stored.to_string(),
    )?;
    let servers = config.remotes.iter().map(|r| {
        let source = if r.keys.is_empty() {
            KeySource::Fetch
        } else {
            KeySource::Pinned(r.keys.clone())
        };
        (r.server_name.clone(), source)
    });
    let client = HttpClient::new(Vec::new(), ClientOptions::default())?;
    Ok(Keyring::new(
        servers,
        client,
        Some(&config.gateway.state_dir),
        Arc::new(SystemClock),
        KeyringSettings::default(),
    ))
}
