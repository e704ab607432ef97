//! Room versions and the per-version rules that matter for event authentication.
//!
//! Spec: <https://spec.matrix.org/v1.16/rooms/>.

use std::fmt;
use std::str::FromStr;

use ruma_common::room_version_rules::{RedactionRules, RoomVersionRules};

use super::EventError;

/// A stable room version, `1` to `12`.
///
/// Only the rules needed to authenticate events are exposed: the event id format, which
/// servers must sign, whether strict canonical JSON and key validity periods apply, and the
/// redaction algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoomVersion {
    /// Room version 1.
    V1,
    /// Room version 2.
    V2,
    /// Room version 3.
    V3,
    /// Room version 4.
    V4,
    /// Room version 5.
    V5,
    /// Room version 6.
    V6,
    /// Room version 7.
    V7,
    /// Room version 8.
    V8,
    /// Room version 9.
    V9,
    /// Room version 10.
    V10,
    /// Room version 11.
    V11,
    /// Room version 12.
    V12,
}

/// How a room version derives event ids.
///
/// Spec: <https://spec.matrix.org/v1.16/rooms/v4/#event-ids>.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventIdFormat {
    /// Versions 1 and 2: `$opaque:domain`, chosen by the sending server and carried in the
    /// event's `event_id` field.
    Explicit,
    /// Version 3: `$` + the reference hash in standard unpadded base64.
    StandardBase64,
    /// Versions 4 and later: `$` + the reference hash in URL-safe unpadded base64.
    UrlSafeBase64,
}

impl RoomVersion {
    /// Every stable room version, oldest first.
    pub const ALL: [RoomVersion; 12] = [
        Self::V1,
        Self::V2,
        Self::V3,
        Self::V4,
        Self::V5,
        Self::V6,
        Self::V7,
        Self::V8,
        Self::V9,
        Self::V10,
        Self::V11,
        Self::V12,
    ];

    /// Parses a room version identifier such as `"10"`. Unstable and unknown versions are
    /// rejected.
    pub fn parse(s: &str) -> Result<Self, EventError> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| EventError::UnknownRoomVersion(s.chars().take(32).collect()))
    }

    /// The version identifier as it appears in `m.room.create` and federation requests.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::V1 => "1",
            Self::V2 => "2",
            Self::V3 => "3",
            Self::V4 => "4",
            Self::V5 => "5",
            Self::V6 => "6",
            Self::V7 => "7",
            Self::V8 => "8",
            Self::V9 => "9",
            Self::V10 => "10",
            Self::V11 => "11",
            Self::V12 => "12",
        }
    }

    /// How event ids are derived in this version.
    pub fn event_id_format(&self) -> EventIdFormat {
        match self {
            Self::V1 | Self::V2 => EventIdFormat::Explicit,
            Self::V3 => EventIdFormat::StandardBase64,
            _ => EventIdFormat::UrlSafeBase64,
        }
    }

    /// Whether the server named in the event id must also sign the event (versions 1 and 2).
    pub fn event_id_server_must_sign(&self) -> bool {
        self.event_id_format() == EventIdFormat::Explicit
    }

    /// Whether events must be strict canonical JSON (no floats, integers within
    /// ±(2^53−1)); from version 6.
    pub fn strict_canonical_json(&self) -> bool {
        *self >= Self::V6
    }

    /// Whether a key's `valid_until_ts` must cover the event's `origin_server_ts`; from
    /// version 5.
    pub fn enforce_key_validity(&self) -> bool {
        *self >= Self::V5
    }

    /// Whether restricted joins exist, so that the server of
    /// `content.join_authorised_via_users_server` must sign a join; from version 8.
    pub fn restricted_joins(&self) -> bool {
        *self >= Self::V8
    }

    /// The redaction rules of this version, as implemented by `ruma_common`.
    pub fn redaction_rules(&self) -> &'static RedactionRules {
        &self.ruma_rules().redaction
    }

    fn ruma_rules(&self) -> &'static RoomVersionRules {
        match self {
            Self::V1 => &RoomVersionRules::V1,
            Self::V2 => &RoomVersionRules::V2,
            Self::V3 => &RoomVersionRules::V3,
            Self::V4 => &RoomVersionRules::V4,
            Self::V5 => &RoomVersionRules::V5,
            Self::V6 => &RoomVersionRules::V6,
            Self::V7 => &RoomVersionRules::V7,
            Self::V8 => &RoomVersionRules::V8,
            Self::V9 => &RoomVersionRules::V9,
            Self::V10 => &RoomVersionRules::V10,
            Self::V11 => &RoomVersionRules::V11,
            Self::V12 => &RoomVersionRules::V12,
        }
    }
}

impl fmt::Display for RoomVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RoomVersion {
    type Err = EventError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_stable_version_and_round_trips() {
        for (i, v) in RoomVersion::ALL.iter().enumerate() {
            let text = (i + 1).to_string();
            assert_eq!(RoomVersion::parse(&text).unwrap(), *v);
            assert_eq!(v.to_string(), text);
        }
    }

    #[test]
    fn rejects_unknown_and_unstable_versions() {
        for s in ["", "0", "13", "01", " 1", "org.matrix.msc2870", "1.0"] {
            let err = RoomVersion::parse(s).unwrap_err();
            assert_eq!(err.reason(), "unknown_room_version", "{s:?}");
        }
    }

    #[test]
    fn event_id_formats_follow_the_spec() {
        use EventIdFormat::*;
        let formats: Vec<_> = RoomVersion::ALL
            .iter()
            .map(|v| v.event_id_format())
            .collect();
        assert_eq!(
            &formats[..4],
            &[Explicit, Explicit, StandardBase64, UrlSafeBase64]
        );
        assert!(formats[4..].iter().all(|f| *f == UrlSafeBase64));
        assert!(RoomVersion::V2.event_id_server_must_sign());
        assert!(!RoomVersion::V3.event_id_server_must_sign());
    }

    #[test]
    fn rule_thresholds() {
        let first = |f: fn(&RoomVersion) -> bool| RoomVersion::ALL.into_iter().find(f);
        assert_eq!(
            first(RoomVersion::enforce_key_validity),
            Some(RoomVersion::V5)
        );
        assert_eq!(
            first(RoomVersion::strict_canonical_json),
            Some(RoomVersion::V6)
        );
        assert_eq!(first(RoomVersion::restricted_joins), Some(RoomVersion::V8));
        // Monotonic: once a rule applies it applies to every later version.
        for f in [
            RoomVersion::enforce_key_validity,
            RoomVersion::strict_canonical_json,
            RoomVersion::restricted_joins,
        ] {
            let flags: Vec<bool> = RoomVersion::ALL.iter().map(f).collect();
            assert!(flags.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}
