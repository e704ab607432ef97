//! Tests of hashing, event ids and event signatures, starting with the spec's test vectors
//! (<https://spec.matrix.org/v1.16/appendices/#signing-events>).

use std::collections::BTreeMap;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::json;

use super::*;
use crate::ids::{KeyId, ServerName};
use crate::json::{decode_base64, encode_base64, to_canonical_vec};

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

#[test]
fn spec_vector_minimal_event() {
    let mut event = spec_minimal_event();
    event.remove("hashes");
    sign_event(&mut event, &RoomVersion::V5, &server("domain"), &kid("ed25519:1"), &key(SPEC_SEED))
        .unwrap();
    let hash = get(&event, &["hashes", "sha256"]).and_then(CanonicalJsonValue::as_str);
    assert_eq!(hash, Some("5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"));
    let sig = get(&event, &["signatures", "domain", "ed25519:1"]).and_then(CanonicalJsonValue::as_str);
    assert_eq!(
        sig,
        Some("KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg")
    );
    check_content_hash(&event).unwrap();
    let lookup = keyring(&[("domain", "ed25519:1", &key(SPEC_SEED))]);
    verify_event_signatures(&event, &RoomVersion::V5, &lookup).unwrap();
}

#[test]
fn spec_vector_message_event_is_signed_over_its_redacted_form() {
    let mut event = obj(json!({
        "content": {"body": "Here is the message content"},
        "event_id": "$0:domain", "origin": "domain", "origin_server_ts": 1_000_000,
        "type": "m.room.message", "room_id": "!r:domain", "sender": "@u:domain",
        "signatures": {}, "unsigned": {"age_ts": 1_000_000},
    }));
    sign_event(&mut event, &RoomVersion::V1, &server("domain"), &kid("ed25519:1"), &key(SPEC_SEED))
        .unwrap();
    let hash = get(&event, &["hashes", "sha256"]).and_then(CanonicalJsonValue::as_str);
    assert_eq!(hash, Some("onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"));
    let sig = get(&event, &["signatures", "domain", "ed25519:1"]).and_then(CanonicalJsonValue::as_str);
    assert_eq!(
        sig,
        Some("Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA")
    );
    // The content is not signed, only hashed: changing it keeps the signature valid but
    // breaks the content hash.
    let lookup = keyring(&[("domain", "ed25519:1", &key(SPEC_SEED))]);
    let mut edited = event.clone();
    edited.insert("content".into(), obj(json!({"body": "edited"})).into());
    verify_event_signatures(&edited, &RoomVersion::V1, &lookup).unwrap();
    assert_eq!(check_content_hash(&edited), Err(EventError::ContentHashMismatch));
}

/// A v4+ style message event from `sender`, signed by `signer` (`ed25519:k`, key byte 1).
fn message(sender: &str, rv: RoomVersion) -> CanonicalJsonObject {
    let mut event = obj(json!({
        "type": "m.room.message", "room_id": "!r:a.example", "sender": sender,
        "origin_server_ts": 1_700_000_000_000_u64, "depth": 5, "prev_events": [],
        "auth_events": [], "content": {"body": "hello", "msgtype": "m.text"},
    }));
    if rv.event_id_server_must_sign() {
        event.insert("event_id".into(), CanonicalJsonValue::String("$m1:a.example".into()));
    }
    event
}

#[test]
fn event_id_formats_per_version() {
    let mut event = message("@u:a.example", RoomVersion::V3);
    sign_event(&mut event, &RoomVersion::V3, &server("a.example"), &kid("ed25519:k"), &seeded_key(1))
        .unwrap();
    let v3 = event_id(&event, &RoomVersion::V3).unwrap();
    let v4 = event_id(&event, &RoomVersion::V4).unwrap();
    let hash = reference_hash(&event, &RoomVersion::V4).unwrap();
    assert_eq!(v3.as_str(), format!("${}", encode_base64(&hash)));
    let url_safe = encode_base64(&hash).replace('+', "-").replace('/', "_");
    assert_eq!(v4.as_str(), format!("${url_safe}"));
    assert_eq!(v4.as_str().len(), 44);
    assert!(v3.server_name().is_none());
    // v1/v2: the explicit id, which must name a server.
    assert_eq!(event_id(&event, &RoomVersion::V1), Err(EventError::MissingField("event_id")));
    event.insert("event_id".into(), CanonicalJsonValue::String("$m1:a.example".into()));
    assert_eq!(event_id(&event, &RoomVersion::V2).unwrap().as_str(), "$m1:a.example");
    event.insert("event_id".into(), CanonicalJsonValue::String("$nodomain".into()));
    assert_eq!(event_id(&event, &RoomVersion::V1), Err(EventError::InvalidField("event_id")));
}

