//! Tests of parsing, defaults, paths and every validation problem.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ed25519_dalek::SigningKey;

use super::*;

mod problems;

const BASE: &str = "/etc/mxgate";

pub(super) const MINIMAL: &str = r#"
[gateway]
state_dir = "state"

[inbound]
listen = "0.0.0.0:8448"

[[homeserver]]
server_name = "ministere-a.example"
upstream = "http://10.0.0.5:8008"
"#;

pub(super) fn parse(text: &str) -> Result<Config, Vec<ConfigProblem>> {
    Config::from_toml_str(text, Path::new(BASE))
}

/// The problems of `text`, rendered as the CLI prints them.
pub(super) fn problems(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected problems for:\n{text}"),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

/// Asserts that exactly one problem is reported, at `path`, with `reason`.
pub(super) fn assert_one(text: &str, path: &str, reason: &str) -> ConfigProblem {
    let mut found = parse(text).expect_err("expected a problem");
    assert_eq!(found.len(), 1, "{found:?}");
    let problem = found.remove(0);
    assert_eq!(
        (problem.path.as_str(), problem.reason()),
        (path, reason),
        "{problem}"
    );
    problem
}

pub(super) fn with(extra: &str) -> String {
    format!("{MINIMAL}\n{extra}")
}

pub(super) fn key_b64(seed: u8) -> String {
    STANDARD_NO_PAD.encode(
        SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .as_bytes(),
    )
}

pub(super) fn remote(name: &str, rest: &str) -> String {
    format!(
        "[[remote]]\nserver_name = \"{name}\"\ntier = \"external\"\naddress = \"{name}:8448\"\n{rest}\n"
    )
}

#[test]
fn minimal_config_gets_safe_defaults() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.gateway.mode, Mode::Enforce);
    assert!(config.gateway.verify);
    assert_eq!(config.gateway.audit_log, None);
    assert_eq!(config.inbound.listen, "0.0.0.0:8448".parse().unwrap());
    assert!(config.inbound.tls.is_empty());
    assert!(config.inbound.well_known);
    assert_eq!(config.inbound.limits, InboundLimits::DEFAULT);
    assert!(config.admin.is_none() && config.outbound.is_none() && config.remotes.is_empty());
    assert_eq!(config.trust, TrustSettings::default());
    let hs = &config.homeservers[0];
    assert_eq!(hs.server_name.as_str(), "ministere-a.example");
    assert_eq!(
        (
            hs.upstream.scheme,
            hs.upstream.host.as_str(),
            hs.upstream.port
        ),
        (Scheme::Http, "10.0.0.5", 8008)
    );
}

#[test]
fn default_limits_fit_the_spec() {
    let limits = InboundLimits::DEFAULT;
    assert_eq!(limits.max_header_bytes, 16 * 1024);
    assert_eq!(limits.max_headers, 100);
    assert!(limits.max_body_send >= InboundLimits::MIN_BODY_SEND + 100 * 1024);
    assert_eq!(limits.max_body_other, 256 * 1024);
    assert_eq!(
        (limits.request_timeout, limits.idle_timeout),
        (Duration::from_secs(30), Duration::from_secs(120))
    );
    assert_eq!(limits.max_connections, 10_000);
    assert!(limits.rate_limit_per_origin_per_sec >= 100 && limits.rate_limit_burst >= 500);
}

#[test]
fn limits_and_modes_can_be_set() {
    let text = MINIMAL.replace("state_dir", "mode = \"report\"\nverify = false\nstate_dir").replace(
        "listen = \"0.0.0.0:8448\"",
        "listen = \"[::]:8448\"\nmax_headers = 50\nrequest_timeout_secs = 5\nrate_limit_burst = 7\nwell_known = false",
    );
    let config = parse(&text).unwrap();
    assert_eq!(
        (config.gateway.mode, config.gateway.verify),
        (Mode::Report, false)
    );
    assert_eq!(config.inbound.listen, "[::]:8448".parse().unwrap());
    let limits = config.inbound.limits;
    assert_eq!(
        (
            limits.max_headers,
            limits.request_timeout,
            limits.rate_limit_burst
        ),
        (50, Duration::from_secs(5), 7)
    );
    assert!(!config.inbound.well_known);
    assert_eq!(limits.max_body_send, InboundLimits::DEFAULT.max_body_send);
}

#[test]
fn relative_paths_are_resolved_against_the_config_directory() {
    let text = MINIMAL.replace(
        "state_dir = \"state\"",
        "state_dir = \"state\"\naudit_log = \"/var/log/audit.jsonl\"",
    ) + "[[inbound.tls]]\ncert = \"certs/a.crt\"\nkey = \"../keys/a.key\"\n"
        + "[outbound]\nsecret_file = \"outbound.secret\"\nlisten = \"unix:run/out.sock\"\n";
    let config = parse(&text).unwrap();
    assert_eq!(config.gateway.state_dir, Path::new("/etc/mxgate/state"));
    assert_eq!(
        config.gateway.audit_log.as_deref(),
        Some(Path::new("/var/log/audit.jsonl"))
    );
    assert_eq!(
        config.inbound.tls[0].cert,
        Path::new("/etc/mxgate/certs/a.crt")
    );
    assert_eq!(
        config.inbound.tls[0].key,
        Path::new("/etc/mxgate/../keys/a.key")
    );
    let outbound = config.outbound.as_ref().unwrap();
    assert_eq!(
        outbound.listen,
        OutboundListen::Unix("/etc/mxgate/run/out.sock".into())
    );
    assert_eq!(
        outbound.secret_file,
        Path::new("/etc/mxgate/outbound.secret")
    );
    let files: Vec<String> = config
        .referenced_files()
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(
        files,
        [
            "inbound.tls[0].cert",
            "inbound.tls[0].key",
            "outbound.secret_file"
        ]
    );
}

