//! Pins `ruma_common`'s redaction to the spec's per-version rules
//! (<https://spec.matrix.org/v1.16/rooms/v11/#redactions> and the earlier versions' pages).

use ruma_common::{CanonicalJsonObject, CanonicalJsonValue};
use serde_json::json;

use super::{EventError, RoomVersion, redact};

fn obj(value: serde_json::Value) -> CanonicalJsonObject {
    match CanonicalJsonValue::try_from(value).unwrap() {
        CanonicalJsonValue::Object(o) => o,
        other => panic!("not an object: {other:?}"),
    }
}

fn event(kind: &str, content: serde_json::Value) -> CanonicalJsonObject {
    obj(json!({
        "type": kind,
        "room_id": "!r:a.example",
        "sender": "@u:a.example",
        "state_key": "",
        "event_id": "$e:a.example",
        "depth": 3,
        "prev_events": [],
        "auth_events": [],
        "origin": "a.example",
        "origin_server_ts": 1_000,
        "membership": "join",
        "prev_state": [],
        "hashes": {"sha256": "x"},
        "signatures": {"a.example": {"ed25519:k": "s"}},
        "unsigned": {"age": 1},
        "age_ts": 5,
        "redacts": "$x:a.example",
        "extra": true,
        "content": content,
    }))
}

/// Whether the value at `path` survives redaction in `rv`.
fn kept(ev: &CanonicalJsonObject, rv: RoomVersion, path: &[&str]) -> bool {
    let redacted = redact(ev, &rv).unwrap();
    let mut current = &CanonicalJsonValue::Object(redacted);
    for key in path {
        match current {
            CanonicalJsonValue::Object(o) => match o.get(*key) {
                Some(v) => current = v,
                None => return false,
            },
            _ => return false,
        }
    }
    true
}

/// Asserts that `path` is kept exactly in the versions for which `rule` holds.
fn assert_rule(ev: &CanonicalJsonObject, path: &[&str], rule: fn(RoomVersion) -> bool) {
    for rv in RoomVersion::ALL {
        assert_eq!(
            kept(ev, rv, path),
            rule(rv),
            "{path:?} in room version {rv}"
        );
    }
}

#[test]
fn aliases_kept_in_v1_to_v5_only() {
    let ev = event(
        "m.room.aliases",
        json!({"aliases": ["#a:a.example"], "other": 1}),
    );
    assert_rule(&ev, &["content", "aliases"], |v| v <= RoomVersion::V5);
    assert_rule(&ev, &["content", "other"], |_| false);
}

#[test]
fn join_rules_allow_kept_from_v8() {
    let ev = event(
        "m.room.join_rules",
        json!({"join_rule": "restricted", "allow": [], "x": 1}),
    );
    assert_rule(&ev, &["content", "join_rule"], |_| true);
    assert_rule(&ev, &["content", "allow"], |v| v >= RoomVersion::V8);
    assert_rule(&ev, &["content", "x"], |_| false);
}

#[test]
fn member_join_authorised_via_users_server_kept_from_v9() {
    let content = json!({
        "membership": "join",
        "displayname": "U",
        "join_authorised_via_users_server": "@v:b.example",
        "third_party_invite": {"signed": {"token": "t"}, "display_name": "d"},
    });
    let ev = event("m.room.member", content);
    assert_rule(&ev, &["content", "membership"], |_| true);
    assert_rule(&ev, &["content", "displayname"], |_| false);
    assert_rule(&ev, &["content", "join_authorised_via_users_server"], |v| {
        v >= RoomVersion::V9
    });
    assert_rule(&ev, &["content", "third_party_invite", "signed"], |v| {
        v >= RoomVersion::V11
    });
    assert_rule(
        &ev,
        &["content", "third_party_invite", "display_name"],
        |_| false,
    );
}

#[test]
fn create_keeps_all_content_from_v11() {
    let ev = event(
        "m.room.create",
        json!({"creator": "@u:a.example", "room_version": "11"}),
    );
    assert_rule(&ev, &["content", "creator"], |_| true);
    assert_rule(&ev, &["content", "room_version"], |v| v >= RoomVersion::V11);
}

#[test]
fn power_levels_invite_kept_from_v11() {
    let content = json!({
        "ban": 50, "events": {}, "events_default": 0, "kick": 50, "redact": 50,
        "state_default": 50, "users": {}, "users_default": 0, "invite": 0, "notifications": {},
    });
    let ev = event("m.room.power_levels", content);
    for key in [
        "ban",
        "events",
        "events_default",
        "kick",
        "redact",
        "state_default",
        "users",
        "users_default",
    ] {
        assert_rule(&ev, &["content", key], |_| true);
    }
    assert_rule(&ev, &["content", "invite"], |v| v >= RoomVersion::V11);
    assert_rule(&ev, &["content", "notifications"], |_| false);
}

#[test]
fn redaction_keeps_content_redacts_from_v11_and_never_the_top_level_one() {
    let ev = event(
        "m.room.redaction",
        json!({"redacts": "$x:a.example", "reason": "r"}),
    );
    assert_rule(&ev, &["content", "redacts"], |v| v >= RoomVersion::V11);
    assert_rule(&ev, &["content", "reason"], |_| false);
    assert_rule(&ev, &["redacts"], |_| false);
}

#[test]
fn history_visibility_kept_everywhere() {
    let ev = event(
        "m.room.history_visibility",
        json!({"history_visibility": "shared", "y": 1}),
    );
    assert_rule(&ev, &["content", "history_visibility"], |_| true);
    assert_rule(&ev, &["content", "y"], |_| false);
}

#[test]
fn top_level_origin_membership_prev_state_dropped_from_v11() {
    let ev = event("m.room.message", json!({"body": "hi", "msgtype": "m.text"}));
    for key in ["origin", "membership", "prev_state"] {
        assert_rule(&ev, &[key], |v| v <= RoomVersion::V10);
    }
    for key in [
        "type",
        "room_id",
        "sender",
        "state_key",
        "event_id",
        "depth",
        "prev_events",
        "auth_events",
        "origin_server_ts",
        "hashes",
        "signatures",
        "content",
    ] {
        assert_rule(&ev, &[key], |_| true);
    }
    for key in ["unsigned", "age_ts", "extra"] {
        assert_rule(&ev, &[key], |_| false);
    }
    assert_rule(&ev, &["content", "body"], |_| false);
}

#[test]
fn redact_rejects_malformed_events() {
    let cases: [(serde_json::Value, EventError); 4] = [
        (json!({"content": {}}), EventError::MissingField("type")),
        (json!({"type": 1}), EventError::InvalidField("type")),
        (
            json!({"type": "m.room.member", "content": []}),
            EventError::InvalidField("content"),
        ),
        (
            json!({"type": "m.x", "signatures": "s"}),
            EventError::InvalidField("signatures"),
        ),
    ];
    for (ev, expected) in cases {
        assert_eq!(redact(&obj(ev), &RoomVersion::V10), Err(expected));
    }
}
