//! Table-driven tests of the rules, every rule against every tier.
//! Each row asserts the exact outcome: `None` allowed, `Some(rule)` refused.

use super::*;

use JoinRule::{Invite as Inv, Knock, Public, Restricted};
use Membership::{Ban, Invite, Join, Leave};
use Rule::*;

const OPEN: bool = true;
const CLOSED: bool = false;

#[test]
fn invite_cases() {
    let cases: &[(JoinRule, bool, &str, &str, Option<Rule>)] = &[
        (Inv, CLOSED, IN, IN_B, None),
        (Inv, CLOSED, IN, IN_FAR, None),
        (Inv, OPEN, IN_FAR, EXT, None),
        (Inv, CLOSED, IN, EXT, Some(InviteClosedRoom)),
        (Inv, OPEN, IN, EXT, None),
        (Inv, CLOSED, IN, LA, Some(InviteClosedRoom)),
        (Inv, OPEN, IN, LA, None),
        (Inv, OPEN, IN, UNKNOWN, Some(UnknownServer)),
        (Inv, OPEN, EXT, UNKNOWN, Some(UnknownServer)),
        (Inv, OPEN, UNKNOWN, IN, Some(UnknownServer)),
        (Inv, CLOSED, EXT, IN, None),
        (Inv, OPEN, EXT, EXT_SAME, None),
        (Inv, CLOSED, EXT, EXT_SAME, Some(InviteClosedRoom)),
        (Inv, OPEN, EXT, EXT2, Some(TransitiveInvite)),
        (Inv, CLOSED, EXT, EXT2, Some(InviteClosedRoom)),
        (Inv, OPEN, EXT, LA, Some(TransitiveInvite)),
        (Inv, OPEN, LA, EXT, Some(TransitiveInvite)),
        (Inv, CLOSED, LA, IN, None),
        (Inv, OPEN, BRIDGE, EXT2, None),
        (Inv, CLOSED, BRIDGE, EXT2, Some(InviteClosedRoom)),
        (Public, OPEN, IN, EXT, Some(PublicRoom)),
        (Public, OPEN, IN, LA, None),
        (Public, CLOSED, IN, LA, Some(InviteClosedRoom)),
        (Public, CLOSED, IN, IN_B, None),
        (Public, OPEN, BRIDGE, EXT2, Some(PublicRoom)),
    ];
    let (dir, settings) = (directory(), TrustSettings::default());
    for (join_rule, open, inviter, invitee, expected) in cases {
        let state = room(join_rule.clone(), *open, &[(inviter, Join)]);
        let result = check_invite(&dir, &settings, &state, &u(inviter), &u(invitee));
        let case = format!("{inviter} invites {invitee}, {join_rule:?}, open: {open}");
        assert_eq!(outcome(result), *expected, "{case}");
    }
}

#[test]
fn invite_into_moderator_levels() {
    // (invitee, users_default, explicit level of the invitee, expected)
    let cases: &[(&str, i64, Option<i64>, Option<Rule>)] = &[
        (EXT, 50, None, Some(ExternalModerator)),
        (EXT, 49, None, None),
        (EXT, 0, Some(100), Some(ExternalModerator)),
        (LA, 50, None, None),
        (IN_B, 50, None, None),
    ];
    let (dir, settings) = (directory(), TrustSettings::default());
    for (invitee, users_default, preset, expected) in cases {
        let mut state = room(Inv, OPEN, &[(IN, Join)]);
        state.power_levels.users_default = *users_default;
        if let Some(level) = preset {
            state.power_levels.users.insert(u(invitee), *level);
        }
        let result = check_invite(&dir, &settings, &state, &u(IN), &u(invitee));
        let case = format!("{invitee}, users_default {users_default}, level {preset:?}");
        assert_eq!(outcome(result), *expected, "{case}");
    }
}

