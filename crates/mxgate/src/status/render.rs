//! Rendering a [`Snapshot`]: the self-contained HTML status page (`GET /`)
//! and the text table of `mxgate status`.

use std::fmt::Write as _;

use super::{
    snapshot::{KeyStatus, ServerStatus, Snapshot},
    time::{format_relative, format_utc},
};

/// The status page: one HTML document, inline CSS, no scripts or external
/// assets, reloading itself every 5 seconds. Every value is HTML-escaped.
pub fn html_page(snapshot: &Snapshot) -> String {
    let mut page = String::with_capacity(8192);
    page.push_str(HEAD);
    let _ = write!(
        page,
        "<header><h1>mxgate status</h1><p>mode <b>{}</b> · up since {} · page generated {}</p></header>",
        escape(&snapshot.mode),
        escape(&format_utc(snapshot.started_at_ms)),
        escape(&format_utc(snapshot.generated_at_ms)),
    );
    write_warnings(&mut page, snapshot);
    let mut tiers: Vec<&str> = snapshot.servers.iter().map(|s| s.tier.as_str()).collect();
    tiers.dedup();
    for tier in tiers {
        let rows: Vec<&ServerStatus> = snapshot.servers.iter().filter(|s| s.tier == tier).collect();
        write_tier(&mut page, tier, &rows, snapshot.generated_at_ms);
    }
    write_refusals(&mut page, snapshot);
    page.push_str("</body></html>\n");
    page
}

