//! The trust model: tiers, room and user rules, room trust levels.
//!
//! mxgate admits only trusted servers at the edge; this module decides what
//! the users of those servers may do inside our rooms. Policy is plain data
//! and every rule is a pure function returning `Result<Permit, Denied>`:
//!
//! - [`TierRights`]: the rights a tier grants (`internal`, `external` built in,
//!   more from `[tiers.NAME]` tables).
//! - [`Directory`]: which server is internal, which is a trusted external (and
//!   of which tier); every other server is unknown.
//! - [`TrustSettings`]: the `[trust]` table (access-rules event, moderator
//!   threshold, display-name pinning).
//! - [`RoomState`]: the bits of room state the rules need.
//! - the rules ([`check_invite`], [`check_join`], [`check_power_levels_change`],
//!   [`check_join_rules_change`], [`check_member_profile`]) and the room trust
//!   level ([`room_trust_level`]).
//! - [`Mode`] and [`apply`]: in report mode nothing is refused, refusals become
//!   [`Verdict::WouldRefuse`] for the caller to log and count.
//!
//! Membership and power-level semantics follow
//! <https://spec.matrix.org/v1.16/client-server-api/#mroompower_levels>.

mod directory;
mod level;
mod room;
mod rules;
mod settings;
#[cfg(test)]
mod tests;
mod tiers;

use serde::{Deserialize, Serialize};

pub use directory::{Class, Directory, DirectoryError};
pub use level::{RoomTrust, TrustLevel, TrustServers, room_trust_level};
pub use room::{JoinRule, Membership, PowerLevels, RoomState, access_rule_open};
pub use rules::{
    Profile, check_invite, check_join, check_join_rules_change, check_member_profile,
    check_power_levels_change,
};
pub use settings::TrustSettings;
pub use tiers::TierRights;

/// A rule allowed the action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permit;

/// A rule refused the action; carries what the client is told.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    /// The rule that refused.
    pub rule: Rule,
    /// The Matrix error code returned to the client (`M_FORBIDDEN`).
    pub errcode: &'static str,
    /// A human-readable message naming the rule.
    pub message: String,
}

impl Denied {
    /// Refusal by `rule`, with `detail` explaining it to the user.
    pub fn new(rule: Rule, detail: impl std::fmt::Display) -> Self {
        Self {
            rule,
            errcode: "M_FORBIDDEN",
            message: format!("refused by trust rule {}: {detail}", rule.as_str()),
        }
    }

    /// Stable snake_case label of the rule, for metrics and the audit log.
    pub fn reason(&self) -> &'static str {
        self.rule.as_str()
    }
}

/// The trust rules, each with a stable label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// Rule 1: an external user invited into a room not open to externals.
    InviteClosedRoom,
    /// Rule 1: an external user joining, uninvited, a room not open to externals.
    JoinClosedRoom,
    /// Rule 2: a power-levels change making an outsider a moderator.
    ExternalModerator,
    /// Rule 3: an outsider in a public room, or a room with outsiders made public.
    PublicRoom,
    /// Rule 4: an external user changing their display name.
    DisplaynameChange,
    /// Rule 4: an external user changing their avatar.
    AvatarChange,
    /// Rule 5: a user of a server our config does not know.
    UnknownServer,
    /// Rule 5: an external user inviting a user of another external server.
    TransitiveInvite,
}

impl Rule {
    /// Every rule, for pre-registering metric labels.
    pub const ALL: [Rule; 8] = [
        Rule::InviteClosedRoom,
        Rule::JoinClosedRoom,
        Rule::ExternalModerator,
        Rule::PublicRoom,
        Rule::DisplaynameChange,
        Rule::AvatarChange,
        Rule::UnknownServer,
        Rule::TransitiveInvite,
    ];

    /// Stable snake_case label.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::InviteClosedRoom => "invite_closed_room",
            Rule::JoinClosedRoom => "join_closed_room",
            Rule::ExternalModerator => "external_moderator",
            Rule::PublicRoom => "public_room",
            Rule::DisplaynameChange => "displayname_change",
            Rule::AvatarChange => "avatar_change",
            Rule::UnknownServer => "unknown_server",
            Rule::TransitiveInvite => "transitive_invite",
        }
    }
}

/// Whether refusals are enforced or only reported.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refuse what the rules refuse.
    #[default]
    Enforce,
    /// Refuse nothing; report what would have been refused.
    Report,
}

/// What the caller does with a rule's outcome under a [`Mode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The rules allow the action.
    Allowed,
    /// The action is refused (enforce mode).
    Refused(Denied),
    /// The action goes through but would have been refused (report mode):
    /// log and count it.
    WouldRefuse(Denied),
}

/// Turns a rule's outcome into a [`Verdict`] under `mode`.
pub fn apply(mode: Mode, outcome: Result<Permit, Denied>) -> Verdict {
    match (outcome, mode) {
        (Ok(Permit), _) => Verdict::Allowed,
        (Err(denied), Mode::Enforce) => Verdict::Refused(denied),
        (Err(denied), Mode::Report) => Verdict::WouldRefuse(denied),
    }
}
