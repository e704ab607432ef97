//! Room trust levels: green, orange, red.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::ids::ServerName;

use super::{Class, Directory, RoomState};

/// How far a room's members reach beyond our federation.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum TrustLevel {
    /// Every joined or invited member is internal.
    Green,
    /// Some members are trusted externals, none from unknown servers.
    Orange,
    /// Some members are from unknown servers.
    Red,
}

/// A room's trust level and the servers of its members, as served by
/// `GET /_synapse/client/mxgate/v1/rooms/{roomId}/trust`.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct RoomTrust {
    /// The trust level.
    pub level: TrustLevel,
    /// Servers of joined or invited members, by class.
    pub servers: TrustServers,
}

/// Servers of a room's joined or invited members, each list sorted and
/// without duplicates.
#[derive(Serialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct TrustServers {
    /// Servers of our federation.
    pub internal: Vec<ServerName>,
    /// Trusted external servers.
    pub external: Vec<ServerName>,
    /// Servers our config does not know.
    pub unknown: Vec<ServerName>,
}

/// The trust level of `room`, from its joined and invited members.
pub fn room_trust_level(dir: &Directory, room: &RoomState) -> RoomTrust {
    let mut internal = BTreeSet::new();
    let mut external = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    for user in room.present_members() {
        let server = user.server_name();
        let set = match dir.classify(server) {
            Class::Internal => &mut internal,
            Class::External { .. } => &mut external,
            Class::Unknown => &mut unknown,
        };
        set.insert(server);
    }
    let level = if !unknown.is_empty() {
        TrustLevel::Red
    } else if !external.is_empty() {
        TrustLevel::Orange
    } else {
        TrustLevel::Green
    };
    let owned = |set: BTreeSet<&ServerName>| set.into_iter().cloned().collect();
    let servers = TrustServers {
        internal: owned(internal),
        external: owned(external),
        unknown: owned(unknown),
    };
    RoomTrust { level, servers }
}

impl TrustLevel {
    /// Stable lowercase label (`green`, `orange`, `red`).
    pub fn as_str(self) -> &'static str {
        match self {
            TrustLevel::Green => "green",
            TrustLevel::Orange => "orange",
            TrustLevel::Red => "red",
        }
    }
}
