use std::{path::Path, sync::Arc};

use hyper::Method;
use mxgate_core::config::Config;

use super::*;

const NOW: u64 = 1_750_000_000_000;

const CONFIG: &str = r#"
[gateway]
state_dir = "state"
[inbound]
listen = "127.0.0.1:8448"
[[homeserver]]
server_name = "hs.test"
upstream = "http://127.0.0.1:8008"
[[remote]]
server_name = "partner.example"
tier = "external"
address = "127.0.0.1:9448"
[[remote]]
server_name = "pinned.example"
tier = "external"
address = "127.0.0.1:9449"
keys = { "ed25519:a" = "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw" }
"#;

fn board() -> StatusBoard {
    let config = Config::from_toml_str(CONFIG, Path::new("/tmp")).expect("config");
    let board = StatusBoard::new(NOW - 60_000);
    board.watch(Arc::new(config), None);
    board
}

fn refusal(origin: &str, reason: &'static str, path: &str) -> AuditRecord {
    AuditRecord {
        ts: NOW - 1000,
        direction: "inbound",
        origin: Some(origin.to_owned()),
        destination: Some("hs.test".to_owned()),
        method: "PUT".to_owned(),
        path: path.to_owned(),
        endpoint: "send",
        verdict: "rejected",
        reason,
        status: 401,
    }
}

fn row<'a>(snapshot: &'a Snapshot, name: &str) -> &'a ServerStatus {
    snapshot
        .servers
        .iter()
        .find(|s| s.server_name == name)
        .unwrap_or_else(|| panic!("no row {name}"))
}

#[test]
fn counts_accepted_and_refused_per_server_and_direction() {
    let board = board();
    for _ in 0..3 {
        board.record(
            Direction::Inbound,
            Some("partner.example"),
            "accepted",
            "ok",
            NOW - 5000,
        );
    }
    board.record(
        Direction::Outbound,
        Some("partner.example"),
        "accepted",
        "ok",
        NOW - 2000,
    );
    board.refusal(&refusal(
        "partner.example",
        "bad_signature",
        "/_matrix/federation/v1/send/1",
    ));
    board.refusal(&refusal(
        "partner.example",
        "bad_signature",
        "/_matrix/federation/v1/send/2",
    ));
    let snapshot = board.snapshot(NOW);
    let partner = row(&snapshot, "partner.example");
    assert_eq!(partner.accepted_inbound, 3);
    assert_eq!(partner.accepted_outbound, 1);
    assert_eq!(partner.refused.get("bad_signature"), Some(&2));
    assert_eq!(partner.last_inbound_ms, Some(NOW - 1000));
    assert_eq!(partner.last_outbound_ms, Some(NOW - 2000));
    assert_eq!(partner.marker, "orange");
    assert_eq!(partner.keys.state, KeyState::NotFetched);
    assert_eq!(
        row(&snapshot, "pinned.example").keys.state,
        KeyState::Pinned
    );
    assert_eq!(row(&snapshot, "pinned.example").last_inbound_ms, None);
}

#[test]
fn tiers_sort_internal_first_and_unknown_last_with_markers() {
    let board = board();
    board.refusal(&refusal("evil.example", "unknown_origin", "/x"));
    let snapshot = board.snapshot(NOW);
    let order: Vec<(&str, &str)> = snapshot
        .servers
        .iter()
        .map(|s| (s.server_name.as_str(), s.marker.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("hs.test", "green"),
            ("partner.example", "orange"),
            ("pinned.example", "orange"),
            ("evil.example", "red"),
        ]
    );
    assert!(row(&snapshot, "hs.test").fronted);
    assert_eq!(row(&snapshot, "evil.example").tier, "unknown");
}

#[test]
fn unknown_servers_are_bounded() {
    let board = board();
    for i in 0..(MAX_UNKNOWN_SERVERS + 10) {
        let name = format!("spam{i}.example");
        board.record(
            Direction::Inbound,
            Some(&name),
            "rejected",
            "unknown_origin",
            NOW,
        );
    }
    let snapshot = board.snapshot(NOW);
    let unknown: Vec<&ServerStatus> = snapshot
        .servers
        .iter()
        .filter(|s| s.tier == "unknown")
        .collect();
    assert_eq!(unknown.len(), MAX_UNKNOWN_SERVERS + 1);
    assert_eq!(
        row(&snapshot, OTHER_UNKNOWN).refused.get("unknown_origin"),
        Some(&10)
    );
}

#[test]
fn keeps_only_the_last_refusals_newest_first() {
    let board = board();
    for i in 0..(RECENT_REFUSALS + 5) {
        board.refusal(&refusal(
            "partner.example",
            "bad_signature",
            &format!("/p/{i}"),
        ));
    }
    let snapshot = board.snapshot(NOW);
    assert_eq!(snapshot.recent_refusals.len(), RECENT_REFUSALS);
    assert_eq!(
        snapshot.recent_refusals[0].path,
        format!("/p/{}", RECENT_REFUSALS + 4)
    );
    assert_eq!(snapshot.recent_refusals[RECENT_REFUSALS - 1].path, "/p/5");
}

