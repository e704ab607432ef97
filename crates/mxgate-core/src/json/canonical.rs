//! Canonical JSON output, reusing serde_json's compact serializer.
//!
//! serde_json's compact output of a [`CanonicalJsonValue`] is already the
//! canonical form of <https://spec.matrix.org/v1.16/appendices/#canonical-json>:
//! - object keys come from a `BTreeMap<String, _>`, whose byte order is UTF-8
//!   code-point order;
//! - the compact formatter writes no insignificant whitespace;
//! - strings escape only `"`, `\` and U+0000–U+001F, using `\b \f \n \r \t`
//!   where one exists and lowercase `\u00xx` otherwise; everything else is raw
//!   UTF-8, which is the spec grammar's shortest encoding;
//! - integers are [`js_int::Int`]s, written as plain decimal (no exponent, and
//!   `-0` can't exist).
//!
//! The tests pin this against the spec's examples.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{CanonicalJsonObject, CanonicalJsonValue};

/// Appends the canonical JSON encoding of `value` to `out`.
pub fn write_canonical(value: &CanonicalJsonValue, out: &mut Vec<u8>) {
    write_serialized(value, out);
}

/// The canonical JSON encoding of `value`.
pub fn to_canonical_vec(value: &CanonicalJsonValue) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

/// Appends the canonical encoding of `object` without its top-level keys in
/// `skip` to `out`, without copying the object (e.g. `["signatures", "unsigned"]`
/// for the bytes a signature covers).
pub fn write_canonical_without(object: &CanonicalJsonObject, skip: &[&str], out: &mut Vec<u8>) {
    write_serialized(&Without { object, skip }, out);
}

/// The canonical encoding of `object` without its top-level keys in `skip`.
pub fn to_canonical_vec_without(object: &CanonicalJsonObject, skip: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical_without(object, skip, &mut out);
    out
}

/// Whether `bytes` are exactly the canonical encoding of `value`, decided
/// while serializing `value` against them: nothing is allocated, and the
/// first differing byte ends the comparison. Lets a caller use a body it
/// received (Synapse sends canonical JSON) in place of re-serializing it.
pub fn is_canonical_encoding(value: &CanonicalJsonValue, bytes: &[u8]) -> bool {
    let mut expected = Expected { rest: bytes };
    serde_json::to_writer(&mut expected, value).is_ok() && expected.rest.is_empty()
}

/// An `io::Write` that checks what is written against the bytes expected
/// next, failing at the first difference.
struct Expected<'a> {
    rest: &'a [u8],
}

impl std::io::Write for Expected<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.rest.strip_prefix(buf) {
            Some(rest) => {
                self.rest = rest;
                Ok(buf.len())
            }
            None => Err(std::io::ErrorKind::InvalidData.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Serializes `value` compactly into `out`.
fn write_serialized<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Writing into a Vec can't fail and every map key is a String, so
    // serde_json has no error to report for these values.
    let result = serde_json::to_writer(&mut *out, value);
    debug_assert!(
        result.is_ok(),
        "canonical JSON serialization failed: {result:?}"
    );
}

/// A view of an object that leaves out some top-level keys.
struct Without<'a> {
    object: &'a CanonicalJsonObject,
    skip: &'a [&'a str],
}

impl Serialize for Without<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.object {
            if !self.skip.contains(&key.as_str()) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::json::{JsonError, parse_strict};

    fn canonical(input: &str) -> String {
        let value = parse_strict(input.as_bytes()).unwrap();
        String::from_utf8(to_canonical_vec(&value)).unwrap()
    }

