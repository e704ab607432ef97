//! The status board behind a real HTTP listener: `GET /status`, `GET /`,
//! `mxgate status --admin URL` (the built binary) and the library client.

use std::{convert::Infallible, net::SocketAddr, path::Path, process::Command, sync::Arc};

use http_body_util::Full;
use hyper::{Response, StatusCode, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use mxgate::{
    audit::AuditRecord,
    keyring::{Clock, SystemClock},
    status::{Direction, KeyState, StatusBoard, fetch::fetch_snapshot},
};
use mxgate_core::config::Config;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

const CONFIG: &str = r#"
[gateway]
state_dir = "state"
[inbound]
listen = "127.0.0.1:8448"
[[homeserver]]
server_name = "hs1.gov.test"
upstream = "http://127.0.0.1:8008"
[[remote]]
server_name = "partner.example"
tier = "external"
address = "127.0.0.1:9448"
"#;

/// Serves `board.admin_routes` (404 otherwise) on 127.0.0.1, as the admin
/// listener does once hooked.
async fn serve(board: Arc<StatusBoard>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let board = board.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let response = board
                        .admin_routes(req.method(), req.uri().path())
                        .unwrap_or_else(|| {
                            let mut r = Response::new(Full::default());
                            *r.status_mut() = StatusCode::NOT_FOUND;
                            r
                        });
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

fn board() -> Arc<StatusBoard> {
    let now = SystemClock.now_ms();
    let board = Arc::new(StatusBoard::new(now - 3_600_000));
    let config = Config::from_toml_str(CONFIG, Path::new("/tmp")).unwrap();
    board.watch(Arc::new(config), None);
    board.record(
        Direction::Inbound,
        Some("partner.example"),
        "accepted",
        "ok",
        now - 4000,
    );
    board.upstream("hs1.gov.test", true, None, now - 10_000);
    board.refusal(&AuditRecord {
        ts: now - 2000,
        direction: "inbound",
        origin: Some("stranger.example".to_owned()),
        destination: Some("hs1.gov.test".to_owned()),
        method: "PUT".to_owned(),
        path: "/_matrix/federation/v2/invite/!r:stranger.example/$e".to_owned(),
        endpoint: "invite",
        verdict: "rejected",
        reason: "unknown_origin",
        status: 403,
    });
    board
}

async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

#[tokio::test]
async fn status_json_and_html_over_http() {
    let addr = serve(board()).await;
    let (head, body) = get(addr, "/status").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = json["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["server_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["hs1.gov.test", "partner.example", "stranger.example"]
    );
    assert_eq!(json["servers"][0]["upstream"]["state"], "up");
    assert_eq!(json["servers"][1]["accepted_inbound"], 1);
    assert_eq!(json["servers"][2]["marker"], "red");
    assert_eq!(json["recent_refusals"][0]["reason"], "unknown_origin");

    let (head, page) = get(addr, "/").await;
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html"),
        "{head}"
    );
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    assert!(page.contains("stranger.example") && page.contains("unknown_origin"));
    let (head, _) = get(addr, "/nope").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

#[tokio::test]
async fn library_client_reads_the_snapshot() {
    let addr = serve(board()).await;
    let snapshot = fetch_snapshot(&format!("http://{addr}/")).await.unwrap();
    assert_eq!(snapshot.servers.len(), 3);
    assert_eq!(snapshot.servers[1].keys.state, KeyState::NotFetched);
    let bad = fetch_snapshot("ftp://127.0.0.1:1").await.unwrap_err();
    assert_eq!(bad.reason(), "bad_admin_url");
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let down = fetch_snapshot(&format!("http://{closed}"))
        .await
        .unwrap_err();
    assert_eq!(down.reason(), "admin_unreachable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_command_prints_a_table() {
    let addr = serve(board()).await;
    let mxgate = env!("CARGO_BIN_EXE_mxgate");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(mxgate)
            .args(["status", "--admin", &format!("http://{addr}")])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header = text.lines().find(|l| l.contains("SERVER")).expect("header");
    assert!(
        header.contains("TIER") && header.contains("KEYS") && header.contains("REFUSED"),
        "{text}"
    );
    let hs = text
        .lines()
        .find(|l| l.contains("hs1.gov.test"))
        .expect("hs line");
    assert!(hs.contains("internal (ours, upstream up)"), "{hs}");
    let stranger = text
        .lines()
        .find(|l| l.contains("stranger.example  "))
        .expect("stranger line");
    assert!(stranger.contains("unknown_origin: 1"), "{stranger}");
    assert!(text.contains("unknown_origin (403 rejected)"), "{text}");
}

/// Metric names the Synapse module exports (on Synapse's `/metrics`).
const MODULE_METRICS: [&str; 2] = ["mxgate_rooms_by_trust_level", "mxgate_trust_refusals"];

#[test]
fn dashboard_and_operations_doc_use_only_exported_metric_names() {
    let exported = mxgate::metrics::Metrics::new().encode();
    let families: Vec<&str> = exported
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .chain(MODULE_METRICS)
        .collect();
    assert!(families.contains(&"mxgate_requests"), "{exported}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for file in ["deploy/grafana/mxgate.json", "docs/operations.md"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let mut used = 0;
        for (start, _) in text.match_indices("mxgate_") {
            let name: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name == "mxgate_" {
                continue;
            }
            let base = ["_total", "_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(
                families.contains(&base),
                "{file}: {name} is not an exported metric"
            );
            used += 1;
        }
        assert!(used >= 5, "{file} names only {used} metrics");
    }
}
