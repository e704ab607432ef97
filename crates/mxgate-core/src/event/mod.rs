//! Events (PDUs): room versions, content hashes, redaction, event signatures and event ids.
//!
//! Spec: <https://spec.matrix.org/v1.16/server-server-api/#validating-hashes-and-signatures-on-received-events>
//! and the per-version pages under <https://spec.matrix.org/v1.16/rooms/>.
//!
//! Redaction is delegated to `ruma_common::canonical_json::redact`; the tests in this module
//! pin its behaviour to the spec's per-version rules.

mod hash;
mod signatures;
mod version;

use ruma_common::canonical_json;

use crate::ids::ServerName;
use crate::json::{CanonicalJsonObject, CanonicalJsonValue};

pub use self::hash::{check_content_hash, content_hash, event_id, reference_hash};
pub use self::signatures::{required_signers, sign_event, verify_event_signatures};
pub use self::version::{EventIdFormat, RoomVersion};

/// Why an event, or a room version identifier, was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The room version identifier is not a known stable version.
    #[error("unknown room version {0:?}")]
    UnknownRoomVersion(String),
    /// A field the operation needs is absent.
    #[error("event has no `{0}` field")]
    MissingField(&'static str),
    /// A field has the wrong type or an invalid value.
    #[error("event field `{0}` is invalid")]
    InvalidField(&'static str),
    /// `hashes.sha256` is absent.
    #[error("event has no content hash")]
    MissingContentHash,
    /// `hashes.sha256` does not match the event's content.
    #[error("content hash does not match")]
    ContentHashMismatch,
    /// A server that must sign the event did not.
    #[error("event is not signed by {0}")]
    MissingSignature(ServerName),
    /// A required server signed only with keys the caller does not know.
    #[error("no known key of {0} signed the event")]
    NoKnownKey(ServerName),
    /// A signature by a required server does not verify.
    #[error("signature of {server} does not verify ({reason})")]
    BadSignature {
        /// The signing server.
        server: ServerName,
        /// The [`crate::json::SignatureError::reason`] of the failure.
        reason: &'static str,
    },
}

impl EventError {
    /// A stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownRoomVersion(_) => "unknown_room_version",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField(_) => "invalid_field",
            Self::MissingContentHash => "missing_content_hash",
            Self::ContentHashMismatch => "content_hash_mismatch",
            Self::MissingSignature(_) => "missing_signature",
            Self::NoKnownKey(_) => "no_known_key",
            Self::BadSignature { .. } => "bad_signature",
        }
    }
}

/// Applies the redaction algorithm of `rv` to `event`, returning the redacted copy.
///
/// Fails if `type` is missing or not a string, or if `content`, `hashes` or `signatures` is
/// present but not an object.
pub fn redact(
    event: &CanonicalJsonObject,
    rv: &RoomVersion,
) -> Result<CanonicalJsonObject, EventError> {
    match event.get("type") {
        Some(CanonicalJsonValue::String(_)) => {}
        Some(_) => return Err(EventError::InvalidField("type")),
        None => return Err(EventError::MissingField("type")),
    }
    for field in ["content", "hashes", "signatures"] {
        if event
            .get(field)
            .is_some_and(|v| !matches!(v, CanonicalJsonValue::Object(_)))
        {
            return Err(EventError::InvalidField(field));
        }
    }
    canonical_json::redact(event.clone(), rv.redaction_rules(), None)
        .map_err(|_| EventError::InvalidField("type"))
}

#[cfg(test)]
mod redaction_tests;
#[cfg(test)]
mod tests;