#[test]
fn reference_hash_ignores_unsigned_signatures_and_redacted_content() {
    let rv = RoomVersion::V10;
    let mut event = message("@u:a.example", rv);
    sign_event(&mut event, &rv, &server("a.example"), &kid("ed25519:k"), &seeded_key(1)).unwrap();
    let id = event_id(&event, &rv).unwrap();
    let mut other = event.clone();
    other.insert("unsigned".into(), obj(json!({"age": 5})).into());
    other.insert("signatures".into(), obj(json!({})).into());
    other.insert("content".into(), obj(json!({"body": "changed"})).into());
    assert_eq!(event_id(&other, &rv).unwrap(), id);
    // The content hash is covered, and so is every kept top-level field.
    other.insert("hashes".into(), obj(json!({"sha256": "AAAA"})).into());
    assert_ne!(event_id(&other, &rv).unwrap(), id);
    let mut later = event.clone();
    later.insert("depth".into(), CanonicalJsonValue::Integer(6_u32.into()));
    assert_ne!(event_id(&later, &rv).unwrap(), id);
}

#[test]
fn content_hash_errors() {
    let mut event = message("@u:a.example", RoomVersion::V10);
    assert_eq!(check_content_hash(&event), Err(EventError::MissingContentHash));
    event.insert("hashes".into(), obj(json!({"sha512": "x"})).into());
    assert_eq!(check_content_hash(&event), Err(EventError::MissingContentHash));
    event.insert("hashes".into(), obj(json!({"sha256": "not base64!"})).into());
    assert_eq!(check_content_hash(&event), Err(EventError::InvalidField("hashes")));
    event.insert("hashes".into(), CanonicalJsonValue::String("x".into()));
    assert_eq!(check_content_hash(&event), Err(EventError::InvalidField("hashes")));
    let hash = encode_base64(&content_hash(&event));
    event.insert("hashes".into(), obj(json!({"sha256": hash})).into());
    check_content_hash(&event).unwrap();
    event.insert("unsigned".into(), obj(json!({"age": 1})).into());
    check_content_hash(&event).unwrap();
    event.insert("origin".into(), CanonicalJsonValue::String("b.example".into()));
    assert_eq!(check_content_hash(&event).unwrap_err().reason(), "content_hash_mismatch");
}

#[test]
fn required_signers_per_version() {
    let names = |event: &CanonicalJsonObject, rv: RoomVersion| -> Vec<String> {
        required_signers(event, &rv).unwrap().iter().map(ToString::to_string).collect()
    };
    let mut event = message("@u:a.example", RoomVersion::V1);
    event.insert("event_id".into(), CanonicalJsonValue::String("$x:b.example".into()));
    assert_eq!(names(&event, RoomVersion::V1), ["a.example", "b.example"]);
    assert_eq!(names(&event, RoomVersion::V2), ["a.example", "b.example"]);
    assert_eq!(names(&event, RoomVersion::V3), ["a.example"]);

    let join = obj(json!({
        "type": "m.room.member", "state_key": "@j:c.example", "sender": "@j:c.example",
        "content": {"membership": "join", "join_authorised_via_users_server": "@v:d.example"},
    }));
    assert_eq!(names(&join, RoomVersion::V7), ["c.example"]);
    assert_eq!(names(&join, RoomVersion::V8), ["c.example", "d.example"]);
    assert_eq!(names(&join, RoomVersion::V12), ["c.example", "d.example"]);
    let mut leave = join.clone();
    leave.insert("content".into(), obj(json!({"membership": "leave",
        "join_authorised_via_users_server": "@v:d.example"})).into());
    assert_eq!(names(&leave, RoomVersion::V10), ["c.example"]);

    let mut bad = join.clone();
    bad.insert("sender".into(), CanonicalJsonValue::String("nobody".into()));
    assert_eq!(required_signers(&bad, &RoomVersion::V10), Err(EventError::InvalidField("sender")));
    bad.remove("sender");
    assert_eq!(required_signers(&bad, &RoomVersion::V10), Err(EventError::MissingField("sender")));
}

#[test]
fn v1_event_needs_the_event_id_server_signature() {
    let rv = RoomVersion::V1;
    let (ka, kb) = (seeded_key(1), seeded_key(2));
    let mut event = message("@u:a.example", rv);
    event.insert("event_id".into(), CanonicalJsonValue::String("$x:b.example".into()));
    sign_event(&mut event, &rv, &server("a.example"), &kid("ed25519:k"), &ka).unwrap();
    let lookup = keyring(&[("a.example", "ed25519:k", &ka), ("b.example", "ed25519:k", &kb)]);
    assert_eq!(
        verify_event_signatures(&event, &rv, &lookup),
        Err(EventError::MissingSignature(server("b.example")))
    );
    sign_event(&mut event, &rv, &server("b.example"), &kid("ed25519:k"), &kb).unwrap();
    verify_event_signatures(&event, &rv, &lookup).unwrap();
    // v3 needs only the sender's server.
    let mut v3 = message("@u:a.example", RoomVersion::V3);
    sign_event(&mut v3, &RoomVersion::V3, &server("a.example"), &kid("ed25519:k"), &ka).unwrap();
    verify_event_signatures(&v3, &RoomVersion::V3, &lookup).unwrap();
}