#[test]
fn join_cases() {
    // (join rule, access open, membership before joining, user, expected)
    type Case = (JoinRule, bool, Option<Membership>, &'static str);
    let cases: &[(Case, Option<Rule>)] = &[
        ((Public, CLOSED, None, IN), None),
        ((Inv, CLOSED, Some(Invite), IN), None),
        ((Public, CLOSED, None, IN_FAR), None),
        ((Public, OPEN, None, EXT), Some(PublicRoom)),
        ((Public, OPEN, Some(Invite), EXT), Some(PublicRoom)),
        ((Public, CLOSED, None, LA), None),
        ((Public, OPEN, None, UNKNOWN), Some(UnknownServer)),
        ((Inv, OPEN, Some(Invite), UNKNOWN), Some(UnknownServer)),
        ((Inv, CLOSED, Some(Invite), EXT), None),
        ((Inv, CLOSED, Some(Join), EXT), None),
        ((Restricted, CLOSED, None, EXT), Some(JoinClosedRoom)),
        ((Restricted, OPEN, None, EXT), None),
        ((Knock, CLOSED, None, LA), Some(JoinClosedRoom)),
        ((Inv, CLOSED, Some(Leave), EXT), Some(JoinClosedRoom)),
        ((Inv, CLOSED, Some(Ban), EXT), Some(JoinClosedRoom)),
    ];
    let dir = directory();
    for ((join_rule, open, membership, user), expected) in cases {
        let mut members = vec![(IN, Join)];
        members.extend(membership.map(|m| (*user, m)));
        let state = room(join_rule.clone(), *open, &members);
        let case = format!("{user} joins, {join_rule:?}, open: {open}, was {membership:?}");
        assert_eq!(
            outcome(check_join(&dir, &state, &u(user))),
            *expected,
            "{case}"
        );
    }
}

/// One edit of the default power levels (kick/ban/redact/state_default 50).
#[derive(Clone, Copy, Debug)]
enum Edit {
    User(&'static str, i64),
    UsersDefault(i64),
    Kick(i64),
    Ban(i64),
    Event(&'static str, i64),
}

fn edited(base: &PowerLevels, edits: &[Edit]) -> PowerLevels {
    let mut levels = base.clone();
    for edit in edits {
        match *edit {
            Edit::User(user, level) => {
                levels.users.insert(u(user), level);
            }
            Edit::UsersDefault(level) => levels.users_default = level,
            Edit::Kick(level) => levels.kick = level,
            Edit::Ban(level) => levels.ban = level,
            Edit::Event(kind, level) => {
                levels.events.insert(kind.to_owned(), level);
            }
        }
    }
    levels
}

#[test]
fn power_levels_cases() {
    use Edit::*;
    const PL: &str = "m.room.power_levels";
    // (other members, old levels, new levels, expected)
    type Case = (
        &'static [(&'static str, Membership)],
        &'static [Edit],
        &'static [Edit],
    );
    let cases: &[(Case, Option<Rule>)] = &[
        ((&[(IN_B, Join)], &[], &[User(IN_B, 100)]), None),
        (
            (&[(EXT, Join)], &[], &[User(EXT, 50)]),
            Some(ExternalModerator),
        ),
        ((&[(EXT, Join)], &[], &[User(EXT, 49)]), None),
        ((&[(LA, Join)], &[], &[User(LA, 100)]), None),
        (
            (&[(NAMED, Join)], &[], &[User(NAMED, 50)]),
            Some(ExternalModerator),
        ),
        (
            (&[(UNKNOWN, Join)], &[], &[User(UNKNOWN, 50)]),
            Some(ExternalModerator),
        ),
        ((&[], &[], &[User(EXT, 100)]), Some(ExternalModerator)),
        (
            (&[(EXT, Join)], &[], &[UsersDefault(50)]),
            Some(ExternalModerator),
        ),
        (
            (&[(EXT, Invite)], &[], &[UsersDefault(50)]),
            Some(ExternalModerator),
        ),
        ((&[(EXT, Leave)], &[], &[UsersDefault(50)]), None),
        (
            (&[(IN_B, Join), (LA, Join)], &[], &[UsersDefault(50)]),
            None,
        ),
        (
            (&[(EXT, Join)], &[], &[UsersDefault(50), User(EXT, 0)]),
            None,
        ),
        ((&[(EXT, Join)], &[], &[Kick(0)]), Some(ExternalModerator)),
        (
            (&[(EXT, Invite)], &[], &[Event(PL, 0)]),
            Some(ExternalModerator),
        ),
        ((&[(EXT, Join)], &[], &[Event("m.room.message", 0)]), None),
        ((&[(EXT, Join)], &[User(EXT, 100)], &[User(EXT, 50)]), None),
        (
            (&[(EXT, Join)], &[User(EXT, 50)], &[User(EXT, 100)]),
            Some(ExternalModerator),
        ),
        ((&[(EXT, Join)], &[], &[Ban(60)]), None),
    ];
    let (dir, settings) = (directory(), TrustSettings::default());
    for ((members, old, new), expected) in cases {
        let mut all = vec![(IN, Join)];
        all.extend_from_slice(members);
        let mut state = room(Inv, OPEN, &all);
        state.power_levels = edited(&state.power_levels, old);
        let levels = edited(&state.power_levels, new);
        let result = check_power_levels_change(&dir, &settings, &state, &levels);
        let case = format!("members {members:?}, {old:?} -> {new:?}");
        assert_eq!(outcome(result), *expected, "{case}");
    }
}

#[test]
fn power_levels_threshold_from_settings() {
    let dir = directory();
    let settings = TrustSettings {
        moderator_level: 100,
        ..TrustSettings::default()
    };
    let mut state = room(Inv, OPEN, &[(IN, Join), (EXT, Join)]);
    let levels = &mut state.power_levels;
    (levels.kick, levels.ban, levels.redact, levels.state_default) = (100, 100, 100, 100);
    assert_eq!(state.power_levels.moderator_threshold(&settings), 100);
    assert_eq!(
        state
            .power_levels
            .moderator_threshold(&TrustSettings::default()),
        50
    );
    for (level, expected) in [(60, None), (99, None), (100, Some(ExternalModerator))] {
        let new = edited(&state.power_levels, &[Edit::User(EXT, level)]);
        let result = check_power_levels_change(&dir, &settings, &state, &new);
        assert_eq!(outcome(result), expected, "level {level}");
    }
}

#[test]
fn join_rules_change_cases() {
    // (old rule, other members, new rule, expected)
    type Case = (JoinRule, &'static [(&'static str, Membership)], JoinRule);
    let cases: &[(Case, Option<Rule>)] = &[
        ((Inv, &[(IN_B, Join), (IN_FAR, Invite)], Public), None),
        ((Inv, &[(EXT, Join)], Public), Some(PublicRoom)),
        ((Inv, &[(EXT, Invite)], Public), Some(PublicRoom)),
        ((Inv, &[(EXT, Leave)], Public), None),
        ((Inv, &[(EXT, Ban)], Public), None),
        ((Inv, &[(LA, Join)], Public), None),
        (
            (Inv, &[(LA, Join), (EXT, Invite)], Public),
            Some(PublicRoom),
        ),
        ((Inv, &[(UNKNOWN, Join)], Public), Some(PublicRoom)),
        ((Public, &[(EXT, Join)], Inv), None),
        ((Public, &[(EXT, Join)], Public), None),
        ((Inv, &[(EXT, Join)], Knock), None),
    ];
    let dir = directory();
    for ((old, members, new), expected) in cases {
        let mut all = vec![(IN, Join)];
        all.extend_from_slice(members);
        let state = room(old.clone(), OPEN, &all);
        let case = format!("{old:?} -> {new:?}, members {members:?}");
        assert_eq!(
            outcome(check_join_rules_change(&dir, &state, new)),
            *expected,
            "{case}"
        );
    }
}