#[test]
fn upstream_urls_are_parsed() {
    let upstream = |url: &str| {
        parse(&MINIMAL.replace("http://10.0.0.5:8008", url))
            .map(|c| c.homeservers[0].upstream.clone())
    };
    let https = upstream("https://hs.internal").unwrap();
    assert_eq!(
        (https.scheme, https.host.as_str(), https.port),
        (Scheme::Https, "hs.internal", 443)
    );
    assert_eq!(
        upstream("HTTP://[::1]:8008/").unwrap().to_string(),
        "http://[::1]:8008"
    );
    assert_eq!(
        upstream("http://127.0.0.1:8008").unwrap().authority(),
        "127.0.0.1:8008"
    );
    for bad in [
        "10.0.0.5:8008",
        "ftp://h",
        "http://h/_matrix",
        "http://h?x=1",
        "http://u@h",
        "http://",
        "http://h:99999",
    ] {
        let found = upstream(bad).expect_err(bad);
        assert_eq!(
            (found.len(), found[0].path.as_str()),
            (1, "homeserver[0].upstream"),
            "{bad}"
        );
    }
}

#[test]
fn pinned_keys_are_decoded() {
    let key = key_b64(7);
    let config = parse(&with(&remote(
        "a.example",
        &format!("keys = {{ \"ed25519:a_1\" = \"{key}\" }}"),
    )))
    .unwrap();
    let keys = &config.remote("a.example").unwrap().keys;
    let expected = SigningKey::from_bytes(&[7; 32]).verifying_key();
    assert_eq!(keys.get("ed25519:a_1"), Some(&expected));
    let padded = MINIMAL.replace(
        "upstream",
        &format!("keys = {{ \"ed25519:x\" = \"{key}=\" }}\nupstream"),
    );
    assert_eq!(parse(&padded).unwrap().homeservers[0].keys.len(), 1);
}

#[test]
fn spki_pins_are_parsed() {
    let digest = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let config = parse(&with(&remote(
        "a.example",
        &format!("spki_pins = [\"sha256/{digest}\"]"),
    )))
    .unwrap();
    assert_eq!(config.remotes[0].spki_pins, [SpkiPin([9; 32])]);
    assert_eq!(
        config.remotes[0].spki_pins[0].to_string(),
        format!("sha256/{digest}")
    );
    let bad = with(&remote(
        "a.example",
        &format!("spki_pins = [\"sha256/{digest}\", \"{digest}\", \"sha256/AAAA\"]"),
    ));
    let found = problems(&bad);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("remote[0].spki_pins[1]:")
            && found[1].starts_with("remote[0].spki_pins[2]:")
    );
}

#[test]
fn outbound_needs_a_secret_file_and_has_defaults() {
    assert_one(
        &with("[outbound]\nlisten = \"127.0.0.1:9100\""),
        "outbound.secret_file",
        "missing_key",
    );
    let config = parse(&with(
        "[outbound]\nsecret_file = \"/etc/mxgate/secret\"\nca = \"roots.pem\"",
    ))
    .unwrap();
    let outbound = config.outbound.unwrap();
    assert_eq!(
        outbound.listen,
        OutboundListen::Tcp("127.0.0.1:9100".parse().unwrap())
    );
    assert_eq!(
        outbound.ca.as_deref(),
        Some(Path::new("/etc/mxgate/roots.pem"))
    );
    assert_eq!(outbound.connect_timeout, Outbound::DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(
        outbound.response_timeout,
        Outbound::DEFAULT_RESPONSE_TIMEOUT
    );
    assert_eq!(
        outbound.max_concurrency_per_destination,
        Outbound::DEFAULT_MAX_CONCURRENCY_PER_DESTINATION
    );
}

#[test]
fn summary_describes_listeners_servers_and_tiers() {
    let text = with(&format!(
        "[admin]\nlisten = \"127.0.0.1:9090\"\n{}{}[tiers.partner]\n",
        remote(
            "a.example",
            &format!("keys = {{ \"ed25519:a\" = \"{}\" }}", key_b64(3))
        ),
        remote("b.example", "").replace("\"external\"", "\"partner\""),
    ));
    let summary = parse(&text).unwrap().summary();
    for expected in [
        "mode: enforce",
        "inbound: 0.0.0.0:8448 (plain HTTP)",
        "admin: 127.0.0.1:9090",
        "outbound proxy: off",
        "ministere-a.example -> http://10.0.0.5:8008",
        "tier external:\n    a.example at a.example:8448, keys pinned",
        "tier partner:\n    b.example at b.example:8448, keys fetched",
    ] {
        assert!(
            summary.contains(expected),
            "missing {expected:?} in:\n{summary}"
        );
    }
    assert!(!summary.contains("WARNING"));
    let bench = parse(&MINIMAL.replace("state_dir", "verify = false\nstate_dir"))
        .unwrap()
        .summary();
    assert!(bench.contains("WARNING: verify = false"), "{bench}");
}
