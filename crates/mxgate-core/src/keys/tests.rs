use ed25519_dalek::SigningKey;

use super::*;
use crate::json::{
    CanonicalJsonObject, CanonicalJsonValue, encode_base64, parse_object, sign_json,
    to_canonical_vec,
};

const NOW: u64 = 1_700_000_000_000;
const HOUR: u64 = 3_600_000;

fn server() -> ServerName {
    ServerName::parse("example.org").unwrap()
}

fn id(raw: &str) -> KeyId {
    KeyId::parse(raw).unwrap()
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn response(valid_until_ts: u64) -> Vec<u8> {
    build_key_response(&server(), &id("ed25519:k1"), &key(1), valid_until_ts)
}

fn bytes(object: CanonicalJsonObject) -> Vec<u8> {
    to_canonical_vec(&CanonicalJsonValue::Object(object))
}

/// Applies `change` to a response, then signs it again as example.org/k1.
fn edited(body: &[u8], change: impl FnOnce(&mut CanonicalJsonObject)) -> Vec<u8> {
    let mut object = parse_object(body).unwrap();
    change(&mut object);
    object.remove("signatures");
    sign_json(&mut object, &server(), &id("ed25519:k1"), &key(1));
    bytes(object)
}

fn with_old_key(body: &[u8], raw_id: &str, expired_ts: u64) -> Vec<u8> {
    let entry = format!(r#"{{"key":"{}","expired_ts":{expired_ts}}}"#, public(9));
    edited(body, |object| {
        let CanonicalJsonValue::Object(old) = object.get_mut("old_verify_keys").unwrap() else {
            panic!()
        };
        old.insert(
            raw_id.to_owned(),
            parse_object(entry.as_bytes()).unwrap().into(),
        );
    })
}

fn public(seed: u8) -> String {
    encode_base64(key(seed).verifying_key().as_bytes())
}

fn reason(result: Result<ServerKeys, KeyError>) -> &'static str {
    result.map(|_| ()).unwrap_err().reason()
}

#[test]
fn valid_response_is_accepted() {
    let body = response(NOW + HOUR);
    let keys = ServerKeys::from_response(&body, &server(), NOW).unwrap();
    assert_eq!(keys.server_name(), &server());
    assert_eq!(keys.verify_keys().len(), 1);
    assert_eq!(
        keys.key_for_request(&id("ed25519:k1"), NOW),
        Some(&key(1).verifying_key())
    );
    assert_eq!(keys.key_for_request(&id("ed25519:k2"), NOW), None);
    assert_eq!(
        (keys.valid_until_ts(), keys.fetched_at(), keys.expires_at()),
        (NOW + HOUR, NOW, NOW + HOUR)
    );
    assert_eq!(keys.raw_response(), body);
    assert!(keys.old_verify_keys().is_empty());
}

#[test]
fn refused_documents() {
    let other = ServerName::parse("evil.example").unwrap();
    let body = response(NOW + HOUR);
    let wrong_name = ServerKeys::from_response(&body, &other, NOW);
    assert_eq!(reason(wrong_name), "wrong_server_name");
    let unsigned = edited(&body, |_| {});
    let mut unsigned = parse_object(&unsigned).unwrap();
    unsigned.remove("signatures");
    assert_eq!(
        reason(ServerKeys::from_response(&bytes(unsigned), &server(), NOW)),
        "unsigned"
    );
    // Signed only by another server, and by a key id missing from verify_keys.
    let mut foreign = parse_object(&body).unwrap();
    foreign.remove("signatures");
    sign_json(&mut foreign, &other, &id("ed25519:k1"), &key(1));
    sign_json(&mut foreign, &server(), &id("ed25519:k2"), &key(2));
    assert_eq!(
        reason(ServerKeys::from_response(&bytes(foreign), &server(), NOW)),
        "unsigned"
    );
    // Listed key id, but signed by a different private key.
    let mut forged = parse_object(&body).unwrap();
    forged.remove("signatures");
    sign_json(&mut forged, &server(), &id("ed25519:k1"), &key(2));
    assert_eq!(
        reason(ServerKeys::from_response(&bytes(forged), &server(), NOW)),
        "bad_self_signature"
    );
    // Content changed after signing.
    let mut modified = parse_object(&body).unwrap();
    modified.insert(
        "valid_until_ts".to_owned(),
        CanonicalJsonValue::Integer((NOW + 2 * HOUR).try_into().unwrap()),
    );
    assert_eq!(
        reason(ServerKeys::from_response(&bytes(modified), &server(), NOW)),
        "bad_self_signature"
    );
}

#[test]
fn every_self_signature_by_a_known_key_must_verify() {
    let two_keys = edited(&response(NOW + HOUR), |object| {
        let CanonicalJsonValue::Object(current) = object.get_mut("verify_keys").unwrap() else {
            panic!()
        };
        let entry = format!(r#"{{"key":"{}"}}"#, public(2));
        current.insert(
            "ed25519:k2".to_owned(),
            parse_object(entry.as_bytes()).unwrap().into(),
        );
    });
    assert!(ServerKeys::from_response(&two_keys, &server(), NOW).is_ok());
    let mut object = parse_object(&two_keys).unwrap();
    sign_json(&mut object, &server(), &id("ed25519:k2"), &key(3));
    assert_eq!(
        reason(ServerKeys::from_response(&bytes(object), &server(), NOW)),
        "bad_self_signature"
    );
}

#[test]
fn expiry_and_the_seven_day_cap() {
    let expired = response(NOW - 1);
    let err = ServerKeys::from_response(&expired, &server(), NOW).unwrap_err();
    assert_eq!(
        err,
        KeyError::Expired {
            valid_until_ts: NOW - 1
        }
    );
    let restored = ServerKeys::restore(&expired, &server(), NOW - HOUR).unwrap();
    assert_eq!(restored.key_for_request(&id("ed25519:k1"), NOW), None);
    assert!(
        restored
            .key_for_request(&id("ed25519:k1"), NOW - 1)
            .is_some()
    );
    let long = ServerKeys::from_response(&response(NOW + 30 * 24 * HOUR), &server(), NOW).unwrap();
    assert_eq!(long.expires_at(), NOW + MAX_KEY_LIFETIME_MS);
    assert!(
        long.key_for_request(&id("ed25519:k1"), NOW + MAX_KEY_LIFETIME_MS)
            .is_some()
    );
    assert!(
        long.key_for_request(&id("ed25519:k1"), NOW + MAX_KEY_LIFETIME_MS + 1)
            .is_none()
    );
}

#[test]
fn key_for_event_follows_room_version_rules() {
    let body = with_old_key(&response(NOW + HOUR), "ed25519:old", NOW - HOUR);
    let keys = ServerKeys::from_response(&body, &server(), NOW).unwrap();
    let current = id("ed25519:k1");
    let later = NOW + 2 * HOUR;
    assert!(
        keys.key_for_event(&current, later, &RoomVersion::V4)
            .is_some()
    );
    assert!(
        keys.key_for_event(&current, later, &RoomVersion::V5)
            .is_none()
    );
    assert!(
        keys.key_for_event(&current, NOW + HOUR, &RoomVersion::V10)
            .is_some()
    );
    let old = id("ed25519:old");
    assert_eq!(keys.key_for_request(&old, NOW - 2 * HOUR), None);
    assert_eq!(
        keys.key_for_event(&old, NOW - HOUR - 1, &RoomVersion::V11),
        Some(&key(9).verifying_key())
    );
    assert_eq!(keys.key_for_event(&old, NOW - HOUR, &RoomVersion::V1), None);
    assert_eq!(keys.old_verify_keys()[&old].expired_ts, NOW - HOUR);
}

#[test]
fn key_id_policy() {
    let base = response(NOW + HOUR);
    let lax_old = with_old_key(&base, "ed25519:old-1.x", NOW);
    let keys = ServerKeys::from_response(&lax_old, &server(), NOW).unwrap();
    assert_eq!(keys.old_verify_keys().len(), 1);
    let foreign_alg = with_old_key(&base, "curve25519:x", NOW);
    assert!(
        ServerKeys::from_response(&foreign_alg, &server(), NOW)
            .unwrap()
            .old_verify_keys()
            .is_empty()
    );
    let lax_current = edited(&base, |object| {
        let CanonicalJsonValue::Object(current) = object.get_mut("verify_keys").unwrap() else {
            panic!()
        };
        let entry = format!(r#"{{"key":"{}"}}"#, public(2));
        current.insert(
            "ed25519:a-b".to_owned(),
            parse_object(entry.as_bytes()).unwrap().into(),
        );
    });
    assert_eq!(
        ServerKeys::from_response(&lax_current, &server(), NOW),
        Err(KeyError::Malformed("verify_keys"))
    );
}

#[test]
fn malformed_documents() {
    let base = response(NOW + HOUR);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            edited(&base, |o| drop(o.remove("valid_until_ts"))),
            "malformed",
        ),
        (
            edited(&base, |o| {
                drop(o.insert(
                    "valid_until_ts".into(),
                    CanonicalJsonValue::Integer((-1).into()),
                ))
            }),
            "malformed",
        ),
        (
            edited(&base, |o| drop(o.insert("verify_keys".into(), "x".into()))),
            "malformed",
        ),
        (
            edited(&base, |o| {
                drop(o.insert("old_verify_keys".into(), CanonicalJsonValue::Null))
            }),
            "malformed",
        ),
        (
            edited(&base, |o| drop(o.remove("server_name"))),
            "malformed",
        ),
        (
            with_old_key(&base, "ed25519:o", NOW)
                .iter()
                .map(|&b| if b == b'"' { b'\'' } else { b })
                .collect(),
            "malformed_json",
        ),
        (
            br#"{"server_name":"example.org","server_name":"example.org"}"#.to_vec(),
            "malformed_json",
        ),
        (b"[]".to_vec(), "malformed_json"),
    ];
    for (body, expected) in cases {
        let got = reason(ServerKeys::from_response(&body, &server(), NOW));
        assert_eq!(got, expected, "{}", String::from_utf8_lossy(&body));
    }
    let bad_key = String::from_utf8(base.clone())
        .unwrap()
        .replace(&public(1), "AAAA");
    assert_eq!(
        ServerKeys::from_response(bad_key.as_bytes(), &server(), NOW),
        Err(KeyError::BadKey)
    );
}

#[test]
fn restore_roundtrip_and_pinned() {
    let keys = ServerKeys::from_response(&response(NOW + HOUR), &server(), NOW).unwrap();
    let restored =
        ServerKeys::restore(keys.raw_response(), keys.server_name(), keys.fetched_at()).unwrap();
    assert_eq!(restored, keys);
    let other = ServerName::parse("other.example").unwrap();
    assert_eq!(
        reason(ServerKeys::restore(keys.raw_response(), &other, NOW)),
        "wrong_server_name"
    );
    let pinned = ServerKeys::pinned(
        server(),
        BTreeMap::from([(id("ed25519:p"), key(4).verifying_key())]),
    );
    assert!(pinned.key_for_request(&id("ed25519:p"), u64::MAX).is_some());
    assert!(
        pinned
            .key_for_event(&id("ed25519:p"), u64::MAX, &RoomVersion::V12)
            .is_some()
    );
    assert!(pinned.raw_response().is_empty());
}

#[test]
fn verify_key_parsing() {
    assert_eq!(parse_verify_key(&public(5)), Ok(key(5).verifying_key()));
    let mut identity = [0_u8; 32];
    identity[0] = 1;
    for bad in [
        String::from("!!"),
        encode_base64(&[1; 31]),
        encode_base64(&identity),
    ] {
        assert_eq!(parse_verify_key(&bad), Err(KeyError::BadKey), "{bad}");
    }
}

// Notary responses.

fn notary() -> ServerName {
    ServerName::parse("notary.example").unwrap()
}

fn notary_keys() -> BTreeMap<KeyId, VerifyingKey> {
    BTreeMap::from([(id("ed25519:n1"), key(7).verifying_key())])
}

fn notarised(body: &[u8], signer: &SigningKey, key_id: &str) -> CanonicalJsonValue {
    let mut object = parse_object(body).unwrap();
    sign_json(&mut object, &notary(), &id(key_id), signer);
    object.into()
}

fn notary_body(entries: Vec<CanonicalJsonValue>) -> Vec<u8> {
    bytes(BTreeMap::from([(
        "server_keys".to_owned(),
        CanonicalJsonValue::Array(entries),
    )]))
}

fn query(body: &[u8]) -> Result<Vec<ServerKeys>, KeyError> {
    parse_notary_response(body, &notary(), &notary_keys(), &server(), NOW)
}

#[test]
fn notary_response_accepted_and_filtered() {
    let other = ServerName::parse("other.example").unwrap();
    let foreign = build_key_response(&other, &id("ed25519:z"), &key(8), NOW + HOUR);
    let entries = vec![
        notarised(&response(NOW + HOUR), &key(7), "ed25519:n1"),
        CanonicalJsonValue::Object(parse_object(&foreign).unwrap()),
        notarised(&response(NOW - 1), &key(7), "ed25519:n1"),
    ];
    let keys = query(&notary_body(entries)).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].server_name(), &server());
    let restored = ServerKeys::restore(keys[0].raw_response(), &server(), NOW).unwrap();
    assert_eq!(restored, keys[0]);
}

