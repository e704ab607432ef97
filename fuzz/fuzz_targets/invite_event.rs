//! Events as they arrive in `PUT /_matrix/federation/v2/invite/...`
//! (`{"event": {...}, "room_version": "..", ...}`) or bare: `json::parse_object`,
//! `event::check_content_hash`, `event::redact`, `event::event_id`,
//! `event::required_signers` and `event::verify_event_signatures`.
//!
//! The room version is the body's `room_version` when it is a known one;
//! otherwise (or for a bare event) versions 1 and 11 are both tried.
//!
//! Invariants: redaction is idempotent and only removes keys; the reference
//! hash and a derived event id are the same for the event and its redaction;
//! event ids re-parse from their strings. The event is then signed by its
//! sender's server with the fuzzer's key (`event::sign_event`): the signed
//! copy must pass the content hash check, and its signatures must verify when
//! the sender's server is the only required signer.
#![no_main]

use std::sync::LazyLock;

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use mxgate_core::event::{
    EventIdFormat, RoomVersion, check_content_hash, event_id, redact, reference_hash,
    required_signers, sign_event, verify_event_signatures,
};
use mxgate_core::ids::{EventId, KeyId, UserId};
use mxgate_core::json::{CanonicalJsonObject, CanonicalJsonValue, parse_object};

static KEY_ID: LazyLock<KeyId> =
    LazyLock::new(|| KeyId::parse("ed25519:fuzz").expect("valid key id"));
static KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::from_bytes(&[7; 32]));

fuzz_target!(|data: &[u8]| {
    let Ok(body) = parse_object(data) else {
        return;
    };
    let (event, versions) = match body.get("event") {
        Some(CanonicalJsonValue::Object(event)) => (event, room_versions(&body)),
        _ => (&body, vec![RoomVersion::V1, RoomVersion::V11]),
    };
    let _ = check_content_hash(event);
    for rv in versions {
        check_redaction_and_id(event, &rv);
        let _ = required_signers(event, &rv);
        let _ = verify_event_signatures(event, &rv, |_, _| Some(KEY.verifying_key()));
        check_signed_copy(event, &rv);
    }
});

fn room_versions(body: &CanonicalJsonObject) -> Vec<RoomVersion> {
    match body
        .get("room_version")
        .and_then(CanonicalJsonValue::as_str)
        .map(RoomVersion::parse)
    {
        Some(Ok(rv)) => vec![rv],
        _ => vec![RoomVersion::V1, RoomVersion::V11],
    }
}

fn check_redaction_and_id(event: &CanonicalJsonObject, rv: &RoomVersion) {
    let Ok(redacted) = redact(event, rv) else {
        assert!(event_id(event, rv).is_err() || rv.event_id_format() == EventIdFormat::Explicit);
        return;
    };
    assert_eq!(
        redact(&redacted, rv).as_ref(),
        Ok(&redacted),
        "redaction is not idempotent"
    );
    assert!(
        redacted.keys().all(|k| event.contains_key(k)),
        "redaction added a key"
    );
    assert_eq!(reference_hash(&redacted, rv), reference_hash(event, rv));
    let Ok(id) = event_id(event, rv) else {
        return;
    };
    assert_eq!(EventId::parse(id.as_str()).as_ref(), Ok(&id));
    if rv.event_id_format() != EventIdFormat::Explicit {
        assert_eq!(
            id.as_str().len(),
            44,
            "a hash event id is `$` + 43 base64 characters"
        );
        assert_eq!(
            event_id(&redacted, rv).as_ref(),
            Ok(&id),
            "redaction changed the event id"
        );
    }
}

fn check_signed_copy(event: &CanonicalJsonObject, rv: &RoomVersion) {
    let Some(sender) = event.get("sender").and_then(CanonicalJsonValue::as_str) else {
        return;
    };
    let Ok(sender) = UserId::parse(sender) else {
        return;
    };
    let server = sender.server_name();
    let mut signed = event.clone();
    signed.remove("signatures");
    if sign_event(&mut signed, rv, server, &KEY_ID, &KEY).is_err() {
        return;
    }
    assert_eq!(
        check_content_hash(&signed),
        Ok(()),
        "a freshly signed event fails its hash"
    );
    let Ok(signers) = required_signers(&signed, rv) else {
        return;
    };
    if signers.len() == 1 && signers.contains(server) {
        let lookup = |s: &_, k: &KeyId| (s == server && k == &*KEY_ID).then(|| KEY.verifying_key());
        assert_eq!(
            verify_event_signatures(&signed, rv, lookup),
            Ok(()),
            "own signature fails"
        );
    }
}
