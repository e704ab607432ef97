//! Signing and verifying JSON objects, and the spec's base64 flavour.
//!
//! Spec: <https://spec.matrix.org/v1.16/appendices/#signing-json> and
//! <https://spec.matrix.org/v1.16/appendices/#unpadded-base64>.

use base64::{
    Engine, alphabet,
    engine::general_purpose::{GeneralPurpose, NO_PAD_INDIFFERENT, STANDARD_NO_PAD},
};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::{CanonicalJsonObject, CanonicalJsonValue, to_canonical_vec_without};
use crate::ids::{KeyId, ServerName};

/// Top-level keys a JSON signature does not cover.
const NOT_SIGNED: &[&str] = &["signatures", "unsigned"];

/// Lenient decoder config: padding optional, non-zero trailing bits ignored
/// (like Python's decoder; the spec's own test seed has such bits).
const LENIENT: base64::engine::GeneralPurposeConfig =
    NO_PAD_INDIFFERENT.with_decode_allow_trailing_bits(true);
/// Decoder for the standard alphabet.
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
/// Decoder for the URL-safe alphabet.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Why a JSON signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature by this server with this key id.
    #[error("no signature by the expected server and key")]
    Missing,
    /// `signatures` (or an entry in it) has the wrong JSON type.
    #[error("malformed signatures object")]
    Malformed,
    /// The key id names an algorithm other than ed25519.
    #[error("unsupported signing algorithm")]
    UnsupportedAlgorithm,
    /// Not base64 (standard or URL-safe alphabet, padded or not).
    #[error("invalid base64")]
    BadBase64,
    /// The decoded signature is not 64 bytes.
    #[error("signature has the wrong length")]
    WrongLength,
    /// The signature does not verify with the key.
    #[error("signature does not verify")]
    Invalid,
}

impl SignatureError {
    /// Stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing_signature",
            Self::Malformed => "malformed_signatures",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::BadBase64 => "bad_base64",
            Self::WrongLength => "wrong_signature_length",
            Self::Invalid => "bad_signature",
        }
    }
}

/// Signs `object` as `server` with `key_id`, adding the signature to
/// `signatures.<server>.<key_id>` next to any existing signatures.
///
/// The signature covers the canonical JSON of the object without `signatures`
/// and `unsigned` (serialised from a view, the object is not copied). A
/// `signatures` member (or server entry) that is not an object is replaced.
pub fn sign_json(
    object: &mut CanonicalJsonObject,
    server: &ServerName,
    key_id: &KeyId,
    key: &SigningKey,
) {
    let signed_bytes = to_canonical_vec_without(object, NOT_SIGNED);
    let signature = encode_base64(&key.sign(&signed_bytes).to_bytes());
    let mut signatures = take_object(object, "signatures");
    let mut by_server = take_object(&mut signatures, server.as_str());
    by_server.insert(
        key_id.as_str().to_owned(),
        CanonicalJsonValue::String(signature),
    );
    signatures.insert(
        server.as_str().to_owned(),
        CanonicalJsonValue::Object(by_server),
    );
    object.insert(
        "signatures".to_owned(),
        CanonicalJsonValue::Object(signatures),
    );
}

/// Checks that `object` carries a valid signature by `server` with `key_id`,
/// made with `key` (ed25519, strict verification: weak keys and
/// non-canonical signatures are refused).
pub fn verify_json(
    object: &CanonicalJsonObject,
    server: &ServerName,
    key_id: &KeyId,
    key: &VerifyingKey,
) -> Result<(), SignatureError> {
    if !key_id.is_ed25519() {
        return Err(SignatureError::UnsupportedAlgorithm);
    }
    let encoded = find_signature(object, server, key_id)?;
    let raw: [u8; 64] = decode_base64(encoded)?
        .try_into()
        .map_err(|_| SignatureError::WrongLength)?;
    let signed_bytes = to_canonical_vec_without(object, NOT_SIGNED);
    key.verify_strict(&signed_bytes, &Signature::from_bytes(&raw))
        .map_err(|_| SignatureError::Invalid)
}

/// Decodes base64 in either alphabet (standard or URL-safe, not mixed), with or
/// without `=` padding, as the spec asks decoders to accept. Non-zero trailing
/// bits are ignored, as Python's decoder (and so Synapse) does.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, SignatureError> {
    let url_safe = text.bytes().any(|b| b == b'-' || b == b'_');
    let engine = if url_safe {
        &URL_SAFE_LENIENT
    } else {
        &STANDARD_LENIENT
    };
    engine.decode(text).map_err(|_| SignatureError::BadBase64)
}

/// Encodes `bytes` as unpadded standard base64.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}

/// The base64 signature at `signatures.<server>.<key_id>`.
fn find_signature<'o>(
    object: &'o CanonicalJsonObject,
    server: &ServerName,
    key_id: &KeyId,
) -> Result<&'o str, SignatureError> {
    let signatures = match object.get("signatures") {
        None => return Err(SignatureError::Missing),
        Some(value) => value.as_object().ok_or(SignatureError::Malformed)?,
    };
    let by_server = match signatures.get(server.as_str()) {
        None => return Err(SignatureError::Missing),
        Some(value) => value.as_object().ok_or(SignatureError::Malformed)?,
    };
    match by_server.get(key_id.as_str()) {
        None => Err(SignatureError::Missing),
        Some(value) => value.as_str().ok_or(SignatureError::Malformed),
    }
}