    #[test]
    fn spec_examples() {
        let cases = [
            ("{}", "{}"),
            (
                "{\n  \"one\": 1,\n  \"two\": \"Two\"\n}",
                r#"{"one":1,"two":"Two"}"#,
            ),
            (
                "{\n  \"b\": \"2\",\n  \"a\": \"1\"\n}",
                r#"{"a":"1","b":"2"}"#,
            ),
            (r#"{"b":"2","a":"1"}"#, r#"{"a":"1","b":"2"}"#),
            (
                r#"{"auth": {"success": true, "mxid": "@john.doe:example.com", "profile":
                   {"display_name": "John Doe", "three_pids": [
                   {"medium": "email", "address": "john.doe@example.org"},
                   {"medium": "msisdn", "address": "123456789"}]}}}"#,
                concat!(
                    r#"{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","#,
                    r#""three_pids":[{"address":"john.doe@example.org","medium":"email"},"#,
                    r#"{"address":"123456789","medium":"msisdn"}]},"success":true}}"#
                ),
            ),
            ("{\"a\": \"日本語\"}", "{\"a\":\"日本語\"}"),
            ("{\"本\": 2, \"日\": 1}", "{\"日\":1,\"本\":2}"),
            (r#"{"a": "\u65E5"}"#, "{\"a\":\"日\"}"),
            (r#"{"a": null}"#, r#"{"a":null}"#),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical(input), expected, "input {input}");
        }
        // The spec's last example canonicalises `-0` and `1e10`; strict parsing
        // refuses both (see the module docs of `json`).
        assert_eq!(
            parse_strict(br#"{"a": -0, "b": 1e10}"#),
            Err(JsonError::Float)
        );
    }

    #[test]
    fn shortest_escapes() {
        let input =
            r#"["\u0000\u0008\t\n\u000b\f\r\u001f", "\/ \" \\ \u007f \u2028 \ud83d\ude00 é"]"#;
        let expected = concat!(
            "[\"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\",",
            "\"/ \\\" \\\\ \u{7f} \u{2028} \u{1f600} é\"]"
        );
        assert_eq!(canonical(input), expected);
    }

    #[test]
    fn key_order_is_code_point_order() {
        // U+FB01 sorts after U+1F600 in UTF-16 order, but before it by code point.
        let input = "{\"\u{1f600}\":1,\"\u{fb01}\":2,\"Z\":3,\"a\":4,\"\":5}";
        assert_eq!(
            canonical(input),
            "{\"\":5,\"Z\":3,\"a\":4,\"\u{fb01}\":2,\"\u{1f600}\":1}"
        );
    }

    #[test]
    fn without_skips_top_level_keys_only() {
        let value = parse_strict(br#"{"unsigned":{},"b":{"signatures":1},"signatures":{},"a":1}"#);
        let CanonicalJsonValue::Object(object) = value.unwrap() else {
            panic!()
        };
        let bytes = to_canonical_vec_without(&object, &["signatures", "unsigned"]);
        assert_eq!(bytes, br#"{"a":1,"b":{"signatures":1}}"#);
        assert_eq!(
            to_canonical_vec_without(&object, &[]),
            to_canonical_vec(&object.into())
        );
    }

    #[test]
    fn canonical_encoding_is_recognised_exactly() {
        let value = parse_strict(br#"{"b":[1,"x\n"],"a":{}}"#).unwrap();
        assert!(is_canonical_encoding(&value, br#"{"a":{},"b":[1,"x\n"]}"#));
        for other in [
            &br#"{"b":[1,"x\n"],"a":{}}"#[..],
            br#"{"a":{}, "b":[1,"x\n"]}"#,
            br#"{"a":{},"b":[1,"x\u000a"]}"#,
            br#"{"a":{},"b":[1,"x\n"]} "#,
            br#"{"a":{},"b":[1,"x\n"]"#,
            b"",
        ] {
            assert!(!is_canonical_encoding(&value, other), "{other:?}");
        }
    }

    fn arb_value() -> impl Strategy<Value = CanonicalJsonValue> {
        const LIMIT: i64 = (1 << 53) - 1;
        let leaf = prop_oneof![
            Just(CanonicalJsonValue::Null),
            any::<bool>().prop_map(CanonicalJsonValue::Bool),
            (-LIMIT..=LIMIT)
                .prop_map(|n| CanonicalJsonValue::Integer(js_int::Int::new(n).unwrap())),
            any::<String>().prop_map(CanonicalJsonValue::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(CanonicalJsonValue::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(CanonicalJsonValue::Object),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_is_a_fixed_point(value in arb_value()) {
            let bytes = to_canonical_vec(&value);
            let reparsed = parse_strict(&bytes).unwrap();
            prop_assert_eq!(&reparsed, &value);
            prop_assert_eq!(to_canonical_vec(&reparsed), bytes.clone());
            prop_assert!(is_canonical_encoding(&value, &bytes));
            let mut padded = bytes;
            padded.push(b' ');
            prop_assert!(!is_canonical_encoding(&value, &padded));
        }
    }
}
