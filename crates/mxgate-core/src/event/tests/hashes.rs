//! Spec test vectors (<https://spec.matrix.org/v1.16/appendices/#signing-events>), content
//! hashes, reference hashes and event ids.

use serde_json::json;

use super::*;
use crate::json::encode_base64;

#[test]
fn spec_vector_minimal_event() {
    let mut event = spec_minimal_event();
    event.remove("hashes");
    sign_event(
        &mut event,
        &RoomVersion::V5,
        &server("domain"),
        &kid("ed25519:1"),
        &key(SPEC_SEED),
    )
    .unwrap();
    let hash = get(&event, &["hashes", "sha256"]).and_then(CanonicalJsonValue::as_str);
    assert_eq!(hash, Some("5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"));
    let sig =
        get(&event, &["signatures", "domain", "ed25519:1"]).and_then(CanonicalJsonValue::as_str);
    assert_eq!(
        sig,
        Some(
            "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"
        )
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
    sign_event(
        &mut event,
        &RoomVersion::V1,
        &server("domain"),
        &kid("ed25519:1"),
        &key(SPEC_SEED),
    )
    .unwrap();
    let hash = get(&event, &["hashes", "sha256"]).and_then(CanonicalJsonValue::as_str);
    assert_eq!(hash, Some("onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"));
    let sig =
        get(&event, &["signatures", "domain", "ed25519:1"]).and_then(CanonicalJsonValue::as_str);
    assert_eq!(
        sig,
        Some(
            "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"
        )
    );
    // The content is not signed, only hashed: changing it keeps the signature valid but
    // breaks the content hash.
    let lookup = keyring(&[("domain", "ed25519:1", &key(SPEC_SEED))]);
    let mut edited = event.clone();
    edited.insert("content".into(), obj(json!({"body": "edited"})).into());
    verify_event_signatures(&edited, &RoomVersion::V1, &lookup).unwrap();
    assert_eq!(
        check_content_hash(&edited),
        Err(EventError::ContentHashMismatch)
    );
}

#[test]
fn event_id_formats_per_version() {
    let mut event = message("@u:a.example", RoomVersion::V3);
    sign_event(
        &mut event,
        &RoomVersion::V3,
        &server("a.example"),
        &kid("ed25519:k"),
        &seeded_key(1),
    )
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
    assert_eq!(
        event_id(&event, &RoomVersion::V1),
        Err(EventError::MissingField("event_id"))
    );
    event.insert(
        "event_id".into(),
        CanonicalJsonValue::String("$m1:a.example".into()),
    );
    assert_eq!(
        event_id(&event, &RoomVersion::V2).unwrap().as_str(),
        "$m1:a.example"
    );
    event.insert(
        "event_id".into(),
        CanonicalJsonValue::String("$nodomain".into()),
    );
    assert_eq!(
        event_id(&event, &RoomVersion::V1),
        Err(EventError::InvalidField("event_id"))
    );
}

#[test]
fn reference_hash_ignores_unsigned_signatures_and_redacted_content() {
    let rv = RoomVersion::V10;
    let mut event = message("@u:a.example", rv);
    sign_event(
        &mut event,
        &rv,
        &server("a.example"),
        &kid("ed25519:k"),
        &seeded_key(1),
    )
    .unwrap();
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
    assert_eq!(
        check_content_hash(&event),
        Err(EventError::MissingContentHash)
    );
    event.insert("hashes".into(), obj(json!({"sha512": "x"})).into());
    assert_eq!(
        check_content_hash(&event),
        Err(EventError::MissingContentHash)
    );
    event.insert(
        "hashes".into(),
        obj(json!({"sha256": "not base64!"})).into(),
    );
    assert_eq!(
        check_content_hash(&event),
        Err(EventError::InvalidField("hashes"))
    );
    event.insert("hashes".into(), CanonicalJsonValue::String("x".into()));
    assert_eq!(
        check_content_hash(&event),
        Err(EventError::InvalidField("hashes"))
    );
    let hash = encode_base64(&content_hash(&event));
    event.insert("hashes".into(), obj(json!({"sha256": hash})).into());
    check_content_hash(&event).unwrap();
    event.insert("unsigned".into(), obj(json!({"age": 1})).into());
    check_content_hash(&event).unwrap();
    event.insert(
        "origin".into(),
        CanonicalJsonValue::String("b.example".into()),
    );
    assert_eq!(
        check_content_hash(&event).unwrap_err().reason(),
        "content_hash_mismatch"
    );
}