/// Removes `key` from `object`, returning its value if it is an object and an
/// empty object otherwise.
fn take_object(object: &mut CanonicalJsonObject, key: &str) -> CanonicalJsonObject {
    match object.remove(key) {
        Some(CanonicalJsonValue::Object(inner)) => inner,
        _ => CanonicalJsonObject::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{parse_object, to_canonical_vec};

    const SEED: &str = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";

    fn spec_key() -> (ServerName, KeyId, SigningKey) {
        let seed: [u8; 32] = decode_base64(SEED).unwrap().try_into().unwrap();
        let server = ServerName::parse("domain").unwrap();
        (
            server,
            KeyId::parse("ed25519:1").unwrap(),
            SigningKey::from_bytes(&seed),
        )
    }

    fn signed(input: &str) -> CanonicalJsonObject {
        let (server, key_id, key) = spec_key();
        let mut object = parse_object(input.as_bytes()).unwrap();
        sign_json(&mut object, &server, &key_id, &key);
        object
    }

    fn signatures_of(object: &CanonicalJsonObject) -> Option<&CanonicalJsonObject> {
        object
            .get("signatures")?
            .as_object()?
            .get("domain")?
            .as_object()
    }

    #[test]
    fn spec_test_vectors() {
        let empty = signed("{}");
        let expected = concat!(
            r#"{"signatures":{"domain":{"ed25519:1":"#,
            r#""K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"}}}"#
        );
        assert_eq!(to_canonical_vec(&empty.into()), expected.as_bytes());
        let data = signed(r#"{"one": 1, "two": "Two"}"#);
        let expected = concat!(
            r#"{"one":1,"signatures":{"domain":{"ed25519:1":"#,
            r#""KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}},"#,
            r#""two":"Two"}"#
        );
        assert_eq!(to_canonical_vec(&data.into()), expected.as_bytes());
    }

    #[test]
    fn verify_roundtrip_ignores_unsigned_and_other_signatures() {
        let (server, key_id, key) = spec_key();
        let mut object = signed(r#"{"a":1,"unsigned":{"age":5}}"#);
        let verifying = key.verifying_key();
        assert_eq!(verify_json(&object, &server, &key_id, &verifying), Ok(()));
        object.insert("unsigned".to_owned(), CanonicalJsonValue::Bool(true));
        let other = ServerName::parse("other.example").unwrap();
        sign_json(
            &mut object,
            &other,
            &key_id,
            &SigningKey::from_bytes(&[7; 32]),
        );
        assert_eq!(verify_json(&object, &server, &key_id, &verifying), Ok(()));
        assert_eq!(object["signatures"].as_object().unwrap().len(), 2);
    }

    #[test]
    fn sign_merges_into_existing_signatures() {
        let (server, _, key) = spec_key();
        let mut object = parse_object(br#"{"signatures":{"domain":{"ed25519:0":"x"}}}"#).unwrap();
        sign_json(
            &mut object,
            &server,
            &KeyId::parse("ed25519:1").unwrap(),
            &key,
        );
        let by_server = signatures_of(&object).unwrap();
        assert_eq!(
            by_server.keys().collect::<Vec<_>>(),
            ["ed25519:0", "ed25519:1"]
        );
        let mut broken = parse_object(br#"{"signatures":[1]}"#).unwrap();
        sign_json(
            &mut broken,
            &server,
            &KeyId::parse("ed25519:1").unwrap(),
            &key,
        );
        assert!(signatures_of(&broken).unwrap()["ed25519:1"].is_string());
    }

    #[test]
    fn verify_failures() {
        let (server, key_id, key) = spec_key();
        let verifying = key.verifying_key();
        let check =
            |object: &CanonicalJsonObject, id: &KeyId| verify_json(object, &server, id, &verifying);
        let mut tampered = signed(r#"{"a":1}"#);
        tampered.insert("a".to_owned(), CanonicalJsonValue::Integer(2_u32.into()));
        assert_eq!(check(&tampered, &key_id), Err(SignatureError::Invalid));
        assert_eq!(
            check(&signed("{}"), &KeyId::parse("ed25519:2").unwrap()),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            check(&parse_object(b"{}").unwrap(), &key_id),
            Err(SignatureError::Missing)
        );
        let other_key = SigningKey::from_bytes(&[1; 32]).verifying_key();
        let object = signed("{}");
        assert_eq!(
            verify_json(&object, &server, &key_id, &other_key),
            Err(SignatureError::Invalid)
        );
        let cases: [(&[u8], SignatureError); 5] = [
            (br#"{"signatures":"x"}"#, SignatureError::Malformed),
            (
                br#"{"signatures":{"domain":[]}}"#,
                SignatureError::Malformed,
            ),
            (
                br#"{"signatures":{"domain":{"ed25519:1":1}}}"#,
                SignatureError::Malformed,
            ),
            (
                br#"{"signatures":{"domain":{"ed25519:1":"!!"}}}"#,
                SignatureError::BadBase64,
            ),
            (
                br#"{"signatures":{"domain":{"ed25519:1":"AAAA"}}}"#,
                SignatureError::WrongLength,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(check(&parse_object(input).unwrap(), &key_id), Err(expected));
        }
        let lax = KeyId::parse_lax("curve25519:1").unwrap();
        assert_eq!(
            check(&object, &lax).map_err(|e| e.reason()),
            Err("unsupported_algorithm")
        );
    }

    #[test]
    fn base64_flavours() {
        for (raw, encoded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode_base64(raw.as_bytes()), encoded);
            assert_eq!(decode_base64(encoded).unwrap(), raw.as_bytes());
        }
        assert_eq!(decode_base64("Zm8=").unwrap(), b"fo");
        assert_eq!(decode_base64("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_base64("+/8=").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_base64("Zm9=").unwrap(), b"fo");
        for bad in ["+_8", "Zm8==", "Z", "Zm 8", "Zm8\n"] {
            assert_eq!(
                decode_base64(bad),
                Err(SignatureError::BadBase64),
                "{bad:?}"
            );
        }
    }
}
