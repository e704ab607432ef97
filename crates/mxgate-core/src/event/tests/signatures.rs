//! Which servers must sign, and signature verification failures.

use serde_json::json;

use super::*;
use crate::json::to_canonical_vec;

#[test]
fn required_signers_per_version() {
    let names = |event: &CanonicalJsonObject, rv: RoomVersion| -> Vec<String> {
        required_signers(event, &rv)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let mut event = message("@u:a.example", RoomVersion::V1);
    event.insert(
        "event_id".into(),
        CanonicalJsonValue::String("$x:b.example".into()),
    );
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
    leave.insert(
        "content".into(),
        obj(json!({"membership": "leave",
        "join_authorised_via_users_server": "@v:d.example"}))
        .into(),
    );
    assert_eq!(names(&leave, RoomVersion::V10), ["c.example"]);

    let mut bad = join.clone();
    bad.insert("sender".into(), CanonicalJsonValue::String("nobody".into()));
    assert_eq!(
        required_signers(&bad, &RoomVersion::V10),
        Err(EventError::InvalidField("sender"))
    );
    bad.remove("sender");
    assert_eq!(
        required_signers(&bad, &RoomVersion::V10),
        Err(EventError::MissingField("sender"))
    );
}

#[test]
fn v1_event_needs_the_event_id_server_signature() {
    let rv = RoomVersion::V1;
    let (ka, kb) = (seeded_key(1), seeded_key(2));
    let mut event = message("@u:a.example", rv);
    event.insert(
        "event_id".into(),
        CanonicalJsonValue::String("$x:b.example".into()),
    );
    sign_event(
        &mut event,
        &rv,
        &server("a.example"),
        &kid("ed25519:k"),
        &ka,
    )
    .unwrap();
    let lookup = keyring(&[
        ("a.example", "ed25519:k", &ka),
        ("b.example", "ed25519:k", &kb),
    ]);
    assert_eq!(
        verify_event_signatures(&event, &rv, &lookup),
        Err(EventError::MissingSignature(server("b.example")))
    );
    sign_event(
        &mut event,
        &rv,
        &server("b.example"),
        &kid("ed25519:k"),
        &kb,
    )
    .unwrap();
    verify_event_signatures(&event, &rv, &lookup).unwrap();
    // v3 needs only the sender's server.
    let mut v3 = message("@u:a.example", RoomVersion::V3);
    sign_event(
        &mut v3,
        &RoomVersion::V3,
        &server("a.example"),
        &kid("ed25519:k"),
        &ka,
    )
    .unwrap();
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
    let lookup = keyring(&[
        ("c.example", "ed25519:c", &kc),
        ("d.example", "ed25519:d", &kd),
    ]);
    assert_eq!(
        verify_event_signatures(&join, &rv, &lookup),
        Err(EventError::MissingSignature(server("d.example")))
    );
    // In v7 restricted joins don't exist, so the sender's signature suffices.
    let mut v7 = join.clone();
    sign_event(
        &mut v7,
        &RoomVersion::V7,
        &server("c.example"),
        &kid("ed25519:c"),
        &kc,
    )
    .unwrap();
    verify_event_signatures(&v7, &RoomVersion::V7, &lookup).unwrap();
    sign_event(&mut join, &rv, &server("d.example"), &kid("ed25519:d"), &kd).unwrap();
    verify_event_signatures(&join, &rv, &lookup).unwrap();
}

#[test]
fn signature_failures() {
    let rv = RoomVersion::V11;
    let ka = seeded_key(1);
    let mut event = message("@u:a.example", rv);
    sign_event(
        &mut event,
        &rv,
        &server("a.example"),
        &kid("ed25519:k"),
        &ka,
    )
    .unwrap();
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
    tampered.insert(
        "origin_server_ts".into(),
        CanonicalJsonValue::Integer(1_u32.into()),
    );
    assert_eq!(
        verify_event_signatures(&tampered, &rv, &good)
            .unwrap_err()
            .reason(),
        "bad_signature"
    );

    // A change outside it (v11 no longer protects `origin`) keeps the signature valid.
    let mut unprotected = event.clone();
    unprotected.insert(
        "origin".into(),
        CanonicalJsonValue::String("x.example".into()),
    );
    verify_event_signatures(&unprotected, &rv, &good).unwrap();
    assert!(verify_event_signatures(&unprotected, &RoomVersion::V10, &good).is_err());

    // One known key failing is fatal even if another verifies.
    let kb = seeded_key(2);
    let mut two = event.clone();
    sign_event(&mut two, &rv, &server("a.example"), &kid("ed25519:k2"), &kb).unwrap();
    let both_bad = keyring(&[
        ("a.example", "ed25519:k", &ka),
        ("a.example", "ed25519:k2", &ka),
    ]);
    assert_eq!(
        verify_event_signatures(&two, &rv, &both_bad)
            .unwrap_err()
            .reason(),
        "bad_signature"
    );
    let both = keyring(&[
        ("a.example", "ed25519:k", &ka),
        ("a.example", "ed25519:k2", &kb),
    ]);
    verify_event_signatures(&two, &rv, &both).unwrap();
}

#[test]
fn sign_event_keeps_other_signatures_and_hashes() {
    let rv = RoomVersion::V12;
    let mut event = message("@u:a.example", rv);
    event.insert("hashes".into(), obj(json!({"sha512": "x"})).into());
    event.insert("unsigned".into(), obj(json!({"age": 3})).into());
    sign_event(
        &mut event,
        &rv,
        &server("a.example"),
        &kid("ed25519:k"),
        &seeded_key(1),
    )
    .unwrap();
    sign_event(
        &mut event,
        &rv,
        &server("b.example"),
        &kid("ed25519:k"),
        &seeded_key(2),
    )
    .unwrap();
    assert!(get(&event, &["hashes", "sha512"]).is_some());
    assert!(get(&event, &["signatures", "a.example", "ed25519:k"]).is_some());
    assert!(get(&event, &["signatures", "b.example", "ed25519:k"]).is_some());
    assert!(get(&event, &["unsigned", "age"]).is_some());
    check_content_hash(&event).unwrap();
    // Signing is deterministic (ed25519) and canonical.
    let mut again = message("@u:a.example", rv);
    again.insert("hashes".into(), obj(json!({"sha512": "x"})).into());
    again.insert("unsigned".into(), obj(json!({"age": 3})).into());
    sign_event(
        &mut again,
        &rv,
        &server("a.example"),
        &kid("ed25519:k"),
        &seeded_key(1),
    )
    .unwrap();
    sign_event(
        &mut again,
        &rv,
        &server("b.example"),
        &kid("ed25519:k"),
        &seeded_key(2),
    )
    .unwrap();
    assert_eq!(
        to_canonical_vec(&again.into()),
        to_canonical_vec(&event.into())
    );
}
