//! The canonical fast path: `json::scan_canonical` on arbitrary bytes, checked
//! against the tree path (`parse_strict` + `is_canonical_encoding`), and
//! `txn::Envelope::from_canonical` against `Transaction::from_json`.
//!
//! Invariants:
//! - the scan accepts exactly the strict, canonical inputs, except those with
//!   an object key written with an escape or more than `MAX_INDEXED_ELEMENTS`
//!   elements in the top-level object's arrays, which it leaves to the tree
//!   path;
//! - for an accepted object: each top-level member's bytes are the canonical
//!   encoding of the parsed member, and an array member's element bytes those
//!   of its elements;
//! - the envelope check gives the same result (envelope or error) on both
//!   paths, for the origin `remote.example`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mxgate_core::ids::ServerName;
use mxgate_core::json::{
    CanonicalJsonValue, MAX_INDEXED_ELEMENTS, is_canonical_encoding, parse_strict, scan_canonical,
    to_canonical_vec,
};
use mxgate_core::txn::{Envelope, Transaction};

static ORIGIN: LazyLock<ServerName> =
    LazyLock::new(|| ServerName::parse("remote.example").expect("a valid server name"));

fuzz_target!(|data: &[u8]| {
    let tree = parse_strict(data).ok();
    let canonical = tree
        .as_ref()
        .is_some_and(|value| is_canonical_encoding(value, data));
    let left_to_tree = tree
        .as_ref()
        .is_some_and(|value| has_escaped_key(value) || indexed(value) > MAX_INDEXED_ELEMENTS);
    let doc = scan_canonical(data);
    assert_eq!(
        doc.is_some(),
        canonical && !left_to_tree,
        "scan and tree path disagree"
    );
    let (Some(doc), Some(value)) = (doc, tree) else {
        return;
    };
    if let CanonicalJsonValue::Object(object) = &value {
        for (key, member) in object {
            let node = doc.member(key).expect("every member is found");
            assert_eq!(doc.raw(node), to_canonical_vec(member).as_slice());
            let elements: Vec<&[u8]> = doc.elements(node).iter().map(|e| doc.raw(e)).collect();
            let expected: Vec<Vec<u8>> = match member {
                CanonicalJsonValue::Array(items) => items.iter().map(to_canonical_vec).collect(),
                _ => Vec::new(),
            };
            assert!(elements.iter().eq(expected.iter()), "elements differ");
        }
    }
    let fast = Envelope::from_canonical(&doc, &ORIGIN);
    let slow = Transaction::from_json(&value, &ORIGIN).map(|txn| txn.envelope());
    assert_eq!(fast, slow, "envelope checks disagree");
});

fn has_escaped_key(value: &CanonicalJsonValue) -> bool {
    match value {
        CanonicalJsonValue::Object(object) => object.iter().any(|(key, value)| {
            key.chars().any(|c| c == '"' || c == '\\' || c < ' ') || has_escaped_key(value)
        }),
        CanonicalJsonValue::Array(items) => items.iter().any(has_escaped_key),
        _ => false,
    }
}

/// The elements the scan indexes: those of the top-level object's arrays.
fn indexed(value: &CanonicalJsonValue) -> usize {
    match value {
        CanonicalJsonValue::Object(object) => object
            .values()
            .map(|member| member.as_array().map_or(0, |items| items.len()))
            .sum(),
        _ => 0,
    }
}
