//! Event signatures: which servers must sign, verification and signing.
//!
//! Spec: <https://spec.matrix.org/v1.16/server-server-api/#validating-hashes-and-signatures-on-received-events>
//! and <https://spec.matrix.org/v1.16/server-server-api/#signing-events>.

use std::collections::BTreeSet;

use ed25519_dalek::{SigningKey, VerifyingKey};

use super::hash::{content_hash, explicit_event_id};
use super::{EventError, RoomVersion, redact};
use crate::ids::{KeyId, ServerName, UserId};
use crate::json::{CanonicalJsonObject, CanonicalJsonValue, encode_base64, sign_json, verify_json};

/// The servers whose signatures `event` must carry in a room of version `rv`: the sender's
/// server; in versions 1 and 2 also the server of the event id; from version 8, for a join
/// with `content.join_authorised_via_users_server`, also that user's server.
pub fn required_signers(
    event: &CanonicalJsonObject,
    rv: &RoomVersion,
) -> Result<BTreeSet<ServerName>, EventError> {
    let mut servers = BTreeSet::new();
    servers.insert(user_server(event.get("sender"), "sender")?);
    if rv.event_id_server_must_sign() {
        let id = explicit_event_id(event)?;
        servers.extend(id.server_name().cloned());
    }
    if rv.restricted_joins() && is_join(event) {
        let content = event.get("content").and_then(CanonicalJsonValue::as_object);
        if let Some(authoriser) = content.and_then(|c| c.get("join_authorised_via_users_server")) {
            servers.insert(user_server(Some(authoriser), "content")?);
        }
    }
    Ok(servers)
}

/// Verifies the signatures of `event` (over its redacted form) for every server in
/// [`required_signers`].
///
/// `lookup` returns the verify key a server used under a key id, if known and valid for this
/// event (the caller applies `valid_until_ts` for room versions ≥ 5). For each required server
/// at least one signature must be checked, and every signature whose key is known must verify;
/// signatures under unknown key ids or other algorithms are ignored.
pub fn verify_event_signatures(
    event: &CanonicalJsonObject,
    rv: &RoomVersion,
    lookup: impl Fn(&ServerName, &KeyId) -> Option<VerifyingKey>,
) -> Result<(), EventError> {
    let redacted = redact(event, rv)?;
    for server in required_signers(event, rv)? {
        let mut verified = false;
        for key_id in signature_key_ids(&redacted, &server)? {
            let Some(key) = lookup(&server, &key_id) else {
                continue;
            };
            verify_json(&redacted, &server, &key_id, &key).map_err(|e| {
                EventError::BadSignature {
                    server: server.clone(),
                    reason: e.reason(),
                }
            })?;
            verified = true;
        }
        if !verified {
            return Err(EventError::NoKnownKey(server));
        }
    }
    Ok(())
}

/// Adds the content hash to `event` and signs it as `server` with `key_id`, as a homeserver
/// does before sending it (versions 1 and 2 need the `event_id` field set first).
///
/// Existing signatures are kept. Used by tests, fixtures and fake servers.
pub fn sign_event(
    event: &mut CanonicalJsonObject,
    rv: &RoomVersion,
    server: &ServerName,
    key_id: &KeyId,
    key: &SigningKey,
) -> Result<(), EventError> {
    let hash = CanonicalJsonValue::String(encode_base64(&content_hash(event)));
    match event.get_mut("hashes") {
        Some(CanonicalJsonValue::Object(hashes)) => {
            hashes.insert("sha256".to_owned(), hash);
        }
        Some(_) => return Err(EventError::InvalidField("hashes")),
        None => {
            let hashes = CanonicalJsonObject::from([("sha256".to_owned(), hash)]);
            event.insert("hashes".to_owned(), hashes.into());
        }
    }
    let mut redacted = redact(event, rv)?;
    sign_json(&mut redacted, server, key_id, key);
    if let Some(signatures) = redacted.remove("signatures") {
        event.insert("signatures".to_owned(), signatures);
    }
    Ok(())
}

/// The server of the user id in `value` (a field named `field`).
fn user_server(
    value: Option<&CanonicalJsonValue>,
    field: &'static str,
) -> Result<ServerName, EventError> {
    let value = value.ok_or(EventError::MissingField(field))?;
    let user = value
        .as_str()
        .and_then(|s| UserId::parse(s).ok())
        .ok_or(EventError::InvalidField(field))?;
    Ok(user.server_name().clone())
}

/// Whether `event` is an `m.room.member` event with `membership: join`.
fn is_join(event: &CanonicalJsonObject) -> bool {
    let membership = event
        .get("content")
        .and_then(CanonicalJsonValue::as_object)
        .and_then(|c| c.get("membership"))
        .and_then(CanonicalJsonValue::as_str);
    event.get("type").and_then(CanonicalJsonValue::as_str) == Some("m.room.member")
        && membership == Some("join")
}

/// The ed25519 key ids under which `server` signed `event`. Fails if the server did not sign.
fn signature_key_ids(
    event: &CanonicalJsonObject,
    server: &ServerName,
) -> Result<Vec<KeyId>, EventError> {
    let by_server = event
        .get("signatures")
        .and_then(CanonicalJsonValue::as_object)
        .and_then(|s| s.get(server.as_str()))
        .ok_or_else(|| EventError::MissingSignature(server.clone()))?
        .as_object()
        .ok_or(EventError::InvalidField("signatures"))?;
    Ok(by_server
        .keys()
        .filter_map(|id| KeyId::parse_lax(id).ok())
        .filter(KeyId::is_ed25519)
        .collect())
}