#[test]
fn member_profile_cases() {
    let p = |displayname, avatar_url| Profile {
        displayname,
        avatar_url,
    };
    let (name, pic) = (Some("Eve"), Some("mxc://ext.example/a"));
    let before = Some(p(name, pic));
    // (user, previous profile in the room, new profile, expected)
    let cases: &[(&str, Option<Profile>, Profile, Option<Rule>)] = &[
        (IN, before, p(Some("X"), None), None),
        (EXT, None, p(name, pic), None),
        (EXT, before, p(name, pic), None),
        (EXT, before, p(Some("Alice"), pic), Some(DisplaynameChange)),
        (EXT, before, p(None, pic), Some(DisplaynameChange)),
        (
            EXT,
            Some(p(None, None)),
            p(name, None),
            Some(DisplaynameChange),
        ),
        (EXT, before, p(name, Some("mxc://x/b")), Some(AvatarChange)),
        (EXT, before, p(Some("A"), None), Some(DisplaynameChange)),
        (LA, before, p(Some("A"), pic), Some(DisplaynameChange)),
        (NAMED, before, p(Some("A"), pic), None),
        (NAMED, before, p(name, None), Some(AvatarChange)),
        (UNKNOWN, None, p(name, None), Some(UnknownServer)),
    ];
    let dir = directory();
    for (user, previous, new, expected) in cases {
        let result = check_member_profile(&dir, *previous, *new, &u(user));
        assert_eq!(
            outcome(result),
            *expected,
            "{user}: {previous:?} -> {new:?}"
        );
    }
}

#[test]
fn denial_messages_name_user_and_rule() {
    let (dir, settings) = (directory(), TrustSettings::default());
    let state = room(Inv, CLOSED, &[(IN, Join)]);
    let denied = check_invite(&dir, &settings, &state, &u(IN), &u(EXT)).unwrap_err();
    assert_eq!(denied.errcode, "M_FORBIDDEN");
    assert!(
        denied.message.contains("invite_closed_room"),
        "{}",
        denied.message
    );
    assert!(denied.message.contains(EXT), "{}", denied.message);
}
