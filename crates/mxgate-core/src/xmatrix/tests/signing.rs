//! Signing bytes, verification and the sign/verify/round-trip properties.

use ed25519_dalek::{Signature, SigningKey, Verifier};
use proptest::prelude::*;

use super::{name, spec_key};
use crate::ids::{KeyId, ServerName};
use crate::json::{CanonicalJsonObject, CanonicalJsonValue, parse_strict, to_canonical_vec};
use crate::xmatrix::{RequestToSign, XMatrix, XMatrixError};

#[test]
fn signing_bytes_layout() {
    let (origin, destination) = (name("a.org"), name("b.org:8448"));
    let content = parse_strict(br#"{"b":[1,"\u0001"],"a":"\u00e9"}"#).unwrap();
    let mut req = RequestToSign {
        method: "PUT",
        uri: "/_matrix/federation/v1/send/1?x=%40a%3Ab&y=\"\\",
        origin: &origin,
        destination: &destination,
        content: Some(&content),
    };
    let expected = concat!(
        r#"{"content":{"a":"é","b":[1,"\u0001"]},"destination":"b.org:8448","#,
        r#""method":"PUT","origin":"a.org","uri":"/_matrix/federation/v1/send/1?x=%40a%3Ab&y=\"\\"}"#
    );
    assert_eq!(String::from_utf8(req.signing_bytes()).unwrap(), expected);
    req.content = None;
    let expected = r#"{"destination":"b.org:8448","method":"PUT","origin":"a.org","uri":"/_matrix/federation/v1/send/1?x=%40a%3Ab&y=\"\\"}"#;
    assert_eq!(String::from_utf8(req.signing_bytes()).unwrap(), expected);
}

#[test]
fn verify_checks_origin_destination_and_signature() {
    let key = spec_key();
    let (origin, destination, other) = (name("a.org"), name("b.org"), name("c.org"));
    let body = parse_strict(b"{}").unwrap();
    let req = RequestToSign {
        method: "GET",
        uri: "/_matrix/x",
        origin: &origin,
        destination: &destination,
        content: Some(&body),
    };
    let xm = req.sign(&KeyId::parse("ed25519:1").unwrap(), &key);
    assert_eq!(req.verify(&xm, &key.verifying_key()), Ok(()));
    let without_destination = XMatrix {
        destination: None,
        ..xm.clone()
    };
    assert_eq!(
        req.verify(&without_destination, &key.verifying_key()),
        Ok(())
    );
    let elsewhere = RequestToSign {
        destination: &other,
        ..req
    };
    assert_eq!(
        elsewhere.verify(&xm, &key.verifying_key()),
        Err(XMatrixError::DestinationMismatch)
    );
    assert_eq!(
        elsewhere.verify(&without_destination, &key.verifying_key()),
        Err(XMatrixError::BadSignature)
    );
    let forged = XMatrix {
        origin: other.clone(),
        ..xm.clone()
    };
    assert_eq!(
        req.verify(&forged, &key.verifying_key()),
        Err(XMatrixError::OriginMismatch)
    );
    let no_body = RequestToSign {
        content: None,
        ..req
    };
    assert_eq!(
        no_body.verify(&xm, &key.verifying_key()),
        Err(XMatrixError::BadSignature)
    );
    let other_key = SigningKey::from_bytes(&[7; 32]).verifying_key();
    assert_eq!(req.verify(&xm, &other_key), Err(XMatrixError::BadSignature));
}

#[test]
fn verify_refuses_small_order_key() {
    // The identity point: every "signature" with R = identity, S = 0 satisfies
    // the cofactorless equation for it, so plain `verify` would accept it.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = ed25519_dalek::VerifyingKey::from_bytes(&identity).unwrap();
    let mut forged = [0u8; 64];
    forged[0] = 1;
    let (origin, destination) = (name("a.org"), name("b.org"));
    let req = RequestToSign {
        method: "GET",
        uri: "/",
        origin: &origin,
        destination: &destination,
        content: None,
    };
    let xm = XMatrix {
        origin: origin.clone(),
        destination: None,
        key: KeyId::parse("ed25519:1").unwrap(),
        sig: Signature::from_bytes(&forged),
    };
    assert!(
        weak.verify(&req.signing_bytes(), &xm.sig).is_ok(),
        "plain verify accepts it"
    );
    assert_eq!(req.verify(&xm, &weak), Err(XMatrixError::BadSignature));
}

fn server_name() -> impl Strategy<Value = ServerName> {
    prop_oneof![
        "[a-z][a-z0-9.-]{0,15}(:[1-9][0-9]{0,3})?",
        "\\[::[1-9a-f]{1,4}\\](:[1-9][0-9]{0,3})?",
    ]
    .prop_map(|s| name(&s))
}

fn xmatrix() -> impl Strategy<Value = XMatrix> {
    (
        server_name(),
        proptest::option::of(server_name()),
        "[a-zA-Z0-9_]{1,12}",
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(origin, destination, version, r, s)| XMatrix {
            origin,
            destination,
            key: KeyId::parse(&format!("ed25519:{version}")).unwrap(),
            sig: Signature::from_bytes(&[r, s].concat().try_into().unwrap()),
        })
}

/// A small JSON object with string values.
fn content() -> impl Strategy<Value = CanonicalJsonValue> {
    proptest::collection::btree_map("[a-z]{1,6}", "[a-zA-Z0-9 ]{0,12}", 0..5).prop_map(|map| {
        let object: CanonicalJsonObject = map
            .into_iter()
            .map(|(k, v)| (k, CanonicalJsonValue::String(v)))
            .collect();
        CanonicalJsonValue::Object(object)
    })
}

/// Replaces the byte at `at % len` with a different alphanumeric byte.
fn mutate(s: &str, at: usize, by: u8) -> String {
    let mut bytes = s.as_bytes().to_vec();
    let i = at % bytes.len();
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut replacement = alphabet[usize::from(by) % alphabet.len()];
    if replacement == bytes[i] {
        replacement = if bytes[i] == b'a' { b'b' } else { b'a' };
    }
    bytes[i] = replacement;
    String::from_utf8(bytes).unwrap()
}

proptest! {
    #[test]
    fn header_round_trips(xm in xmatrix()) {
        prop_assert_eq!(XMatrix::parse(xm.to_header_value().as_bytes()), Ok(xm));
    }

    #[test]
    fn signing_bytes_are_canonical_json(method in ".*", uri in ".*", origin in server_name(), destination in server_name(), body in proptest::option::of(content())) {
        let req = RequestToSign { method: &method, uri: &uri, origin: &origin, destination: &destination, content: body.as_ref() };
        let mut object = CanonicalJsonObject::new();
        object.insert("method".into(), CanonicalJsonValue::String(method.clone()));
        object.insert("uri".into(), CanonicalJsonValue::String(uri.clone()));
        object.insert("origin".into(), CanonicalJsonValue::String(origin.to_string()));
        object.insert("destination".into(), CanonicalJsonValue::String(destination.to_string()));
        if let Some(body) = &body {
            object.insert("content".into(), body.clone());
        }
        prop_assert_eq!(req.signing_bytes(), to_canonical_vec(&CanonicalJsonValue::Object(object)));
    }

    #[test]
    fn any_single_byte_change_breaks_the_signature(
        method in "[A-Z]{3,7}", uri in "/_matrix/[a-z0-9/?=&%]{0,30}", origin in server_name(),
        destination in server_name(), body in content(), field in 0..5u8, at: usize, by: u8,
    ) {
        let key = spec_key();
        let req = RequestToSign { method: &method, uri: &uri, origin: &origin, destination: &destination, content: Some(&body) };
        let xm = req.sign(&KeyId::parse("ed25519:1").unwrap(), &key);
        prop_assert_eq!(req.verify(&xm, &key.verifying_key()), Ok(()));
        let body_bytes = String::from_utf8(to_canonical_vec(&body)).unwrap();
        let (m, u, o, d, b) = match field {
            0 => (mutate(&method, at, by), uri.clone(), origin.to_string(), destination.to_string(), body_bytes),
            1 => (method.clone(), mutate(&uri, at, by), origin.to_string(), destination.to_string(), body_bytes),
            2 => (method.clone(), uri.clone(), mutate(origin.as_str(), at, by), destination.to_string(), body_bytes),
            3 => (method.clone(), uri.clone(), origin.to_string(), mutate(destination.as_str(), at, by), body_bytes),
            _ => (method.clone(), uri.clone(), origin.to_string(), destination.to_string(), mutate(&body_bytes, at, by)),
        };
        let (Ok(o), Ok(d), Ok(b)) = (ServerName::parse(&o), ServerName::parse(&d), parse_strict(b.as_bytes())) else {
            return Ok(()); // The change made an invalid name or body: refused before verification.
        };
        let changed = RequestToSign { method: &m, uri: &u, origin: &o, destination: &d, content: Some(&b) };
        prop_assume!(changed.signing_bytes() != req.signing_bytes());
        // The header follows the change, so only the signature can catch it.
        let xm = XMatrix { origin: o.clone(), destination: Some(d.clone()), ..xm };
        prop_assert_eq!(changed.verify(&xm, &key.verifying_key()), Err(XMatrixError::BadSignature));
    }
}

#[test]
fn raw_body_gives_the_same_signing_bytes() {
    let key = spec_key();
    let (origin, destination) = (name("a.org"), name("b.org"));
    let content = parse_strict(br#"{"b":[1,"\u0001"],"a":"\u00e9"}"#).unwrap();
    let req = RequestToSign {
        method: "PUT",
        uri: "/_matrix/federation/v1/send/1",
        origin: &origin,
        destination: &destination,
        content: Some(&content),
    };
    let expected = req.signing_bytes();
    let canonical = to_canonical_vec(&content);
    // The canonical body is used as is; non-canonical bodies of the same
    // value (key order, whitespace, escapes) are re-serialized: same bytes.
    for raw in [
        &canonical[..],
        br#"{"b":[1,"\u0001"],"a":"\u00e9"}"#,
        br#"{"a":"\u00e9", "b":[1,"\u0001"]}"#,
        b"",
    ] {
        assert_eq!(req.signing_bytes_with_raw(raw), expected, "{raw:?}");
    }
    let xm = req.sign(&KeyId::parse("ed25519:1").unwrap(), &key);
    assert_eq!(
        req.verify_with_raw(&xm, &key.verifying_key(), &canonical),
        Ok(())
    );
    let other = parse_strict(br#"{"a":"x"}"#).unwrap();
    let forged = RequestToSign {
        content: Some(&other),
        ..req
    };
    // The raw bytes never stand in for a different value.
    assert_eq!(
        forged.verify_with_raw(&xm, &key.verifying_key(), &canonical),
        Err(XMatrixError::BadSignature)
    );
    let empty = RequestToSign {
        content: None,
        ..req
    };
    assert_eq!(
        empty.signing_bytes_with_raw(&canonical),
        empty.signing_bytes()
    );
}

#[test]
fn canonical_body_is_signed_as_is() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let (origin, destination) = (name("a.org"), name("b.org"));
    let content = parse_strict(br#"{"b":[1,"\u0001"],"a":"\u00e9"}"#).unwrap();
    let canonical = to_canonical_vec(&content);
    let doc = crate::json::scan_canonical(&canonical).unwrap();
    let req = RequestToSign {
        method: "PUT",
        uri: "/_matrix/federation/v1/send/1",
        origin: &origin,
        destination: &destination,
        content: Some(&content),
    };
    // `content` is ignored: the document is the content.
    let without = RequestToSign {
        content: None,
        ..req
    };
    assert_eq!(without.signing_bytes_canonical(&doc), req.signing_bytes());
    let xm = req.sign(&KeyId::parse("ed25519:1").unwrap(), &key);
    assert_eq!(
        without.verify_canonical(&xm, &key.verifying_key(), &doc),
        Ok(())
    );
    let other = br#"{"a":"x"}"#;
    let other = crate::json::scan_canonical(other).unwrap();
    assert_eq!(
        without.verify_canonical(&xm, &key.verifying_key(), &other),
        Err(XMatrixError::BadSignature)
    );
    let elsewhere = RequestToSign {
        uri: "/_matrix/federation/v1/send/2",
        ..without
    };
    assert_eq!(
        elsewhere.verify_canonical(&xm, &key.verifying_key(), &doc),
        Err(XMatrixError::BadSignature)
    );
}
