//! One-pass strict parser: serde_json's tokenizer drives our own visitor,
//! which builds a [`CanonicalJsonValue`] and refuses anything canonical JSON
//! can't represent.
//!
//! Numbers arrive as `visit_i64`/`visit_u64`/`visit_f64`, which holds as long as
//! serde_json's `arbitrary_precision` feature stays off in the build.

use std::{cell::Cell, collections::btree_map::Entry, fmt};

use js_int::Int;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::{CanonicalJsonObject, CanonicalJsonValue, JsonError, MAX_DEPTH};

/// Parses `bytes` as one strict JSON value (see the [module docs](super)).
pub fn parse_strict(bytes: &[u8]) -> Result<CanonicalJsonValue, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|err| JsonError::InvalidUtf8 {
        offset: err.valid_up_to(),
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    // Our depth check in the visitor replaces serde_json's fixed guard (which
    // stops at 127 levels with an untyped error): the limit is exactly
    // `MAX_DEPTH`, reported as `TooDeep`, and checked before descending.
    de.disable_recursion_limit();
    let problem = Cell::new(None);
    let seed = ValueSeed {
        depth: 0,
        problem: &problem,
    };
    let value = seed
        .deserialize(&mut de)
        .map_err(|err| problem.take().unwrap_or_else(|| classify(&err)))?;
    de.end().map_err(|_| JsonError::TrailingBytes)?;
    Ok(value)
}

/// Like [`parse_strict`], but the top-level value must be an object.
pub fn parse_object(bytes: &[u8]) -> Result<CanonicalJsonObject, JsonError> {
    match parse_strict(bytes)? {
        CanonicalJsonValue::Object(object) => Ok(object),
        _ => Err(JsonError::NotAnObject),
    }
}

/// Longest prefix of a duplicate key kept in [`JsonError::DuplicateKey`].
const MAX_KEY_ECHO: usize = 64;

/// Maps a serde_json error that our visitor did not raise itself.
///
/// serde_json exposes no error codes, only their messages, so lone surrogates
/// are recognised by message; the tests pin these strings.
fn classify(err: &serde_json::Error) -> JsonError {
    let (line, column) = (err.line(), err.column());
    let message = err.to_string();
    if message.starts_with("lone leading surrogate")
        || message.starts_with("unexpected end of hex escape")
    {
        JsonError::LoneSurrogate { line, column }
    } else {
        JsonError::Syntax { line, column }
    }
}

/// Deserializes one value at nesting `depth`, recording typed problems in
/// `problem` (serde's error type can only carry a message).
#[derive(Clone, Copy)]
struct ValueSeed<'p> {
    depth: usize,
    problem: &'p Cell<Option<JsonError>>,
}

