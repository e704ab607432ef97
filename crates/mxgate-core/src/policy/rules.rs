//! The trust rules (v1 trust model), one pure function per action.
//!
//! Each function checks the rules in a fixed order and returns the first
//! refusal, so the refusing [`Rule`] is deterministic.

use crate::ids::UserId;

use super::{
    Class, Denied, Directory, JoinRule, Membership, Permit, PowerLevels, RoomState, Rule,
    TierRights, TrustSettings,
};

/// A user's display name and avatar in a room (`m.room.member` content).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Profile<'a> {
    /// `content.displayname`.
    pub displayname: Option<&'a str>,
    /// `content.avatar_url`.
    pub avatar_url: Option<&'a str>,
}

/// May `inviter` invite `invitee` into `room`?
///
/// In order: users of unknown servers never invite nor are invited
/// (`unknown_server`); an external invitee needs a room open to externals
/// (`invite_closed_room`, whoever invites) and, for a public room, a tier with
/// `may_join_public_rooms` (`public_room`); an external inviter may invite
/// only users of our federation and of their own server unless their tier has
/// `may_invite_other_externals` (`transitive_invite`); an external invitee
/// whose current power level in the room (explicit or `users_default`) is at
/// or above the moderator threshold needs `may_moderate`
/// (`external_moderator`).
pub fn check_invite(
    dir: &Directory,
    settings: &TrustSettings,
    room: &RoomState,
    inviter: &UserId,
    invitee: &UserId,
) -> Result<Permit, Denied> {
    let inviter_class = known(dir, inviter)?;
    let rights = match known(dir, invitee)? {
        Class::Internal => return Ok(Permit),
        class => rights_of(&class),
    };
    if !room.access_open {
        let detail = format!("{invitee} is an external user and this room is closed to them");
        return Err(Denied::new(Rule::InviteClosedRoom, detail));
    }
    public_room_allowed(room, invitee, rights)?;
    let same_server = inviter.server_name() == invitee.server_name();
    let inviter_may = rights_of(&inviter_class).may_invite_other_externals;
    if !same_server && !inviter_may {
        let detail =
            format!("{inviter} may not invite users of another external server ({invitee})");
        return Err(Denied::new(Rule::TransitiveInvite, detail));
    }
    let level = room.power_levels.level_of(invitee);
    let threshold = room.power_levels.moderator_threshold(settings);
    if level >= threshold && !rights.may_moderate {
        let detail = format!(
            "{invitee} is an external user and would get power level {level} \
             (moderator threshold {threshold})"
        );
        return Err(Denied::new(Rule::ExternalModerator, detail));
    }
    Ok(Permit)
}

/// May `user` join `room`?
///
/// Users of unknown servers never join (`unknown_server`). An external user
/// may join a public room only with `may_join_public_rooms` (`public_room`);
/// any other room only if already invited (or joined), or if it is open to
/// externals (`join_closed_room`, e.g. a `restricted` join without invite).
pub fn check_join(dir: &Directory, room: &RoomState, user: &UserId) -> Result<Permit, Denied> {
    let rights = match known(dir, user)? {
        Class::Internal => return Ok(Permit),
        class => rights_of(&class),
    };
    if room.join_rule == JoinRule::Public {
        return public_room_allowed(room, user, rights);
    }
    let invited = matches!(
        room.membership_of(user),
        Some(Membership::Invite | Membership::Join)
    );
    if invited || room.access_open {
        return Ok(Permit);
    }
    let detail = format!("{user} is an external user and this room is closed to them");
    Err(Denied::new(Rule::JoinClosedRoom, detail))
}