/// The snapshot as plain-text tables for a terminal.
pub fn text_table(snapshot: &Snapshot) -> String {
    let now = snapshot.generated_at_ms;
    let mut out = format!(
        "mxgate status — mode {}, up since {}\n\n",
        snapshot.mode,
        format_utc(snapshot.started_at_ms)
    );
    let header = [
        "",
        "SERVER",
        "TIER",
        "KEYS",
        "LAST IN",
        "LAST OUT",
        "ACCEPTED in/out",
        "REFUSED",
    ];
    let mut rows: Vec<[String; 8]> = vec![header.map(str::to_owned)];
    for server in &snapshot.servers {
        rows.push([
            marker_symbol(&server.marker).to_owned(),
            server.server_name.clone(),
            tier_label(server),
            key_text(&server.keys, now),
            last_seen(server.last_inbound_ms, now),
            last_seen(server.last_outbound_ms, now),
            format!("{}/{}", server.accepted_inbound, server.accepted_outbound),
            refused_text(server),
        ]);
    }
    write_columns(&mut out, &rows);
    out.push_str("\nRecent refusals (newest first):\n");
    if snapshot.recent_refusals.is_empty() {
        out.push_str("  none\n");
    }
    for r in &snapshot.recent_refusals {
        let _ = writeln!(
            out,
            "  {}  {:<8} {} -> {}  {} {}  {} ({} {})",
            format_utc(r.ts),
            r.direction,
            r.origin.as_deref().unwrap_or("?"),
            r.destination.as_deref().unwrap_or("?"),
            r.method,
            r.path,
            r.reason,
            r.status,
            r.verdict
        );
    }
    out
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const HEAD: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mxgate status</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#1b1f24;background:#f6f8fa}
header h1{margin:0 0 .2em 0;font-size:1.6em}header p{margin:0 0 1em 0;color:#57606a}
h2{font-size:1.15em;margin:1.4em 0 .4em 0}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #d0d7de;vertical-align:top;font-size:.95em;overflow-wrap:anywhere}
th{background:#eaeef2}
.dot{display:inline-block;width:.9em;height:.9em;border-radius:50%;margin-right:.4em;vertical-align:-.1em}
.green{background:#1a7f37}.orange{background:#e16f24}.red{background:#cf222e}.grey{background:#8c959f}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:.5em .8em;margin:.3em 0}
.bad{color:#cf222e;font-weight:600}.ok{color:#1a7f37}.muted{color:#57606a}
code{font-family:ui-monospace,monospace;font-size:.92em;overflow-wrap:anywhere}
table.servers{table-layout:fixed}
</style></head><body>
"#;

fn write_warnings(page: &mut String, snapshot: &Snapshot) {
    for server in snapshot.servers.iter().filter(|s| s.keys.warning) {
        let _ = write!(
            page,
            "<div class=\"warn\">⚠ keys of <b>{}</b>: {}</div>",
            escape(&server.server_name),
            escape(&key_text(&server.keys, snapshot.generated_at_ms))
        );
    }
    let down = snapshot
        .servers
        .iter()
        .filter(|s| s.upstream.as_ref().is_some_and(|u| u.state == "down"));
    for server in down {
        let _ = write!(
            page,
            "<div class=\"warn\">⚠ upstream of <b>{}</b> is down</div>",
            escape(&server.server_name)
        );
    }
}

fn write_tier(page: &mut String, tier: &str, rows: &[&ServerStatus], now: u64) {
    let marker = rows.first().map_or("grey", |s| s.marker.as_str());
    let _ = write!(
        page,
        "<section class=\"tier\" data-tier=\"{t}\"><h2><span class=\"dot {m}\"></span>tier {t} ({n})</h2>\
         <table class=\"servers\"><tr><th>server</th><th>keys</th><th>upstream</th><th>last in</th><th>last out</th>\
         <th>accepted in / out</th><th>refused by reason</th></tr>",
        t = escape(tier),
        m = escape(marker),
        n = rows.len(),
    );
    for server in rows {
        let key_class = if server.keys.warning { "bad" } else { "" };
        let _ = write!(
            page,
            "<tr class=\"server\" data-marker=\"{m}\"><td><span class=\"dot {m}\" title=\"{m}\"></span><code>{name}</code>{fronted}</td>\
             <td class=\"{key_class}\">{keys}</td><td>{upstream}</td><td>{last_in}</td><td>{last_out}</td>\
             <td>{ai} / {ao}</td><td>{refused}</td></tr>",
            m = escape(&server.marker),
            name = escape(&server.server_name),
            fronted = if server.fronted {
                " <span class=\"muted\">(ours)</span>"
            } else {
                ""
            },
            keys = escape(&key_text(&server.keys, now)),
            upstream = upstream_html(server),
            last_in = escape(&last_seen(server.last_inbound_ms, now)),
            last_out = escape(&last_seen(server.last_outbound_ms, now)),
            ai = server.accepted_inbound,
            ao = server.accepted_outbound,
            refused = escape(&refused_text(server)),
        );
    }
    page.push_str("</table></section>");
}

fn write_refusals(page: &mut String, snapshot: &Snapshot) {
    let _ = write!(
        page,
        "<section id=\"refusals\"><h2>Recent refusals ({})</h2>",
        snapshot.recent_refusals.len()
    );
    if snapshot.recent_refusals.is_empty() {
        page.push_str("<p class=\"muted\">none</p></section>");
        return;
    }
    page.push_str(
        "<table><tr><th>time</th><th>direction</th><th>origin → destination</th>\
         <th>request</th><th>reason</th><th>status</th></tr>",
    );
    for r in &snapshot.recent_refusals {
        let _ = write!(
            page,
            "<tr class=\"refusal\"><td>{ts}</td><td>{dir}</td><td><code>{o}</code> → <code>{d}</code></td>\
             <td><code>{m} {p}</code></td><td class=\"bad reason\">{reason}</td><td>{st} {v}</td></tr>",
            ts = escape(&format_utc(r.ts)),
            dir = escape(&r.direction),
            o = escape(r.origin.as_deref().unwrap_or("?")),
            d = escape(r.destination.as_deref().unwrap_or("?")),
            m = escape(&r.method),
            p = escape(&r.path),
            reason = escape(&r.reason),
            st = r.status,
            v = escape(&r.verdict),
        );
    }
    page.push_str("</table></section>");
}

fn upstream_html(server: &ServerStatus) -> String {
    let Some(upstream) = &server.upstream else {
        return "<span class=\"muted\">—</span>".to_owned();
    };
    let class = match upstream.state.as_str() {
        "up" => "ok",
        "down" => "bad",
        _ => "muted",
    };
    let error = upstream
        .last_error
        .as_deref()
        .map(|e| format!(" (last error: {})", escape(e)))
        .unwrap_or_default();
    format!(
        "<span class=\"{class}\">{}</span>{error}",
        escape(&upstream.state)
    )
}

fn key_text(keys: &KeyStatus, now: u64) -> String {
    let expiry = keys
        .expires_at_ms
        .map(|at| format!(" until {} ({})", format_utc(at), format_relative(at, now)))
        .unwrap_or_default();
    format!("{}{expiry}", keys.state.as_str())
}

fn last_seen(ms: Option<u64>, now: u64) -> String {
    ms.map_or_else(|| "never".to_owned(), |at| format_relative(at, now))
}

fn refused_text(server: &ServerStatus) -> String {
    if server.refused.is_empty() {
        return "0".to_owned();
    }
    let parts: Vec<String> = server
        .refused
        .iter()
        .map(|(reason, count)| format!("{reason}: {count}"))
        .collect();
    parts.join(", ")
}

fn tier_label(server: &ServerStatus) -> String {
    match (&server.upstream, server.fronted) {
        (Some(upstream), true) => format!("{} (ours, upstream {})", server.tier, upstream.state),
        _ => server.tier.clone(),
    }
}

fn marker_symbol(marker: &str) -> &'static str {
    match marker {
        "green" => "●G",
        "orange" => "●O",
        "red" => "●R",
        _ => "○",
    }
}

/// Writes rows as left-aligned columns (widths in chars).
fn write_columns<const N: usize>(out: &mut String, rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}
