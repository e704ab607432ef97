//! Strict JSON: `json::parse_strict` and `json::parse_object` on arbitrary
//! bytes, checked against serde_json's lenient parser.
//!
//! Invariants:
//! - accepted input: the canonical output is UTF-8, re-parses to the same
//!   value and is a fixed point; `write_canonical` agrees with
//!   `to_canonical_vec`; serde_json's lenient parse of the input (which keeps
//!   the last of duplicate keys, but an accepted input has none) yields the
//!   same value as the canonical output;
//! - rejected input that serde_json accepts: the reason is one the strict
//!   parser adds on purpose (duplicate key, integer range, float, depth, lone
//!   surrogate), never a syntax error;
//! - `parse_object` accepts exactly the accepted objects;
//! - `is_canonical_encoding(value, input)` holds exactly when the input is
//!   byte-for-byte the canonical output (the gateway then signs over the raw
//!   body instead of re-serialising it), and always for the canonical output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxgate_core::json::{
    self, CanonicalJsonValue, JsonError, parse_object, parse_strict, to_canonical_vec,
};
use serde::Deserialize;

fuzz_target!(|data: &[u8]| {
    let strict = parse_strict(data);
    match &strict {
        Ok(value) => check_accepted(data, value),
        Err(err) => check_rejected(data, err),
    }
    match (parse_object(data), strict) {
        (Ok(object), Ok(value)) => assert_eq!(CanonicalJsonValue::Object(object), value),
        (Err(JsonError::NotAnObject), Ok(value)) => assert!(value.as_object().is_none()),
        (Err(err), Err(strict_err)) => assert_eq!(err, strict_err),
        (Ok(_), Err(err)) => panic!("parse_object accepted what parse_strict refused: {err}"),
        (Err(err), Ok(_)) => panic!("parse_object refused a parsed value: {err}"),
    }
});

fn check_accepted(data: &[u8], value: &CanonicalJsonValue) {
    let canonical = to_canonical_vec(value);
    assert_eq!(
        json::is_canonical_encoding(value, data),
        data == canonical.as_slice(),
        "is_canonical_encoding disagrees with the canonical output"
    );
    assert!(json::is_canonical_encoding(value, &canonical));
    let mut written = Vec::new();
    json::write_canonical(value, &mut written);
    assert_eq!(written, canonical);
    assert!(
        std::str::from_utf8(&canonical).is_ok(),
        "canonical output is not UTF-8"
    );
    let again = parse_strict(&canonical).expect("canonical output must re-parse");
    assert_eq!(&again, value, "canonical output re-parsed to another value");
    assert_eq!(
        to_canonical_vec(&again),
        canonical,
        "canonical form is not a fixed point"
    );
    // The strict parser caps depth at 128, so an unbounded lenient parse is safe here.
    let lenient = lenient_unbounded(data).expect("serde_json refused what parse_strict accepted");
    let from_canonical =
        lenient_unbounded(&canonical).expect("serde_json refused canonical output");
    assert_eq!(
        lenient, from_canonical,
        "serde_json reads the input differently"
    );
}

fn check_rejected(data: &[u8], err: &JsonError) {
    // serde_json's own depth limit (128) keeps this recursion bounded.
    if serde_json::from_slice::<serde_json::Value>(data).is_err() {
        return;
    }
    assert!(
        matches!(
            err,
            JsonError::DuplicateKey { .. }
                | JsonError::IntegerOutOfRange
                | JsonError::Float
                | JsonError::TooDeep
                | JsonError::LoneSurrogate { .. }
        ),
        "serde_json accepts input refused as {err:?}"
    );
}

fn lenient_unbounded(data: &[u8]) -> serde_json::Result<serde_json::Value> {
    let mut de = serde_json::Deserializer::from_slice(data);
    de.disable_recursion_limit();
    let value = serde_json::Value::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}
