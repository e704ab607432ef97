//! The `[trust]` settings table.

use serde::{Deserialize, Serialize};

/// Settings of the trust model, the `[trust]` table of `mxgate.toml`.
///
/// ```toml
/// [trust]
/// access_rules_event = "im.vector.room.access_rules"
/// open_values = ["unrestricted"]
/// moderator_level = 50
/// pin_displayname_across_rooms = false
/// ```
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TrustSettings {
    /// State event type whose `content.rule` says whether a room is open to
    /// external users (Tchap's convention by default).
    pub access_rules_event: String,
    /// Values of `content.rule` meaning "open to external users"; any other
    /// value, or no such event, means closed.
    pub open_values: Vec<String>,
    /// Upper bound of the moderator threshold. The threshold of a room is the
    /// lowest of this value and the room's `kick`, `ban`, `redact` and
    /// `state_default` levels and the levels required to send
    /// `m.room.power_levels`, `m.room.join_rules` and the access-rules event:
    /// a user at or above it can moderate or administer the room.
    pub moderator_level: i64,
    /// Pin the first display name (and avatar) seen for an external user on
    /// the homeserver for every room, not only per room. The caller passes the
    /// pinned profile as the previous one to
    /// [`check_member_profile`](super::check_member_profile).
    pub pin_displayname_across_rooms: bool,
}

impl Default for TrustSettings {
    fn default() -> Self {
        Self {
            access_rules_event: "im.vector.room.access_rules".to_owned(),
            open_values: vec!["unrestricted".to_owned()],
            moderator_level: 50,
            pin_displayname_across_rooms: false,
        }
    }
}
