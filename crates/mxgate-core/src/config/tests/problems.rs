//! Every validation problem, with its key path and reason.

use super::*;

#[test]
fn empty_path_is_refused() {
    assert_one(
        &MINIMAL.replace("\"state\"", "\"\""),
        "gateway.state_dir",
        "invalid_value",
    );
}

#[test]
fn syntax_error_is_reported_with_its_line() {
    let problem = assert_one(&format!("{MINIMAL}\n[admin\n"), "", "toml");
    assert!(
        matches!(problem.kind, ProblemKind::Toml { line: Some(12), .. }),
        "{problem:?}"
    );
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let p = assert_one(
        &MINIMAL.replace("state_dir", "colour = 1\nstate_dir"),
        "gateway.colour",
        "toml",
    );
    assert!(p.to_string().contains("unknown field `colour`"), "{p}");
    assert_one(&with("[surprise]\nx = 1"), "surprise", "toml");
    let text = with(&(remote("a.example", "") + &remote("b.example", "nickname = \"b\"")));
    assert_one(&text, "remote[1].nickname", "toml");
    assert_one(
        &with("[tiers.partner]\nmay_fly = true"),
        "tiers.partner.may_fly",
        "toml",
    );
    assert_one(&with("[trust]\nfoo = 1"), "trust.foo", "toml");
}

#[test]
fn missing_and_mistyped_keys_are_refused_with_their_path() {
    let p = assert_one(
        &MINIMAL.replace("state_dir = \"state\"", "mode = \"report\""),
        "gateway",
        "toml",
    );
    assert!(p.to_string().contains("state_dir"), "{p}");
    assert_one(
        &MINIMAL.replace("[inbound]", "[inbound]\nmax_headers = \"many\""),
        "inbound.max_headers",
        "toml",
    );
    assert_one(
        &MINIMAL.replace("state_dir", "mode = \"loud\"\nstate_dir"),
        "gateway.mode",
        "toml",
    );
    assert_one(
        &with(&remote("a.example", "discovery = \"dns\"")),
        "remote[0].discovery",
        "toml",
    );
}

#[test]
fn bad_listen_addresses_are_refused() {
    assert_one(
        &MINIMAL.replace("0.0.0.0:8448", "localhost:8448"),
        "inbound.listen",
        "invalid_value",
    );
    assert_one(
        &with("[admin]\nlisten = \"9090\""),
        "admin.listen",
        "invalid_value",
    );
    assert_one(
        &with("[outbound]\nsecret_file = \"s\"\nlisten = \"127.0.0.1\""),
        "outbound.listen",
        "invalid_value",
    );
    assert_one(
        &with("[outbound]\nsecret_file = \"s\"\nlisten = \"unix:\""),
        "outbound.listen",
        "invalid_value",
    );
}

#[test]
fn server_names_are_parsed() {
    assert_one(
        &MINIMAL.replace("ministere-a.example", "ministere a"),
        "homeserver[0].server_name",
        "invalid_value",
    );
    let text = with(
        &remote("a.example", "").replace("server_name = \"a.example\"", "server_name = \"@a:b\""),
    );
    assert_one(&text, "remote[0].server_name", "invalid_value");
    let wks = MINIMAL.replace(
        "upstream",
        "well_known_server = \"gw.example:443\"\nupstream",
    );
    let config = parse(&wks).unwrap();
    assert_eq!(
        config.homeservers[0]
            .well_known_server
            .as_ref()
            .unwrap()
            .as_str(),
        "gw.example:443"
    );
    let bad_wks = MINIMAL.replace("upstream", "well_known_server = \"https://gw\"\nupstream");
    assert_one(&bad_wks, "homeserver[0].well_known_server", "invalid_value");
}

#[test]
fn bad_pinned_keys_are_refused_with_their_path() {
    let text = with(
        &(remote("a.example", "") + &remote("b.example", "keys = { \"ed25519:a_1\" = \"%%%\" }")),
    );
    let found = problems(&text);
    assert_eq!(
        found,
        [
            r#"remote[1].keys."ed25519:a_1": not a valid base64 ed25519 public key: not valid base64"#
        ]
    );
    let short = with(&remote(
        "a.example",
        "keys = { \"ed25519:a_1\" = \"AAAA\" }",
    ));
    assert!(
        problems(&short)[0].contains("32 bytes"),
        "{:?}",
        problems(&short)
    );
    let bad_id = with(&remote(
        "a.example",
        &format!("keys = {{ \"rsa:1\" = \"{}\" }}", key_b64(1)),
    ));
    assert_one(&bad_id, "remote[0].keys.\"rsa:1\"", "invalid_value");
    let mut identity = [0u8; 32];
    identity[0] = 1; // the small-order identity point: a weak key
    let weak = STANDARD_NO_PAD.encode(identity);
    let weak_key = with(&remote(
        "a.example",
        &format!("keys = {{ \"ed25519:w\" = \"{weak}\" }}"),
    ));
    assert!(
        problems(&weak_key)[0].ends_with("(invalid or weak point)"),
        "{:?}",
        problems(&weak_key)
    );
}

