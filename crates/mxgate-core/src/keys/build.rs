//! Building signed key documents (fake servers, tests, benches).

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use js_int::Int;

use crate::{
    ids::{KeyId, ServerName},
    json::{CanonicalJsonObject, CanonicalJsonValue, encode_base64, sign_json, to_canonical_vec},
};

/// A `/_matrix/key/v2/server` body for `server` publishing the public half of
/// `key` as `key_id`, with empty `old_verify_keys`, self-signed, as canonical
/// JSON. `valid_until_ts` is capped at 2^53−1.
pub fn build_key_response(
    server: &ServerName,
    key_id: &KeyId,
    key: &SigningKey,
    valid_until_ts: u64,
) -> Vec<u8> {
    let public = encode_base64(key.verifying_key().as_bytes());
    let mut object = CanonicalJsonObject::new();
    object.insert("server_name".to_owned(), server.as_str().into());
    object.insert("valid_until_ts".to_owned(), integer(valid_until_ts));
    object.insert("verify_keys".to_owned(), key_map(key_id, public));
    object.insert(
        "old_verify_keys".to_owned(),
        CanonicalJsonValue::Object(BTreeMap::new()),
    );
    sign_json(&mut object, server, key_id, key);
    to_canonical_vec(&CanonicalJsonValue::Object(object))
}

/// `{key_id: {"key": public}}`.
fn key_map(key_id: &KeyId, public: String) -> CanonicalJsonValue {
    let entry = BTreeMap::from([("key".to_owned(), CanonicalJsonValue::String(public))]);
    let map = BTreeMap::from([(
        key_id.as_str().to_owned(),
        CanonicalJsonValue::Object(entry),
    )]);
    CanonicalJsonValue::Object(map)
}

/// A JSON integer, capped at the canonical maximum.
fn integer(value: u64) -> CanonicalJsonValue {
    CanonicalJsonValue::Integer(Int::try_from(value).unwrap_or(Int::MAX))
}