impl ValueSeed<'_> {
    fn fail<E: de::Error>(&self, problem: JsonError) -> E {
        let err = E::custom(&problem);
        self.problem.set(Some(problem));
        err
    }

    fn nested<E: de::Error>(&self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(self.fail(JsonError::TooDeep));
        }
        Ok(Self {
            depth: self.depth + 1,
            problem: self.problem,
        })
    }

    fn integer<E: de::Error>(&self, value: Option<i64>) -> Result<CanonicalJsonValue, E> {
        match value.and_then(Int::new) {
            Some(int) => Ok(CanonicalJsonValue::Integer(int)),
            None => Err(self.fail(JsonError::IntegerOutOfRange)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = CanonicalJsonValue;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = CanonicalJsonValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(CanonicalJsonValue::Null)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(CanonicalJsonValue::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        self.integer(Some(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        self.integer(i64::try_from(value).ok())
    }

    fn visit_f64<E: de::Error>(self, _value: f64) -> Result<Self::Value, E> {
        Err(self.fail(JsonError::Float))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(CanonicalJsonValue::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(CanonicalJsonValue::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let child = self.nested()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(child)? {
            items.push(item);
        }
        Ok(CanonicalJsonValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let child = self.nested()?;
        let mut object = CanonicalJsonObject::new();
        while let Some(key) = map.next_key::<String>()? {
            // One descent of the tree per key: the slot found for the
            // duplicate check is the one the value goes into.
            match object.entry(key) {
                Entry::Occupied(slot) => {
                    let key = slot.key().chars().take(MAX_KEY_ECHO).collect();
                    return Err(self.fail(JsonError::DuplicateKey { key }));
                }
                Entry::Vacant(slot) => {
                    slot.insert(map.next_value_seed(child)?);
                }
            }
        }
        Ok(CanonicalJsonValue::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(input: &[u8]) -> JsonError {
        match parse_strict(input) {
            Ok(value) => panic!("accepted {:?}: {value:?}", String::from_utf8_lossy(input)),
            Err(err) => err,
        }
    }

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn accepts_plain_values_and_limits() {
        let value = parse_strict(br#" {"a": [1, -2, true, null, "x"], "b": {}} "#).unwrap();
        assert_eq!(value.to_string(), r#"{"a":[1,-2,true,null,"x"],"b":{}}"#);
        let max = parse_strict(b"[9007199254740991,-9007199254740991]").unwrap();
        assert_eq!(max.to_string(), "[9007199254740991,-9007199254740991]");
        assert!(parse_strict(nested(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(parse_strict(br#""\ud83d\ude00""#).unwrap(), "\u{1f600}");
    }

    #[test]
    fn rejects_table() {
        let deep = nested(MAX_DEPTH + 1);
        let deep_objects = format!(
            "{}1{}",
            r#"{"a":"#.repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        let cases: &[(&[u8], &str)] = &[
            (br#"{"a":1,"a":2}"#, "duplicate_key"),
            (br#"{"x":{"a":1,"b":2,"a":1}}"#, "duplicate_key"),
            (br#"[{"k":[{"a":1,"a":1}]}]"#, "duplicate_key"),
            (br#"{"a":1,"\u0061":2}"#, "duplicate_key"),
            (b"{\"a\":\"\xff\"}", "invalid_utf8"),
            (b"\"\xc3\x28\"", "invalid_utf8"),
            (b"\"\xed\xa0\x80\"", "invalid_utf8"),
            (br#""\ud800""#, "lone_surrogate"),
            (br#""\udc00""#, "lone_surrogate"),
            (br#""\ud800x""#, "lone_surrogate"),
            (br#""\ud800\u0041""#, "lone_surrogate"),
            (b"9007199254740992", "integer_out_of_range"),
            (b"-9007199254740992", "integer_out_of_range"),
            (b"18446744073709551615", "integer_out_of_range"),
            (b"1.5", "float"),
            (b"1e3", "float"),
            (b"1.0", "float"),
            (b"-0", "float"),
            (b"100000000000000000000", "float"),
            (deep.as_bytes(), "too_deep"),
            (deep_objects.as_bytes(), "too_deep"),
            (b"{} x", "trailing_bytes"),
            (b"{}{}", "trailing_bytes"),
            (b"", "syntax"),
            (b"{\"a\":1,}", "syntax"),
            (b"[1 2]", "syntax"),
            (b"\"\x01\"", "syntax"),
            (b"NaN", "syntax"),
            (b"\xef\xbb\xbf{}", "syntax"),
        ];
        for (input, reason) in cases {
            let err = reject(input);
            assert_eq!(
                err.reason(),
                *reason,
                "{:?}: {err}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn error_details() {
        assert_eq!(
            reject(br#"{"a":{"dup":1,"dup":2}}"#),
            JsonError::DuplicateKey {
                key: "dup".to_owned()
            }
        );
        assert_eq!(
            reject(b"[1,\"\xff\"]"),
            JsonError::InvalidUtf8 { offset: 4 }
        );
        let long = format!(r#"{{"{0}":1,"{0}":2}}"#, "k".repeat(500));
        let JsonError::DuplicateKey { key } = reject(long.as_bytes()) else {
            panic!()
        };
        assert_eq!(key.len(), MAX_KEY_ECHO);
    }

    #[test]
    fn parse_object_requires_object() {
        assert_eq!(parse_object(b"[]"), Err(JsonError::NotAnObject));
        assert_eq!(
            parse_object(b"\"s\"").map_err(|e| e.reason()),
            Err("not_an_object")
        );
        assert_eq!(parse_object(br#"{"a":1}"#).unwrap().len(), 1);
    }
}
