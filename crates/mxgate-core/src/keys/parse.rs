//! Validating key documents and notary responses.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;

use super::{KeyError, MAX_KEY_LIFETIME_MS, OldVerifyKey, ServerKeys, parse_verify_key};
use crate::{
    ids::{KeyId, ServerName},
    json::{CanonicalJsonObject, CanonicalJsonValue, parse_object, to_canonical_vec, verify_json},
};

/// Validates a notary's `/_matrix/key/v2/query` response
/// (`{"server_keys": [...]}`) for `requested`, at `now_ms`.
///
/// Entries for other servers are dropped unchecked. Every entry for
/// `requested` must carry a valid signature by `notary` with one of
/// `notary_keys` (each present signature by a configured key must verify) and
/// be self-signed as in [`ServerKeys::from_response`]; one bad entry fails the
/// whole response. Expired entries are skipped; if none is left the error is
/// [`KeyError::Expired`], or [`KeyError::NoKeys`] if there was none at all.
pub fn parse_notary_response(
    body: &[u8],
    notary: &ServerName,
    notary_keys: &BTreeMap<KeyId, VerifyingKey>,
    requested: &ServerName,
    now_ms: u64,
) -> Result<Vec<ServerKeys>, KeyError> {
    let response = parse_object(body)?;
    let entries = response
        .get("server_keys")
        .and_then(CanonicalJsonValue::as_array)
        .ok_or(KeyError::Malformed("server_keys"))?;
    let mut valid = Vec::new();
    let mut expired = None;
    for entry in entries {
        let object = entry
            .as_object()
            .ok_or(KeyError::Malformed("server_keys"))?;
        if string_field(object, "server_name")? != requested.as_str() {
            continue;
        }
        check_notary_signature(object, notary, notary_keys)?;
        let keys = validate_object(object, to_canonical_vec(entry), requested, now_ms)?;
        match keys.check_fresh(now_ms) {
            Ok(()) => valid.push(keys),
            Err(err) => expired = Some(err),
        }
    }
    match (valid.is_empty(), expired) {
        (true, Some(err)) => Err(err),
        (true, None) => Err(KeyError::NoKeys),
        (false, _) => Ok(valid),
    }
}

/// Parses and validates one key document (see the module docs of `keys`).
pub(super) fn validate(
    raw: &[u8],
    expected: &ServerName,
    fetched_at: u64,
) -> Result<ServerKeys, KeyError> {
    let object = parse_object(raw)?;
    validate_object(&object, raw.to_vec(), expected, fetched_at)
}

/// Longest `server_name` echoed in [`KeyError::WrongServerName`].
const MAX_NAME_ECHO: usize = 255;

fn validate_object(
    object: &CanonicalJsonObject,
    raw: Vec<u8>,
    expected: &ServerName,
    fetched_at: u64,
) -> Result<ServerKeys, KeyError> {
    let found = string_field(object, "server_name")?;
    if found != expected.as_str() {
        return Err(KeyError::WrongServerName {
            expected: expected.to_string(),
            found: found.chars().take(MAX_NAME_ECHO).collect(),
        });
    }
    let verify_keys = current_keys(
        object
            .get("verify_keys")
            .ok_or(KeyError::Malformed("verify_keys"))?,
    )?;
    let old_verify_keys = match object.get("old_verify_keys") {
        None => BTreeMap::new(),
        Some(value) => old_keys(value)?,
    };
    let valid_until_ts = u64_field(object, "valid_until_ts")?;
    check_self_signature(object, expected, &verify_keys)?;
    Ok(ServerKeys {
        server_name: expected.clone(),
        verify_keys,
        old_verify_keys,
        valid_until_ts,
        fetched_at,
        expires_at: valid_until_ts.min(fetched_at.saturating_add(MAX_KEY_LIFETIME_MS)),
        raw,
    })
}

/// At least one signature by `server` with a key from `verify_keys`, and
/// every such signature verifies. Signatures by unknown key ids are ignored.
fn check_self_signature(
    object: &CanonicalJsonObject,
    server: &ServerName,
    verify_keys: &BTreeMap<KeyId, VerifyingKey>,
) -> Result<(), KeyError> {
    let mut verified = false;
    for id in signature_ids(object, server)?.keys() {
        if let Some((key_id, key)) = verify_keys.get_key_value(id.as_str()) {
            verify_json(object, server, key_id, key).map_err(|_| KeyError::BadSelfSignature)?;
            verified = true;
        }
    }
    if verified {
        Ok(())
    } else {
        Err(KeyError::Unsigned)
    }
}

