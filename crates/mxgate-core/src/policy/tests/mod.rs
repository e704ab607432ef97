//! Trust-model tests: shared fixtures and the plain-data types.
//!
//! Servers of the fixture directory:
//! - internal: `a.gouv.example`, `b.gouv.example` (homeservers) and
//!   `far.gouv.example` (a `[[remote]]` with `tier = "internal"`);
//! - `ext.example`, `ext2.example`: tier `external`;
//! - `la.example`: tier `local_authority` (`may_moderate`, `may_join_public_rooms`);
//! - `named.example`: tier `named` (`may_change_displayname`);
//! - `bridge.example`: tier `bridge` (`may_invite_other_externals`);
//! - anything else (`evil.example`) is unknown.

mod level;
mod rules;

use std::collections::BTreeMap;

use crate::ids::{ServerName, UserId};

use super::*;

/// Users of the fixture directory, by class.
pub(super) const IN: &str = "@alice:a.gouv.example";
pub(super) const IN_B: &str = "@bob:b.gouv.example";
pub(super) const IN_FAR: &str = "@fay:far.gouv.example";
pub(super) const EXT: &str = "@eve:ext.example";
pub(super) const EXT_SAME: &str = "@ed:ext.example";
pub(super) const EXT2: &str = "@xia:ext2.example";
pub(super) const LA: &str = "@lou:la.example";
pub(super) const NAMED: &str = "@nat:named.example";
pub(super) const BRIDGE: &str = "@bri:bridge.example";
pub(super) const UNKNOWN: &str = "@mal:evil.example";

