//! The room state the trust rules look at, as plain data.

use std::collections::BTreeMap;

use crate::ids::UserId;

use super::TrustSettings;

/// The parts of a room's current state the trust rules need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomState {
    /// `m.room.join_rules` `content.join_rule`.
    pub join_rule: JoinRule,
    /// Whether the room is open to external users (see [`access_rule_open`]).
    pub access_open: bool,
    /// Every user with a membership event and their current membership.
    pub members: Vec<(UserId, Membership)>,
    /// `m.room.power_levels` content.
    pub power_levels: PowerLevels,
}

/// A room's join rule.
///
/// <https://spec.matrix.org/v1.16/client-server-api/#mroomjoin_rules>
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum JoinRule {
    /// Anyone may join.
    Public,
    /// Only invited users may join (the default when there is no event).
    #[default]
    Invite,
    /// Users may knock, then be invited.
    Knock,
    /// Members of some other rooms may join without an invite.
    Restricted,
    /// Knock or restricted join.
    KnockRestricted,
    /// Reserved by the spec, unused.
    Private,
    /// Any other value (joins need an invite, as for `invite`).
    Other(String),
}

/// A user's membership in a room.
///
/// <https://spec.matrix.org/v1.16/client-server-api/#mroommember>
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// Joined.
    Join,
    /// Invited, not joined yet.
    Invite,
    /// Left, was kicked, or an invite was rejected or withdrawn.
    Leave,
    /// Banned.
    Ban,
    /// Knocking.
    Knock,
}

/// The power levels of a room (`m.room.power_levels` content).
///
/// [`Default`] gives the spec's defaults for keys missing from the event. A
/// room with no `m.room.power_levels` event at all differs (`state_default` 0,
/// the creator at 100): the caller builds that case explicitly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerLevels {
    /// Levels of specific users.
    pub users: BTreeMap<UserId, i64>,
    /// Level of every other user.
    pub users_default: i64,
    /// Level needed to kick.
    pub kick: i64,
    /// Level needed to ban.
    pub ban: i64,
    /// Level needed to redact other users' events.
    pub redact: i64,
    /// Level needed to send state events not listed in `events`.
    pub state_default: i64,
    /// Levels needed to send specific event types.
    pub events: BTreeMap<String, i64>,
}

/// Whether an access-rules value (`content.rule` of the
/// [`TrustSettings::access_rules_event`] state event; `None` if there is no
/// such event or no `rule`) opens the room to external users.
pub fn access_rule_open(rule: Option<&str>, settings: &TrustSettings) -> bool {
    rule.is_some_and(|rule| settings.open_values.iter().any(|open| open == rule))
}

impl JoinRule {
    /// Parses `content.join_rule`.
    pub fn parse(value: &str) -> Self {
        match value {
            "public" => JoinRule::Public,
            "invite" => JoinRule::Invite,
            "knock" => JoinRule::Knock,
            "restricted" => JoinRule::Restricted,
            "knock_restricted" => JoinRule::KnockRestricted,
            "private" => JoinRule::Private,
            other => JoinRule::Other(other.to_owned()),
        }
    }

    /// The value as it appears in `content.join_rule`.
    pub fn as_str(&self) -> &str {
        match self {
            JoinRule::Public => "public",
            JoinRule::Invite => "invite",
            JoinRule::Knock => "knock",
            JoinRule::Restricted => "restricted",
            JoinRule::KnockRestricted => "knock_restricted",
            JoinRule::Private => "private",
            JoinRule::Other(other) => other,
        }
    }
}

impl Membership {
    /// Parses `content.membership`; `None` for an unknown value.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "join" => Membership::Join,
            "invite" => Membership::Invite,
            "leave" => Membership::Leave,
            "ban" => Membership::Ban,
            "knock" => Membership::Knock,
            _ => return None,
        })
    }

    /// Whether the user counts as a member: joined or invited.
    pub fn is_present(self) -> bool {
        matches!(self, Membership::Join | Membership::Invite)
    }
}

impl RoomState {
    /// The current membership of `user`, if they have one.
    pub fn membership_of(&self, user: &UserId) -> Option<Membership> {
        self.members
            .iter()
            .find(|(member, _)| member == user)
            .map(|(_, membership)| *membership)
    }

    /// Users who are joined or invited.
    pub fn present_members(&self) -> impl Iterator<Item = &UserId> {
        self.members
            .iter()
            .filter(|(_, membership)| membership.is_present())
            .map(|(user, _)| user)
    }
}

impl Default for PowerLevels {
    fn default() -> Self {
        Self {
            users: BTreeMap::new(),
            users_default: 0,
            kick: 50,
            ban: 50,
            redact: 50,
            state_default: 50,
            events: BTreeMap::new(),
        }
    }
}

impl PowerLevels {
    /// The level of `user`.
    pub fn level_of(&self, user: &UserId) -> i64 {
        self.users.get(user).copied().unwrap_or(self.users_default)
    }

    /// The level at and above which a user can moderate or administer the
    /// room; see [`TrustSettings::moderator_level`].
    pub fn moderator_threshold(&self, settings: &TrustSettings) -> i64 {
        let admin_events = [
            "m.room.power_levels",
            "m.room.join_rules",
            settings.access_rules_event.as_str(),
        ];
        let state_levels = admin_events.iter().map(|kind| {
            self.events
                .get(*kind)
                .copied()
                .unwrap_or(self.state_default)
        });
        [self.kick, self.ban, self.redact, self.state_default]
            .into_iter()
            .chain(state_levels)
            .fold(settings.moderator_level, i64::min)
    }
}
