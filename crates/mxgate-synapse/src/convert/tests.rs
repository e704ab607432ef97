//! Conversion of plain (JSON) data to the policy's values.

use mxgate_core::policy::{
    Denied, JoinRule, Membership, Permit, PowerLevels, Rule, TrustSettings, check_member_profile,
};
use serde_json::{Value, json};

use super::*;

fn user(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

#[test]
fn full_room_state_is_read() {
    let state = json!({
        "join_rule": "public",
        "access_rule": "unrestricted",
        "members": {"@a:hs1.example": "join", "@b:ext.example": "invite", "@c:x.org": "leave"},
        "power_levels": {"users": {"@a:hs1.example": 100}, "users_default": 0, "kick": 40},
        "creators": ["@a:hs1.example"],
    });
    let room = room_state(state, &TrustSettings::default()).unwrap();
    assert_eq!(room.join_rule, JoinRule::Public);
    assert!(room.access_open);
    assert_eq!(room.members.len(), 3);
    assert_eq!(
        room.membership_of(&user("@b:ext.example")),
        Some(Membership::Invite)
    );
    assert_eq!(
        room.membership_of(&user("@c:x.org")),
        Some(Membership::Leave)
    );
    assert_eq!(room.power_levels.level_of(&user("@a:hs1.example")), 100);
    assert_eq!(room.power_levels.kick, 40);
    assert_eq!(
        room.power_levels.ban, 50,
        "missing keys take the spec default"
    );
}

#[test]
fn empty_state_is_closed_invite_only_without_members() {
    let room = room_state(json!({}), &TrustSettings::default()).unwrap();
    assert_eq!(room.join_rule, JoinRule::Invite);
    assert!(!room.access_open);
    assert!(room.members.is_empty());
}

#[test]
fn access_rule_values_follow_the_settings() {
    let settings = TrustSettings {
        open_values: vec!["open".to_owned()],
        ..TrustSettings::default()
    };
    let open = room_state(json!({"access_rule": "open"}), &settings).unwrap();
    let tchap = room_state(json!({"access_rule": "unrestricted"}), &settings).unwrap();
    let restricted = room_state(
        json!({"access_rule": "restricted"}),
        &TrustSettings::default(),
    );
    assert!(open.access_open);
    assert!(!tchap.access_open);
    assert!(!restricted.unwrap().access_open);
}

#[test]
fn room_without_power_levels_event_gives_creators_100_and_state_default_0() {
    let state = json!({"power_levels": null, "creators": ["@a:hs1.example"]});
    let levels = room_state(state, &TrustSettings::default())
        .unwrap()
        .power_levels;
    assert_eq!(levels.level_of(&user("@a:hs1.example")), 100);
    assert_eq!(levels.level_of(&user("@z:hs1.example")), 0);
    assert_eq!(levels.state_default, 0);
    assert_eq!(levels.kick, 50);
}

#[test]
fn power_levels_accept_string_integers_and_event_levels() {
    let content = json!({
        "users": {"@a:hs1.example": "75"},
        "users_default": " 10 ",
        "events": {"m.room.power_levels": 100, "m.room.name": "25"},
        "state_default": 60,
        "notifications": {"room": 50},
    });
    let levels = power_levels(&content).unwrap();
    assert_eq!(levels.level_of(&user("@a:hs1.example")), 75);
    assert_eq!(levels.users_default, 10);
    assert_eq!(levels.events["m.room.power_levels"], 100);
    assert_eq!(levels.events["m.room.name"], 25);
    assert_eq!(levels.state_default, 60);
}

#[test]
fn empty_power_levels_content_is_the_spec_default() {
    assert_eq!(power_levels(&json!({})).unwrap(), PowerLevels::default());
    let nulls = json!({"users": null, "events": null});
    assert_eq!(power_levels(&nulls).unwrap(), PowerLevels::default());
}

#[test]
fn bad_power_levels_are_errors_not_panics() {
    let cases = [
        (json!([]), "invalid_shape"),
        (json!({"users": []}), "invalid_shape"),
        (json!({"events": "x"}), "invalid_shape"),
        (json!({"kick": 1.5}), "invalid_power_level"),
        (json!({"kick": "high"}), "invalid_power_level"),
        (json!({"ban": true}), "invalid_power_level"),
        (json!({"users_default": 1e300}), "invalid_power_level"),
        (
            json!({"users": {"@a:hs1.example": null}}),
            "invalid_power_level",
        ),
        (json!({"users": {"not-a-user": 50}}), "invalid_user_id"),
        (
            json!({"events": {"m.room.name": [1]}}),
            "invalid_power_level",
        ),
    ];
    for (content, reason) in cases {
        let err = power_levels(&content).unwrap_err();
        assert_eq!(err.reason(), reason, "{content}: {err}");
    }
}

#[test]
fn level_error_names_the_key() {
    let err = power_levels(&json!({"users": {"@a:hs1.example": "x"}})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid power level at users.@a:hs1.example: \"x\""
    );
}

#[test]
fn members_as_list_are_joined() {
    let members = members(&json!(["@a:hs1.example", "@b:ext.example"])).unwrap();
    assert_eq!(members.len(), 2);
    assert!(members.iter().all(|(_, m)| *m == Membership::Join));
    assert!(super::members(&Value::Null).unwrap().is_empty());
}

#[test]
fn bad_members_are_errors() {
    let cases = [
        (json!({"@a:hs1.example": "dance"}), "invalid_membership"),
        (json!({"@a:hs1.example": 1}), "invalid_membership"),
        (json!({"a:hs1.example": "join"}), "invalid_user_id"),
        (json!({"@a:": "join"}), "invalid_user_id"),
        (json!([1]), "invalid_shape"),
        (json!("@a:hs1.example"), "invalid_shape"),
    ];
    for (value, reason) in cases {
        let err = members(&value).unwrap_err();
        assert_eq!(err.reason(), reason, "{value}: {err}");
    }
}

#[test]
fn state_with_unknown_or_mistyped_keys_is_refused() {
    let cases = [
        json!({"join_rules": "public"}),
        json!({"join_rule": 3}),
        json!({"creators": "@a:hs1.example"}),
        json!([]),
    ];
    for state in cases {
        let err = room_state(state.clone(), &TrustSettings::default()).unwrap_err();
        assert_eq!(err.reason(), "invalid_shape", "{state}");
    }
}

#[test]
fn unknown_join_rule_is_kept_and_not_public() {
    let room = room_state(json!({"join_rule": "xyz"}), &TrustSettings::default()).unwrap();
    assert_eq!(room.join_rule, JoinRule::Other("xyz".to_owned()));
}

#[test]
fn profiles_ignore_other_member_content_but_not_wrong_types() {
    let content = json!({"membership": "join", "displayname": "Bob", "avatar_url": null});
    let bob = profile(content).unwrap();
    assert_eq!(bob.displayname.as_deref(), Some("Bob"));
    assert_eq!(bob.avatar_url, None);
    assert_eq!(profile(json!({})).unwrap(), OwnedProfile::default());
    for bad in [json!({"displayname": 5}), json!(["Bob"]), json!(null)] {
        assert_eq!(profile(bad).unwrap_err().reason(), "invalid_shape");
    }
}

#[test]
fn owned_profile_feeds_the_rule() {
    let dir = mxgate_core::policy::Directory::new(Default::default()).unwrap();
    let mut dir = dir;
    dir.add_remote("ext.example".parse().unwrap(), "external")
        .unwrap();
    let old = profile(json!({"displayname": "Bob"})).unwrap();
    let new = profile(json!({"displayname": "Robert"})).unwrap();
    let bob = user("@bob:ext.example");
    let outcome = check_member_profile(&dir, Some(old.as_profile()), new.as_profile(), &bob);
    assert_eq!(outcome.unwrap_err().rule, Rule::DisplaynameChange);
    let same = check_member_profile(&dir, Some(old.as_profile()), old.as_profile(), &bob);
    assert_eq!(same, Ok(Permit));
}

#[test]
fn refusal_carries_rule_errcode_and_message() {
    assert_eq!(refusal(Ok(Permit)), None);
    let denied = Denied::new(Rule::PublicRoom, "because");
    let (rule, errcode, message) = refusal(Err(denied)).unwrap();
    assert_eq!((rule, errcode), ("public_room", "M_FORBIDDEN"));
    assert_eq!(message, "refused by trust rule public_room: because");
}

#[test]
fn user_id_errors_keep_the_value() {
    let err = user_id("bob").unwrap_err();
    assert_eq!(err.reason(), "invalid_user_id");
    assert!(err.to_string().contains("\"bob\""), "{err}");
}