pub(super) fn u(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

pub(super) fn s(name: &str) -> ServerName {
    ServerName::parse(name).unwrap()
}

pub(super) fn directory() -> Directory {
    let mut tiers = BTreeMap::new();
    let local_authority = TierRights {
        may_moderate: true,
        may_join_public_rooms: true,
        ..TierRights::default()
    };
    tiers.insert("local_authority".to_owned(), local_authority);
    let named = TierRights {
        may_change_displayname: true,
        ..TierRights::default()
    };
    tiers.insert("named".to_owned(), named);
    let bridge = TierRights {
        may_invite_other_externals: true,
        ..TierRights::default()
    };
    tiers.insert("bridge".to_owned(), bridge);
    let mut dir = Directory::new(tiers).unwrap();
    dir.add_internal(s("a.gouv.example")).unwrap();
    dir.add_internal(s("b.gouv.example")).unwrap();
    dir.add_remote(s("far.gouv.example"), "internal").unwrap();
    dir.add_remote(s("ext.example"), "external").unwrap();
    dir.add_remote(s("ext2.example"), "external").unwrap();
    dir.add_remote(s("la.example"), "local_authority").unwrap();
    dir.add_remote(s("named.example"), "named").unwrap();
    dir.add_remote(s("bridge.example"), "bridge").unwrap();
    dir
}

/// A room with default power levels.
pub(super) fn room(join_rule: JoinRule, open: bool, members: &[(&str, Membership)]) -> RoomState {
    RoomState {
        join_rule,
        access_open: open,
        members: members.iter().map(|(id, m)| (u(id), *m)).collect(),
        power_levels: PowerLevels::default(),
    }
}

/// The refusing rule, or `None` when allowed.
pub(super) fn outcome(result: Result<Permit, Denied>) -> Option<Rule> {
    result.err().map(|denied| denied.rule)
}

#[test]
fn tier_rights_builtins() {
    let all = TierRights {
        may_moderate: true,
        may_join_public_rooms: true,
        may_change_displayname: true,
        may_change_avatar: true,
        may_invite_other_externals: true,
    };
    assert_eq!(TierRights::INTERNAL, all);
    assert_eq!(TierRights::EXTERNAL, TierRights::default());
    assert_eq!(TierRights::builtin("internal"), Some(&TierRights::INTERNAL));
    assert_eq!(TierRights::builtin("external"), Some(&TierRights::EXTERNAL));
    assert_eq!(TierRights::builtin("local_authority"), None);
}

#[test]
fn tier_rights_from_toml() {
    let text = "may_moderate = true\nmay_join_public_rooms = true\n";
    let rights: TierRights = toml::from_str(text).unwrap();
    assert!(rights.may_moderate && rights.may_join_public_rooms);
    assert!(!rights.may_change_displayname && !rights.may_invite_other_externals);
    assert!(toml::from_str::<TierRights>("may_moderat = true").is_err());
    assert!(toml::from_str::<TierRights>("may_moderate = 1").is_err());
}

#[test]
fn trust_settings_defaults_and_toml() {
    let defaults: TrustSettings = toml::from_str("").unwrap();
    assert_eq!(defaults, TrustSettings::default());
    assert_eq!(defaults.access_rules_event, "im.vector.room.access_rules");
    assert_eq!(defaults.open_values, ["unrestricted"]);
    assert_eq!(defaults.moderator_level, 50);
    assert!(!defaults.pin_displayname_across_rooms);
    let text = "open_values = [\"open\", \"unrestricted\"]\nmoderator_level = 100\n";
    let custom: TrustSettings = toml::from_str(text).unwrap();
    assert_eq!(custom.moderator_level, 100);
    assert_eq!(custom.open_values.len(), 2);
    assert!(toml::from_str::<TrustSettings>("access_rule_event = \"x\"").is_err());
}

#[test]
fn access_rule_values() {
    let settings = TrustSettings::default();
    let cases = [
        (Some("unrestricted"), true),
        (Some("restricted"), false),
        (Some("direct"), false),
        (Some("Unrestricted"), false),
        (Some(""), false),
        (None, false),
    ];
    for (rule, open) in cases {
        assert_eq!(access_rule_open(rule, &settings), open, "{rule:?}");
    }
    let custom = TrustSettings {
        open_values: vec!["open".to_owned()],
        ..TrustSettings::default()
    };
    assert!(access_rule_open(Some("open"), &custom));
    assert!(!access_rule_open(Some("unrestricted"), &custom));
}

#[test]
fn classify_servers() {
    let dir = directory();
    assert_eq!(dir.classify(&s("a.gouv.example")), Class::Internal);
    assert_eq!(dir.classify(&s("far.gouv.example")), Class::Internal);
    assert_eq!(dir.classify(&s("evil.example")), Class::Unknown);
    assert_eq!(dir.classify(&s("ext.example:8448")), Class::Unknown);
    let Class::External { tier, rights } = dir.classify(&s("la.example")) else {
        panic!("la.example should be external");
    };
    assert_eq!(tier, "local_authority");
    assert!(rights.may_moderate && !rights.may_change_displayname);
    let Class::External { tier, rights } = dir.classify_user(&u("@e:ext.example")) else {
        panic!("ext.example should be external");
    };
    assert_eq!((tier, rights), ("external", &TierRights::EXTERNAL));
    assert_eq!(dir.tier("internal"), Some(&TierRights::INTERNAL));
    assert_eq!(dir.tier("nope"), None);
}

#[test]
fn directory_errors() {
    let mut dir = directory();
    let err = dir.add_remote(s("new.example"), "nope").unwrap_err();
    assert_eq!(err.reason(), "unknown_tier");
    let err = dir.add_remote(s("a.gouv.example"), "external").unwrap_err();
    assert_eq!(err, DirectoryError::Conflict(s("a.gouv.example")));
    let err = dir.add_internal(s("ext.example")).unwrap_err();
    assert_eq!(err.reason(), "server_conflict");
    assert_eq!(
        dir.add_remote(s("la.example"), "named")
            .unwrap_err()
            .reason(),
        "server_conflict"
    );
    assert!(dir.add_remote(s("la.example"), "local_authority").is_ok());
    let mut tiers = BTreeMap::new();
    tiers.insert("external".to_owned(), TierRights::INTERNAL);
    let err = Directory::new(tiers).unwrap_err();
    assert_eq!(err.reason(), "builtin_tier");
}

#[test]
fn apply_modes() {
    let denied = Denied::new(Rule::PublicRoom, "nope");
    assert_eq!(apply(Mode::Enforce, Ok(Permit)), Verdict::Allowed);
    assert_eq!(apply(Mode::Report, Ok(Permit)), Verdict::Allowed);
    let refused = apply(Mode::Enforce, Err(denied.clone()));
    assert_eq!(refused, Verdict::Refused(denied.clone()));
    assert_eq!(
        apply(Mode::Report, Err(denied.clone())),
        Verdict::WouldRefuse(denied)
    );
    assert_eq!(
        toml::from_str::<BTreeMap<String, Mode>>("m = \"report\"").unwrap()["m"],
        Mode::Report
    );
    assert_eq!(Mode::default(), Mode::Enforce);
}

#[test]
fn denied_names_rule() {
    let denied = Denied::new(Rule::TransitiveInvite, "detail here");
    assert_eq!(denied.errcode, "M_FORBIDDEN");
    assert_eq!(denied.reason(), "transitive_invite");
    let text = denied.to_string();
    assert!(
        text.contains("transitive_invite") && text.contains("detail here"),
        "{text}"
    );
    let labels: std::collections::BTreeSet<_> = Rule::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels.len(), Rule::ALL.len());
    assert!(
        labels
            .iter()
            .all(|l| l.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    );
}

#[test]
fn join_rule_and_membership_parse() {
    for value in [
        "public",
        "invite",
        "knock",
        "restricted",
        "knock_restricted",
        "private",
        "x",
    ] {
        assert_eq!(JoinRule::parse(value).as_str(), value);
    }
    assert_eq!(JoinRule::parse("public"), JoinRule::Public);
    assert_eq!(
        JoinRule::parse("Public"),
        JoinRule::Other("Public".to_owned())
    );
    assert_eq!(Membership::parse("invite"), Some(Membership::Invite));
    assert_eq!(Membership::parse("joined"), None);
    assert!(Membership::Join.is_present() && Membership::Invite.is_present());
    assert!(!Membership::Leave.is_present() && !Membership::Knock.is_present());
}