/// May the room's power levels become `new_levels`?
///
/// Refused (`external_moderator`) when it makes a user who is not internal a
/// moderator without `may_moderate`: their level is at or above the new
/// moderator threshold ([`PowerLevels::moderator_threshold`]) and either they
/// were below the old threshold or their level rises. The users looked at are
/// those named in `new_levels.users` and every joined or invited member (so a
/// raised `users_default` or a lowered threshold counts).
pub fn check_power_levels_change(
    dir: &Directory,
    settings: &TrustSettings,
    room: &RoomState,
    new_levels: &PowerLevels,
) -> Result<Permit, Denied> {
    let old_levels = &room.power_levels;
    let old_threshold = old_levels.moderator_threshold(settings);
    let new_threshold = new_levels.moderator_threshold(settings);
    let candidates = new_levels.users.keys().chain(room.present_members());
    for user in candidates {
        let class = dir.classify_user(user);
        if class.is_internal() || rights_of(&class).may_moderate {
            continue;
        }
        let (old, new) = (old_levels.level_of(user), new_levels.level_of(user));
        if new >= new_threshold && (old < old_threshold || new > old) {
            let detail = format!(
                "{user} is not an internal user and may not get power level {new} \
                 (moderator threshold {new_threshold})"
            );
            return Err(Denied::new(Rule::ExternalModerator, detail));
        }
    }
    Ok(Permit)
}

/// May the room's join rule become `new_join_rule`?
///
/// Switching a room to `public` is refused (`public_room`) while a joined or
/// invited member is not internal and lacks `may_join_public_rooms`. Keeping
/// a room public, or any other switch, is allowed.
pub fn check_join_rules_change(
    dir: &Directory,
    room: &RoomState,
    new_join_rule: &JoinRule,
) -> Result<Permit, Denied> {
    if *new_join_rule != JoinRule::Public || room.join_rule == JoinRule::Public {
        return Ok(Permit);
    }
    for user in room.present_members() {
        let class = dir.classify_user(user);
        if !rights_of(&class).may_join_public_rooms {
            let detail = format!("the room cannot be made public while {user} is a member");
            return Err(Denied::new(Rule::PublicRoom, detail));
        }
    }
    Ok(Permit)
}

/// May `user`'s profile in a room become `new`, given the `previous` one?
///
/// `previous` is the profile the user already had in the room (or, with
/// [`TrustSettings::pin_displayname_across_rooms`], the one pinned for them on
/// the homeserver); `None` on a first join, which sets it. An external user
/// may change the display name only with `may_change_displayname`
/// (`displayname_change`), the avatar only with `may_change_avatar`
/// (`avatar_change`); users of unknown servers are refused (`unknown_server`).
pub fn check_member_profile(
    dir: &Directory,
    previous: Option<Profile<'_>>,
    new: Profile<'_>,
    user: &UserId,
) -> Result<Permit, Denied> {
    let rights = match known(dir, user)? {
        Class::Internal => return Ok(Permit),
        class => rights_of(&class),
    };
    let Some(previous) = previous else {
        return Ok(Permit);
    };
    if previous.displayname != new.displayname && !rights.may_change_displayname {
        let detail = format!("{user} is an external user and may not change their display name");
        return Err(Denied::new(Rule::DisplaynameChange, detail));
    }
    if previous.avatar_url != new.avatar_url && !rights.may_change_avatar {
        let detail = format!("{user} is an external user and may not change their avatar");
        return Err(Denied::new(Rule::AvatarChange, detail));
    }
    Ok(Permit)
}

/// The class of `user`, or `unknown_server` if their server is unknown.
fn known<'d>(dir: &'d Directory, user: &UserId) -> Result<Class<'d>, Denied> {
    match dir.classify_user(user) {
        Class::Unknown => {
            let detail = format!("{user} is on a server this federation does not know");
            Err(Denied::new(Rule::UnknownServer, detail))
        }
        class => Ok(class),
    }
}

/// Rights of a class; users of unknown servers have none.
fn rights_of<'d>(class: &Class<'d>) -> &'d TierRights {
    class.rights().unwrap_or(&TierRights::EXTERNAL)
}

/// Rule 3 for a user who is not internal, in a room that may be public.
fn public_room_allowed(
    room: &RoomState,
    user: &UserId,
    rights: &TierRights,
) -> Result<Permit, Denied> {
    if room.join_rule != JoinRule::Public || rights.may_join_public_rooms {
        return Ok(Permit);
    }
    let detail = format!("{user} is an external user and this room is public");
    Err(Denied::new(Rule::PublicRoom, detail))
}