#[test]
fn duplicate_server_names_are_refused() {
    let text = with(
        &(remote("Ministere-A.example", "") + &remote("b.example", "") + &remote("b.example", "")),
    );
    let found = problems(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("remote[0].server_name: duplicate")
            && found[0].contains("homeserver[0]"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("remote[2].server_name: duplicate") && found[1].contains("remote[1]"),
        "{found:?}"
    );
}

#[test]
fn tiers_must_exist_and_builtins_cant_be_redefined() {
    let text = with(&remote("a.example", "").replace("\"external\"", "\"partner\""));
    let p = assert_one(&text, "remote[0].tier", "unknown_tier");
    assert!(p.to_string().contains("[tiers.partner]"), "{p}");
    let defined = format!("{text}\n[tiers.partner]\nmay_moderate = true\n");
    let config = parse(&defined).unwrap();
    assert!(config.tier_rights("partner").unwrap().may_moderate);
    assert_eq!(config.tier_rights("external"), Some(&TierRights::EXTERNAL));
    assert_eq!(config.tier_rights("internal"), Some(&TierRights::INTERNAL));
    assert_eq!(config.tier_rights("nobody"), None);
    assert_one(
        &with("[tiers.internal]\nmay_moderate = false"),
        "tiers.internal",
        "builtin_tier",
    );
    assert_one(
        &with("[tiers.external]\nmay_moderate = true"),
        "tiers.external",
        "builtin_tier",
    );
}

#[test]
fn at_least_one_homeserver_is_required() {
    let text = MINIMAL.split("[[homeserver]]").next().unwrap();
    let p = assert_one(text, "homeserver", "no_homeserver");
    assert_eq!(
        p.to_string(),
        "homeserver: at least one [[homeserver]] is required"
    );
}

#[test]
fn remote_address_depends_on_discovery() {
    let no_address = with(&remote("a.example", "").replace("address = \"a.example:8448\"\n", ""));
    assert_one(&no_address, "remote[0].address", "missing_key");
    let config = parse(&format!("{no_address}discovery = \"well-known\"\n")).unwrap();
    assert_eq!(
        (config.remotes[0].discovery, &config.remotes[0].address),
        (Discovery::WellKnown, &None)
    );
    let both = with(&remote("a.example", "discovery = \"well-known\""));
    assert_one(&both, "remote[0].address", "conflicting_key");
    let no_port = with(&remote("a.example", "").replace("a.example:8448", "a.example"));
    assert_one(&no_port, "remote[0].address", "invalid_value");
    let pinned = parse(&with(&remote("a.example", ""))).unwrap();
    assert_eq!(
        pinned.remotes[0].address.as_ref().unwrap().to_string(),
        "a.example:8448"
    );
}

#[test]
fn numbers_out_of_range_are_refused() {
    let small_send = MINIMAL.replace("[inbound]", "[inbound]\nmax_body_send = 65536");
    let p = assert_one(&small_send, "inbound.max_body_send", "out_of_range");
    assert!(p.to_string().contains("at least 3276800"), "{p}");
    assert_one(
        &MINIMAL.replace("[inbound]", "[inbound]\nidle_timeout_secs = 0"),
        "inbound.idle_timeout_secs",
        "out_of_range",
    );
    let huge_rate = MINIMAL.replace("[inbound]", "[inbound]\nrate_limit_burst = 99999999999");
    assert_one(&huge_rate, "inbound.rate_limit_burst", "out_of_range");
    let outbound = with("[outbound]\nsecret_file = \"s\"\nconnect_timeout_secs = 0");
    assert_one(&outbound, "outbound.connect_timeout_secs", "out_of_range");
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let text = r#"
[gateway]
state_dir = "/var/lib/mxgate"
[inbound]
listen = "nowhere"
max_headers = 0
[[remote]]
server_name = "a.example"
tier = "vip"
keys = { "ed25519:1" = "!!" }
[outbound]
listen = "127.0.0.1:9100"
"#;
    let paths: Vec<String> = parse(text)
        .unwrap_err()
        .into_iter()
        .map(|p| p.path)
        .collect();
    let expected = [
        "inbound.listen",
        "inbound.max_headers",
        "homeserver",
        "remote[0].tier",
        "remote[0].address",
        "remote[0].keys.\"ed25519:1\"",
        "outbound.secret_file",
    ];
    assert_eq!(paths, expected);
}