#[test]
fn restricted_join_needs_the_authorising_server_signature() {
    let rv = RoomVersion::V10;
    let (kc, kd) = (seeded_key(3), seeded_key(4));
    let mut join = obj(json!({
        "type": "m.room.member", "state_key": "@j:c.example", "sender": "@j:c.example",
        "room_id": "!r:d.example", "origin_server_ts": 5, "depth": 2, "prev_events": [],
        "auth_events": [],
        "content": {"membership": "join", "join_authorised_via_users_server": "@v:d.example"},
    }));
    sign_event(&mut join, &rv, &server("c.example"), &kid("ed25519:c"), &kc).unwrap();
    let lookup = keyring(&[("c.example", "ed25519:c", &kc), ("d.example", "ed25519:d", &kd)]);
    assert_eq!(
        verify_event_signatures(&join, &rv, &lookup),
        Err(EventError::MissingSignature(server("d.example")))
    );
    // In v7 restricted joins don't exist, so the sender's signature suffices.
    let mut v7 = join.clone();
    sign_event(&mut v7, &RoomVersion::V7, &server("c.example"), &kid("ed25519:c"), &kc).unwrap();
    verify_event_signatures(&v7, &RoomVersion::V7, &lookup).unwrap();
    sign_event(&mut join, &rv, &server("d.example"), &kid("ed25519:d"), &kd).unwrap();
    verify_event_signatures(&join, &rv, &lookup).unwrap();
}

#[test]
fn signature_failures() {
    let rv = RoomVersion::V11;
    let ka = seeded_key(1);
    let mut event = message("@u:a.example", rv);
    sign_event(&mut event, &rv, &server("a.example"), &kid("ed25519:k"), &ka).unwrap();
    let good = keyring(&[("a.example", "ed25519:k", &ka)]);
    verify_event_signatures(&event, &rv, &good).unwrap();

    // Unknown key id only.
    let other_id = keyring(&[("a.example", "ed25519:other", &ka)]);
    let err = verify_event_signatures(&event, &rv, &other_id).unwrap_err();
    assert_eq!(err, EventError::NoKnownKey(server("a.example")));
    assert_eq!(err.reason(), "no_known_key");

    // Wrong key under the right id.
    let wrong = keyring(&[("a.example", "ed25519:k", &seeded_key(9))]);
    let err = verify_event_signatures(&event, &rv, &wrong).unwrap_err();
    assert_eq!(err.reason(), "bad_signature");

    // A change to a field covered by the redacted form.
    let mut tampered = event.clone();
    tampered.insert("origin_server_ts".into(), CanonicalJsonValue::Integer(1_u32.into()));
    assert_eq!(verify_event_signatures(&tampered, &rv, &good).unwrap_err().reason(), "bad_signature");

    // A change outside it (v11 no longer protects `origin`) keeps the signature valid.
    let mut unprotected = event.clone();
    unprotected.insert("origin".into(), CanonicalJsonValue::String("x.example".into()));
    verify_event_signatures(&unprotected, &rv, &good).unwrap();
    assert!(verify_event_signatures(&unprotected, &RoomVersion::V10, &good).is_err());

    // One known key failing is fatal even if another verifies.
    let kb = seeded_key(2);
    let mut two = event.clone();
    sign_event(&mut two, &rv, &server("a.example"), &kid("ed25519:k2"), &kb).unwrap();
    let both_bad = keyring(&[("a.example", "ed25519:k", &ka), ("a.example", "ed25519:k2", &ka)]);
    assert_eq!(verify_event_signatures(&two, &rv, &both_bad).unwrap_err().reason(), "bad_signature");
    let both = keyring(&[("a.example", "ed25519:k", &ka), ("a.example", "ed25519:k2", &kb)]);
    verify_event_signatures(&two, &rv, &both).unwrap();
}

#[test]
fn sign_event_keeps_other_signatures_and_hashes() {
    let rv = RoomVersion::V12;
    let mut event = message("@u:a.example", rv);
    event.insert("hashes".into(), obj(json!({"sha512": "x"})).into());
    event.insert("unsigned".into(), obj(json!({"age": 3})).into());
    sign_event(&mut event, &rv, &server("a.example"), &kid("ed25519:k"), &seeded_key(1)).unwrap();
    sign_event(&mut event, &rv, &server("b.example"), &kid("ed25519:k"), &seeded_key(2)).unwrap();
    assert!(get(&event, &["hashes", "sha512"]).is_some());
    assert!(get(&event, &["signatures", "a.example", "ed25519:k"]).is_some());
    assert!(get(&event, &["signatures", "b.example", "ed25519:k"]).is_some());
    assert!(get(&event, &["unsigned", "age"]).is_some());
    check_content_hash(&event).unwrap();
    // Signing is deterministic (ed25519) and canonical.
    let mut again = message("@u:a.example", rv);
    again.insert("hashes".into(), obj(json!({"sha512": "x"})).into());
    again.insert("unsigned".into(), obj(json!({"age": 3})).into());
    sign_event(&mut again, &rv, &server("a.example"), &kid("ed25519:k"), &seeded_key(1)).unwrap();
    sign_event(&mut again, &rv, &server("b.example"), &kid("ed25519:k"), &seeded_key(2)).unwrap();
    assert_eq!(to_canonical_vec(&again.into()), to_canonical_vec(&event.into()));
}