#[test]
fn notary_response_refused() {
    let good = response(NOW + HOUR);
    let cases: Vec<(Vec<CanonicalJsonValue>, &str)> = vec![
        (
            vec![CanonicalJsonValue::Object(parse_object(&good).unwrap())],
            "notary_signature",
        ),
        (
            vec![notarised(&good, &key(6), "ed25519:other")],
            "notary_signature",
        ),
        (
            vec![notarised(&good, &key(6), "ed25519:n1")],
            "notary_signature",
        ),
        (
            vec![
                notarised(&response(NOW + HOUR), &key(7), "ed25519:n1"),
                notarised(&good, &key(6), "ed25519:n1"),
            ],
            "notary_signature",
        ),
        (
            vec![notarised(&response(NOW - 1), &key(7), "ed25519:n1")],
            "expired",
        ),
        (vec![], "no_keys"),
        (vec![CanonicalJsonValue::Null], "malformed"),
    ];
    for (entries, expected) in cases {
        assert_eq!(query(&notary_body(entries)).unwrap_err().reason(), expected);
    }
    // Notary-signed, but the self-signature is forged.
    let mut forged = parse_object(&good).unwrap();
    forged.remove("signatures");
    sign_json(&mut forged, &server(), &id("ed25519:k1"), &key(2));
    let entry = notarised(&bytes(forged), &key(7), "ed25519:n1");
    assert_eq!(
        query(&notary_body(vec![entry])).unwrap_err().reason(),
        "bad_self_signature"
    );
    assert_eq!(
        query(br#"{"server_keys":{}}"#),
        Err(KeyError::Malformed("server_keys"))
    );
    assert_eq!(query(b"{").unwrap_err().reason(), "malformed_json");
}
