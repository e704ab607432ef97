//! Trust tiers: what the users of a trusted server may do in our rooms.

use serde::{Deserialize, Serialize};

/// The rights a trust tier grants to the users of the servers it covers.
///
/// Every right defaults to `false`, so a `[tiers.NAME]` table only lists the
/// rights it grants. The built-in tiers are [`TierRights::INTERNAL`] (every
/// right) and [`TierRights::EXTERNAL`] (none).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TierRights {
    /// May hold a power level at or above the room's moderator threshold.
    pub may_moderate: bool,
    /// May join (or be invited into) rooms whose join rule is `public`.
    pub may_join_public_rooms: bool,
    /// May change the display name they already have in a room.
    pub may_change_displayname: bool,
    /// May change the avatar they already have in a room.
    pub may_change_avatar: bool,
    /// May invite users of other trusted external servers.
    pub may_invite_other_externals: bool,
}

impl TierRights {
    /// Rights of the built-in `internal` tier: everything is allowed.
    pub const INTERNAL: TierRights = TierRights {
        may_moderate: true,
        may_join_public_rooms: true,
        may_change_displayname: true,
        may_change_avatar: true,
        may_invite_other_externals: true,
    };

    /// Rights of the built-in `external` tier: nothing beyond the basics.
    pub const EXTERNAL: TierRights = TierRights {
        may_moderate: false,
        may_join_public_rooms: false,
        may_change_displayname: false,
        may_change_avatar: false,
        may_invite_other_externals: false,
    };

    /// Name of the built-in tier of our own federation.
    pub const INTERNAL_NAME: &'static str = "internal";

    /// Name of the built-in tier with no rights.
    pub const EXTERNAL_NAME: &'static str = "external";

    /// The rights of a built-in tier, by name (`internal` or `external`).
    pub fn builtin(name: &str) -> Option<&'static TierRights> {
        match name {
            Self::INTERNAL_NAME => Some(&Self::INTERNAL),
            Self::EXTERNAL_NAME => Some(&Self::EXTERNAL),
            _ => None,
        }
    }
}
