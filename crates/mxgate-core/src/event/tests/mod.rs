//! Tests of hashing, event ids and event signatures, with shared helpers.

mod hashes;
mod signatures;

use std::collections::BTreeMap;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::json;

use super::*;
use crate::ids::{KeyId, ServerName};
use crate::json::decode_base64;

/// The key of the spec's test vectors.
const SPEC_SEED: &str = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";

fn obj(value: serde_json::Value) -> CanonicalJsonObject {
    match CanonicalJsonValue::try_from(value).unwrap() {
        CanonicalJsonValue::Object(o) => o,
        other => panic!("not an object: {other:?}"),
    }
}

fn key(seed: &str) -> SigningKey {
    SigningKey::from_bytes(&decode_base64(seed).unwrap().try_into().unwrap())
}

fn seeded_key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&[byte; 32])
}

fn server(s: &str) -> ServerName {
    ServerName::parse(s).unwrap()
}

fn kid(s: &str) -> KeyId {
    KeyId::parse(s).unwrap()
}

fn get<'a>(event: &'a CanonicalJsonObject, path: &[&str]) -> Option<&'a CanonicalJsonValue> {
    let (last, parents) = path.split_last()?;
    let mut current = event;
    for p in parents {
        current = current.get(*p)?.as_object()?;
    }
    current.get(*last)
}

/// A lookup over a fixed set of (server, key id, key).
fn keyring(
    entries: &[(&str, &str, &SigningKey)],
) -> impl Fn(&ServerName, &KeyId) -> Option<VerifyingKey> + use<> {
    let map: BTreeMap<(String, String), VerifyingKey> = entries
        .iter()
        .map(|(s, k, key)| ((s.to_string(), k.to_string()), key.verifying_key()))
        .collect();
    move |s: &ServerName, k: &KeyId| map.get(&(s.to_string(), k.to_string())).copied()
}

fn spec_minimal_event() -> CanonicalJsonObject {
    obj(json!({
        "room_id": "!x:domain", "sender": "@a:domain", "origin": "domain",
        "origin_server_ts": 1_000_000, "signatures": {}, "hashes": {}, "type": "X",
        "content": {}, "prev_events": [], "auth_events": [], "depth": 3,
        "unsigned": {"age_ts": 1_000_000},
    }))
}

/// A v4+ style message event from `sender`, signed by `signer` (`ed25519:k`, key byte 1).
fn message(sender: &str, rv: RoomVersion) -> CanonicalJsonObject {
    let mut event = obj(json!({
        "type": "m.room.message", "room_id": "!r:a.example", "sender": sender,
        "origin_server_ts": 1_700_000_000_000_u64, "depth": 5, "prev_events": [],
        "auth_events": [], "content": {"body": "hello", "msgtype": "m.text"},
    }));
    if rv.event_id_server_must_sign() {
        event.insert(
            "event_id".into(),
            CanonicalJsonValue::String("$m1:a.example".into()),
        );
    }
    event
}
