//! Content hashes, reference hashes and event ids.
//!
//! Spec: <https://spec.matrix.org/v1.16/server-server-api/#calculating-the-content-hash-for-an-event>
//! and <https://spec.matrix.org/v1.16/server-server-api/#calculating-the-reference-hash-for-an-event>.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use super::{EventError, EventIdFormat, RoomVersion, redact};
use crate::ids::EventId;
use crate::json::{
    CanonicalJsonObject, CanonicalJsonValue, decode_base64, write_canonical_without,
};

/// Top-level keys the content hash does not cover.
const NOT_IN_CONTENT_HASH: &[&str] = &["unsigned", "signatures", "hashes"];
/// Top-level keys removed from the redacted event before the reference hash.
const NOT_IN_REFERENCE_HASH: &[&str] = &["signatures", "unsigned", "age_ts"];

/// The SHA-256 content hash of `event`: its canonical JSON without `unsigned`, `signatures`
/// and `hashes`. Room-version independent.
pub fn content_hash(event: &CanonicalJsonObject) -> [u8; 32] {
    sha256_without(event, NOT_IN_CONTENT_HASH)
}

/// Checks `hashes.sha256` against the event's content hash.
///
/// A mismatch means the event was altered after signing (servers then treat it as redacted);
/// a gateway rejects it.
pub fn check_content_hash(event: &CanonicalJsonObject) -> Result<(), EventError> {
    let claimed = match event.get("hashes") {
        None => return Err(EventError::MissingContentHash),
        Some(CanonicalJsonValue::Object(hashes)) => match hashes.get("sha256") {
            None => return Err(EventError::MissingContentHash),
            Some(CanonicalJsonValue::String(s)) => s,
            Some(_) => return Err(EventError::InvalidField("hashes")),
        },
        Some(_) => return Err(EventError::InvalidField("hashes")),
    };
    let claimed = decode_base64(claimed).map_err(|_| EventError::InvalidField("hashes"))?;
    if claimed[..] == content_hash(event)[..] {
        Ok(())
    } else {
        Err(EventError::ContentHashMismatch)
    }
}

/// The SHA-256 reference hash of `event`: its redacted form without `signatures`, `unsigned`
/// and `age_ts`, canonicalised.
pub fn reference_hash(
    event: &CanonicalJsonObject,
    rv: &RoomVersion,
) -> Result<[u8; 32], EventError> {
    Ok(sha256_without(&redact(event, rv)?, NOT_IN_REFERENCE_HASH))
}

/// The id of `event` in a room of version `rv`.
///
/// Versions 1 and 2 take the explicit `event_id` field (which must name a server); later
/// versions derive `$` + the base64 reference hash (standard alphabet in v3, URL-safe from v4).
pub fn event_id(event: &CanonicalJsonObject, rv: &RoomVersion) -> Result<EventId, EventError> {
    let encoded = match rv.event_id_format() {
        EventIdFormat::Explicit => return explicit_event_id(event),
        EventIdFormat::StandardBase64 => STANDARD_NO_PAD.encode(reference_hash(event, rv)?),
        EventIdFormat::UrlSafeBase64 => URL_SAFE_NO_PAD.encode(reference_hash(event, rv)?),
    };
    EventId::parse(&format!("${encoded}")).map_err(|_| EventError::InvalidField("event_id"))
}

/// The `event_id` field of a version 1/2 event, which must be `$opaque:server`.
pub(super) fn explicit_event_id(event: &CanonicalJsonObject) -> Result<EventId, EventError> {
    let Some(value) = event.get("event_id") else {
        return Err(EventError::MissingField("event_id"));
    };
    let id = value
        .as_str()
        .and_then(|s| EventId::parse(s).ok())
        .ok_or(EventError::InvalidField("event_id"))?;
    if id.server_name().is_none() {
        return Err(EventError::InvalidField("event_id"));
    }
    Ok(id)
}

fn sha256_without(object: &CanonicalJsonObject, skip: &[&str]) -> [u8; 32] {
    let mut bytes = Vec::with_capacity(1024);
    write_canonical_without(object, skip, &mut bytes);
    Sha256::digest(&bytes).into()
}