/// At least one signature by `notary` with a configured key, and every such
/// signature verifies.
fn check_notary_signature(
    object: &CanonicalJsonObject,
    notary: &ServerName,
    notary_keys: &BTreeMap<KeyId, VerifyingKey>,
) -> Result<(), KeyError> {
    let signed = signature_ids(object, notary).map_err(|_| KeyError::NotarySignature)?;
    let mut verified = false;
    for (key_id, key) in notary_keys {
        if signed.contains_key(key_id.as_str()) {
            verify_json(object, notary, key_id, key).map_err(|_| KeyError::NotarySignature)?;
            verified = true;
        }
    }
    if verified {
        Ok(())
    } else {
        Err(KeyError::NotarySignature)
    }
}

/// The `signatures.<server>` object (empty if the server did not sign).
fn signature_ids<'o>(
    object: &'o CanonicalJsonObject,
    server: &ServerName,
) -> Result<&'o CanonicalJsonObject, KeyError> {
    static EMPTY: CanonicalJsonObject = CanonicalJsonObject::new();
    let signatures = match object.get("signatures") {
        None => return Err(KeyError::Unsigned),
        Some(value) => value.as_object().ok_or(KeyError::Malformed("signatures"))?,
    };
    match signatures.get(server.as_str()) {
        None => Ok(&EMPTY),
        Some(value) => value.as_object().ok_or(KeyError::Malformed("signatures")),
    }
}

fn current_keys(value: &CanonicalJsonValue) -> Result<BTreeMap<KeyId, VerifyingKey>, KeyError> {
    let mut keys = BTreeMap::new();
    for (raw_id, entry) in value
        .as_object()
        .ok_or(KeyError::Malformed("verify_keys"))?
    {
        if let Some(id) = ed25519_key_id(raw_id, true, "verify_keys")? {
            keys.insert(id, public_key(entry, "verify_keys")?);
        }
    }
    Ok(keys)
}

fn old_keys(value: &CanonicalJsonValue) -> Result<BTreeMap<KeyId, OldVerifyKey>, KeyError> {
    let mut keys = BTreeMap::new();
    for (raw_id, entry) in value
        .as_object()
        .ok_or(KeyError::Malformed("old_verify_keys"))?
    {
        if let Some(id) = ed25519_key_id(raw_id, false, "old_verify_keys")? {
            let key = public_key(entry, "old_verify_keys")?;
            let fields = entry
                .as_object()
                .ok_or(KeyError::Malformed("old_verify_keys"))?;
            let expired_ts = u64_field(fields, "expired_ts")?;
            keys.insert(id, OldVerifyKey { key, expired_ts });
        }
    }
    Ok(keys)
}

/// Parses a key id: `None` for another algorithm (skipped), an error for an
/// unparsable id or (when `strict`) an ed25519 version outside the grammar.
fn ed25519_key_id(raw: &str, strict: bool, field: &'static str) -> Result<Option<KeyId>, KeyError> {
    let lax = KeyId::parse_lax(raw).map_err(|_| KeyError::Malformed(field))?;
    Ok(match (lax.is_ed25519(), strict) {
        (false, _) => None,
        (true, false) => Some(lax),
        (true, true) => Some(KeyId::parse(raw).map_err(|_| KeyError::Malformed(field))?),
    })
}

/// The `key` member of a key entry.
fn public_key(entry: &CanonicalJsonValue, field: &'static str) -> Result<VerifyingKey, KeyError> {
    let encoded = entry
        .as_object()
        .and_then(|fields| fields.get("key"))
        .and_then(CanonicalJsonValue::as_str)
        .ok_or(KeyError::Malformed(field))?;
    parse_verify_key(encoded)
}

fn string_field<'o>(
    object: &'o CanonicalJsonObject,
    field: &'static str,
) -> Result<&'o str, KeyError> {
    object
        .get(field)
        .and_then(CanonicalJsonValue::as_str)
        .ok_or(KeyError::Malformed(field))
}

fn u64_field(object: &CanonicalJsonObject, field: &'static str) -> Result<u64, KeyError> {
    object
        .get(field)
        .and_then(CanonicalJsonValue::as_integer)
        .and_then(|int| u64::try_from(i64::from(int)).ok())
        .ok_or(KeyError::Malformed(field))
}
