//! Server key documents: `keys::ServerKeys::from_response` and
//! `keys::parse_notary_response` on arbitrary bytes, for `keys.example` at a
//! fixed `now`.
//!
//! Random bytes almost never carry a valid self-signature, so each input is
//! also tried re-signed: if it is a JSON object, it is signed as
//! `keys.example` with the fuzzer's key `ed25519:fuzz` (the seeds publish its
//! public half in `verify_keys`), which lets the fuzzer explore everything
//! behind the signature check.
//!
//! Invariants for an accepted document: it is for the server asked, keeps the
//! raw bytes and `now`, is fresh, expires at `min(valid_until_ts, now + 7 d)`,
//! has at least one current key usable for requests until then (and none
//! after), restores equal from its raw bytes, and is refused for any other
//! server name. A re-signed document accepted directly is also accepted,
//! with the same keys, inside a notary response signed by the notary.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use ed25519_dalek::{SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;
use mxgate_core::ids::{KeyId, ServerName};
use mxgate_core::json::{CanonicalJsonValue, parse_object, sign_json, to_canonical_vec};
use mxgate_core::keys::{MAX_KEY_LIFETIME_MS, ServerKeys, parse_notary_response};

/// 2026-09-21, the `now` of the fixtures.
const NOW_MS: u64 = 1_790_000_000_000;

struct Fixed {
    server: ServerName,
    other: ServerName,
    key_id: KeyId,
    key: SigningKey,
    notary: ServerName,
    notary_key_id: KeyId,
    notary_key: SigningKey,
    notary_keys: BTreeMap<KeyId, VerifyingKey>,
}

static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let notary_key_id = KeyId::parse("ed25519:notary").expect("valid key id");
    let notary_key = SigningKey::from_bytes(&[9; 32]);
    Fixed {
        server: ServerName::parse("keys.example").expect("valid server name"),
        other: ServerName::parse("other.example").expect("valid server name"),
        key_id: KeyId::parse("ed25519:fuzz").expect("valid key id"),
        key: SigningKey::from_bytes(&[7; 32]),
        notary: ServerName::parse("notary.example").expect("valid server name"),
        notary_keys: BTreeMap::from([(notary_key_id.clone(), notary_key.verifying_key())]),
        notary_key_id,
        notary_key,
    }
});

fuzz_target!(|data: &[u8]| {
    let fixed = &*FIXED;
    if let Ok(keys) = ServerKeys::from_response(data, &fixed.server, NOW_MS) {
        check_accepted(&keys, data);
    }
    if let Ok(entries) = parse_notary_response(
        data,
        &fixed.notary,
        &fixed.notary_keys,
        &fixed.server,
        NOW_MS,
    ) {
        assert!(!entries.is_empty());
        for keys in &entries {
            assert_eq!(keys.server_name(), &fixed.server);
            assert!(keys.valid_until_ts() >= NOW_MS);
        }
    }
    let Ok(mut object) = parse_object(data) else {
        return;
    };
    sign_json(&mut object, &fixed.server, &fixed.key_id, &fixed.key);
    let body = to_canonical_vec(&CanonicalJsonValue::Object(object.clone()));
    if let Ok(keys) = ServerKeys::from_response(&body, &fixed.server, NOW_MS) {
        check_accepted(&keys, &body);
        sign_json(
            &mut object,
            &fixed.notary,
            &fixed.notary_key_id,
            &fixed.notary_key,
        );
        check_notarised(&keys, CanonicalJsonValue::Object(object));
    }
});

fn check_accepted(keys: &ServerKeys, body: &[u8]) {
    let fixed = &*FIXED;
    assert_eq!(keys.server_name(), &fixed.server);
    assert_eq!(keys.raw_response(), body);
    assert_eq!(keys.fetched_at(), NOW_MS);
    assert!(
        keys.valid_until_ts() >= NOW_MS,
        "accepted an expired document"
    );
    let expires_at = keys.valid_until_ts().min(NOW_MS + MAX_KEY_LIFETIME_MS);
    assert_eq!(keys.expires_at(), expires_at);
    assert!(
        !keys.verify_keys().is_empty(),
        "accepted a document with no current key"
    );
    for (id, key) in keys.verify_keys() {
        assert!(id.is_ed25519());
        assert_eq!(keys.key_for_request(id, NOW_MS), Some(key));
        assert_eq!(keys.key_for_request(id, expires_at), Some(key));
        assert_eq!(
            keys.key_for_request(id, expires_at.saturating_add(1))
                .is_some(),
            expires_at == u64::MAX
        );
    }
    let restored = ServerKeys::restore(keys.raw_response(), &fixed.server, NOW_MS);
    assert_eq!(restored.as_ref(), Ok(keys));
    assert!(ServerKeys::from_response(body, &fixed.other, NOW_MS).is_err());
}

fn check_notarised(keys: &ServerKeys, entry: CanonicalJsonValue) {
    let fixed = &*FIXED;
    let response = BTreeMap::from([(
        "server_keys".to_owned(),
        CanonicalJsonValue::Array(vec![entry]),
    )]);
    let body = to_canonical_vec(&CanonicalJsonValue::Object(response));
    let entries = parse_notary_response(
        &body,
        &fixed.notary,
        &fixed.notary_keys,
        &fixed.server,
        NOW_MS,
    )
    .expect("a notarised copy of an accepted document must be accepted");
    assert_eq!(entries.len(), 1);
    let notarised = &entries[0];
    assert_eq!(notarised.verify_keys(), keys.verify_keys());
    assert_eq!(notarised.old_verify_keys(), keys.old_verify_keys());
    assert_eq!(notarised.valid_until_ts(), keys.valid_until_ts());
    assert_eq!(notarised.expires_at(), keys.expires_at());
}
