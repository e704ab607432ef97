//! Building the policy from `mxgate.toml` text.

use std::path::Path;

use mxgate_core::policy::{Class, Mode, room_trust_level};
use serde_json::json;

use super::*;
use crate::convert;

const CONFIG: &str = r#"
[gateway]
mode = "report"
state_dir = "state"

[inbound]
listen = "127.0.0.1:8448"

[[homeserver]]
server_name = "hs1.example"
upstream = "http://127.0.0.1:8008"

[[remote]]
server_name = "hs2.example"
tier = "internal"
address = "hs2.example:8448"

[[remote]]
server_name = "ext.example"
tier = "external"
address = "ext.example:8448"

[[remote]]
server_name = "la.example"
tier = "local_authority"
address = "la.example:8448"

[tiers.local_authority]
may_moderate = true

[trust]
access_rules_event = "org.example.access"
pin_displayname_across_rooms = true
"#;

fn loaded() -> Loaded {
    load(CONFIG, Path::new("/etc/mxgate")).unwrap()
}

#[test]
fn homeservers_and_internal_remotes_are_internal() {
    let loaded = loaded();
    for name in ["hs1.example", "hs2.example"] {
        let class = loaded.directory.classify(&name.parse().unwrap());
        assert_eq!(class, Class::Internal, "{name}");
    }
}

#[test]
fn remotes_get_their_tier_and_others_are_unknown() {
    let loaded = loaded();
    let la = loaded.directory.classify(&"la.example".parse().unwrap());
    let Class::External { tier, rights } = la else {
        panic!("la.example: {la:?}");
    };
    assert_eq!(tier, "local_authority");
    assert!(rights.may_moderate && !rights.may_join_public_rooms);
    let ext = loaded.directory.classify(&"ext.example".parse().unwrap());
    assert!(matches!(
        ext,
        Class::External {
            tier: "external",
            ..
        }
    ));
    let other = loaded.directory.classify(&"x.org".parse().unwrap());
    assert_eq!(other, Class::Unknown);
}

#[test]
fn mode_and_trust_settings_come_from_the_file() {
    let loaded = loaded();
    assert_eq!(loaded.mode, Mode::Report);
    assert_eq!(loaded.settings.access_rules_event, "org.example.access");
    assert!(loaded.settings.pin_displayname_across_rooms);
    let enforce = CONFIG.replace("mode = \"report\"", "");
    let loaded = load(&enforce, Path::new("/")).unwrap();
    assert_eq!(loaded.mode, Mode::Enforce);
}

#[test]
fn trust_level_of_members_uses_the_directory() {
    let loaded = loaded();
    let members = json!({"@a:hs1.example": "join", "@b:la.example": "invite", "@c:x.org": "leave"});
    let room = mxgate_core::policy::RoomState {
        join_rule: Default::default(),
        access_open: false,
        members: convert::members(&members).unwrap(),
        power_levels: Default::default(),
    };
    let trust = convert::trust_json(&room_trust_level(&loaded.directory, &room));
    let expected = json!({
        "level": "orange",
        "servers": {"internal": ["hs1.example"], "external": ["la.example"], "unknown": []},
    });
    assert_eq!(trust, expected);
}

#[test]
fn invalid_config_lists_every_problem() {
    let broken = CONFIG
        .replace(
            "server_name = \"hs1.example\"",
            "server_name = \"bad name\"",
        )
        .replace("tier = \"local_authority\"", "tier = \"nobody\"");
    let err = load(&broken, Path::new("/")).unwrap_err();
    assert_eq!(err.reason(), "invalid_config");
    let text = err.to_string();
    assert!(text.contains("homeserver[0].server_name"), "{text}");
    assert!(text.contains("remote[2].tier"), "{text}");
}

#[test]
fn toml_syntax_error_is_an_error() {
    let err = load("[gateway", Path::new("/")).unwrap_err();
    assert_eq!(err.reason(), "invalid_config");
}