#[test]
fn upstream_failures_mark_the_homeserver_down_and_recover() {
    let board = board();
    assert_eq!(
        row(&board.snapshot(NOW), "hs.test")
            .upstream
            .as_ref()
            .map(|u| u.state.as_str()),
        Some("unchecked")
    );
    let mut failed = refusal("partner.example", "upstream_unreachable", "/x");
    failed.verdict = "failed";
    failed.status = 502;
    board.refusal(&failed);
    let snapshot = board.snapshot(NOW);
    let upstream = row(&snapshot, "hs.test")
        .upstream
        .clone()
        .expect("upstream");
    assert_eq!(upstream.state, "down");
    assert_eq!(upstream.last_error.as_deref(), Some("upstream_unreachable"));
    board.upstream("hs.test", true, None, NOW);
    let upstream = row(&board.snapshot(NOW), "hs.test")
        .upstream
        .clone()
        .expect("upstream");
    assert_eq!(upstream.state, "up");
    assert_eq!(upstream.since_ms, Some(NOW));
}

#[test]
fn reload_keeps_counters_of_servers_still_configured() {
    let board = board();
    board.record(
        Direction::Inbound,
        Some("partner.example"),
        "accepted",
        "ok",
        NOW,
    );
    let config = Config::from_toml_str(CONFIG, Path::new("/tmp")).expect("config");
    board.watch(Arc::new(config), None);
    assert_eq!(
        row(&board.snapshot(NOW), "partner.example").accepted_inbound,
        1
    );
}

#[test]
fn status_json_round_trips_and_has_stable_field_names() {
    let board = board();
    board.refusal(&refusal("evil.example", "unknown_origin", "/x"));
    let response = board
        .admin_routes_at(&Method::GET, "/status", NOW)
        .expect("route");
    assert_eq!(
        response.headers()[hyper::header::CONTENT_TYPE],
        "application/json"
    );
    let snapshot = board.snapshot(NOW);
    let json = serde_json::to_value(&snapshot).expect("json");
    assert_eq!(json["servers"][0]["server_name"], "hs.test");
    assert_eq!(json["servers"][0]["upstream"]["state"], "unchecked");
    assert_eq!(json["servers"][2]["keys"]["state"], "pinned");
    assert_eq!(json["recent_refusals"][0]["reason"], "unknown_origin");
    assert_eq!(json["mode"], "enforce");
    let back: Snapshot = serde_json::from_value(json).expect("parse back");
    assert_eq!(back, snapshot);
}

#[test]
fn admin_routes_only_answer_get_status_and_root() {
    let board = board();
    assert!(board.admin_routes_at(&Method::GET, "/", NOW).is_some());
    assert!(
        board
            .admin_routes_at(&Method::GET, "/metrics", NOW)
            .is_none()
    );
    assert!(
        board
            .admin_routes_at(&Method::POST, "/status", NOW)
            .is_none()
    );
}

#[test]
fn html_page_is_self_contained_escaped_and_shows_tiers_and_reasons() {
    let board = board();
    board.refusal(&refusal(
        "<script>alert(1)</script>",
        "unknown_origin",
        "/a\"<b>",
    ));
    let page = render::html_page(&board.snapshot(NOW));
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains(r#"<meta http-equiv="refresh" content="5">"#));
    assert!(!page.contains("<script"), "unescaped input in page");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("/a&quot;&lt;b&gt;"));
    for external in ["src=", "href=", "url(", "@import"] {
        assert!(
            !page.contains(external),
            "external asset reference {external}"
        );
    }
    assert!(page.contains(r#"data-tier="internal""#));
    assert!(page.contains(r#"data-tier="external""#));
    assert!(page.contains(r#"data-tier="unknown""#));
    assert!(page.contains(r#"<span class="dot green""#));
    assert!(page.contains(r#"<span class="dot red""#));
    assert!(page.contains(">unknown_origin<"));
}

#[test]
fn key_expiry_warnings_under_a_day() {
    let mut snapshot = board().snapshot(NOW);
    let partner = snapshot
        .servers
        .iter_mut()
        .find(|s| s.server_name == "partner.example")
        .expect("row");
    partner.keys = KeyStatus::new(KeyState::Expiring, Some(NOW + 3 * 3600 * 1000));
    let page = render::html_page(&snapshot);
    assert!(
        page.contains("⚠ keys of <b>partner.example</b>: expiring until"),
        "{page}"
    );
    assert!(page.contains("(in 3 h)"));
    let text = render::text_table(&snapshot);
    assert!(text.contains("expiring until"), "{text}");
}

#[test]
fn text_table_lists_every_server_and_refusal() {
    let board = board();
    board.record(
        Direction::Inbound,
        Some("partner.example"),
        "accepted",
        "ok",
        NOW - 30_000,
    );
    board.refusal(&refusal(
        "evil.example",
        "unknown_origin",
        "/_matrix/federation/v1/send/9",
    ));
    let text = render::text_table(&board.snapshot(NOW));
    let line = text
        .lines()
        .find(|l| l.contains("partner.example"))
        .expect("partner line");
    assert!(
        line.contains("external") && line.contains("30 s ago") && line.contains("1/0"),
        "{line}"
    );
    assert!(text.contains("evil.example"));
    assert!(
        text.contains("PUT /_matrix/federation/v1/send/9  unknown_origin (401 rejected)"),
        "{text}"
    );
}

#[test]
fn escape_covers_html_specials() {
    assert_eq!(
        render::escape(r#"<a href="x">&'"#),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
    );
}
