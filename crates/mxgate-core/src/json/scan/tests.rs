use proptest::prelude::*;

use super::*;
use crate::json::{CanonicalJsonValue, is_canonical_encoding, parse_strict, to_canonical_vec};

/// The tree path's answer: strict JSON that is its own canonical encoding.
fn tree_says_canonical(bytes: &[u8]) -> bool {
    parse_strict(bytes).is_ok_and(|value| is_canonical_encoding(&value, bytes))
}

/// Whether some object key of `value` is written with an escape (the one
/// canonical case the scan leaves to the tree path).
fn has_escaped_key(value: &CanonicalJsonValue) -> bool {
    match value {
        CanonicalJsonValue::Object(object) => object.iter().any(|(key, value)| {
            key.chars().any(|c| c == '"' || c == '\\' || c < ' ') || has_escaped_key(value)
        }),
        CanonicalJsonValue::Array(items) => items.iter().any(has_escaped_key),
        _ => false,
    }
}

/// How many elements the scan would index: those of the top-level object's
/// array members.
fn indexed_elements(value: &CanonicalJsonValue) -> usize {
    match value {
        CanonicalJsonValue::Object(object) => object
            .values()
            .map(|member| match member {
                CanonicalJsonValue::Array(items) => items.len(),
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

/// The scan agrees with the tree path on `bytes`.
fn assert_agrees(bytes: &[u8]) {
    let scanned = scan_canonical(bytes).is_some();
    let expected = tree_says_canonical(bytes)
        && !parse_strict(bytes).is_ok_and(|value| {
            has_escaped_key(&value) || indexed_elements(&value) > MAX_INDEXED_ELEMENTS
        });
    assert_eq!(scanned, expected, "{:?}", String::from_utf8_lossy(bytes));
}

#[test]
fn canonical_bodies_scan() {
    for text in [
        "{}",
        "[]",
        "0",
        "-1",
        "9007199254740991",
        "-9007199254740991",
        r#""""#,
        "true",
        "null",
        r#"{"":0,"a":[true,false,null],"b":{"c":"d"}}"#,
        concat!(
            r#"{"a":"\"\\\b\f\n\r\t\u0000\u001f\u000b","b":"/"#,
            "\u{7f}é😀\"}"
        ),
        r#"{"A":1,"B":2,"a":3,"é":4,"😀":5}"#,
        r#"[[[[[1]]]]]"#,
    ] {
        assert!(scan_canonical(text.as_bytes()).is_some(), "{text}");
        assert_agrees(text.as_bytes());
    }
}

#[test]
fn everything_else_does_not() {
    for text in [
        "",
        " {}",
        "{} ",
        "{ }",
        r#"{"a": 1}"#,
        r#"{"b":1,"a":2}"#,
        r#"{"a":1,"a":1}"#,
        r#"{"a\n":1}"#,
        r#"{"\u0061":1}"#,
        r#""\/""#,
        r#""\u0041""#,
        r#""\u000A""#,
        r#""\u000a""#,
        r#""\u0008""#,
        r#""\ud800""#,
        r#""\x""#,
        "\"a\u{1}\"",
        "01",
        "-0",
        "-",
        "1.0",
        "1e3",
        "1E3",
        "9007199254740992",
        "-9007199254740992",
        "12345678901234567890",
        "tru",
        "nul",
        "[1,]",
        "[,1]",
        r#"{"a":1,}"#,
        r#"{"a"}"#,
        "[1]]",
        "\"abc",
    ] {
        assert!(scan_canonical(text.as_bytes()).is_none(), "{text}");
        assert_agrees(text.as_bytes());
    }
    assert!(scan_canonical(b"\"\xff\"").is_none());
    assert!(scan_canonical(b"\"\xed\xa0\x80\"").is_none());
}

#[test]
fn utf8_is_checked_in_strings_keys_and_outside_them() {
    // No separate UTF-8 pass: each non-ASCII run is checked where met.
    for bytes in [
        &b"{\"\xc3\":1}"[..],                   // truncated sequence in a key
        b"\"ab\xc3\xa9\xa9\"",                  // a continuation byte too many
        b"\"\xc0\xaf\"",                        // overlong
        b"\"\xf4\x90\x80\x80\"",                // above U+10FFFF
        b"\"\xe2\x82\"",                        // cut short by the closing quote
        b"\"0123456789abcde\xe2\x82\xac\x80\"", // across a 16-byte chunk edge
        b"[1,\xc3\xa9]",                        // valid UTF-8, but outside a string
        b"{\"a\":1}\xc3\xa9",
    ] {
        assert!(scan_canonical(bytes).is_none(), "{bytes:?}");
        assert_agrees(bytes);
    }
    let long = "{\"cl\u{e9}\":\"0123456789abcdef\u{20ac}0123456789abcdef\u{1f600}\u{e9}\"}";
    assert!(scan_canonical(long.as_bytes()).is_some());
    assert_agrees(long.as_bytes());
}

#[test]
fn depth_limit_is_the_tree_paths() {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(scan_canonical(nested(MAX_DEPTH).as_bytes()).is_some());
    assert!(scan_canonical(nested(MAX_DEPTH + 1).as_bytes()).is_none());
    assert_agrees(nested(MAX_DEPTH).as_bytes());
    assert_agrees(nested(MAX_DEPTH + 1).as_bytes());
    let objects = |depth: usize| format!("{}0{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    assert!(scan_canonical(objects(MAX_DEPTH).as_bytes()).is_some());
    assert!(scan_canonical(objects(MAX_DEPTH + 1).as_bytes()).is_none());
}

#[test]
fn indexed_elements_are_bounded() {
    let body = |counts: &[usize]| {
        let members: Vec<String> = counts
            .iter()
            .enumerate()
            .map(|(i, n)| format!(r#""m{i}":[{}]"#, vec!["0"; *n].join(",")))
            .collect();
        format!("{{{}}}", members.join(","))
    };
    for (counts, indexed) in [
        (&[MAX_INDEXED_ELEMENTS][..], true),
        (&[MAX_INDEXED_ELEMENTS + 1], false),
        (&[512, 512], true),
        (&[512, 513], false),
    ] {
        let text = body(counts);
        assert_eq!(
            scan_canonical(text.as_bytes()).is_some(),
            indexed,
            "{counts:?}"
        );
        assert_agrees(text.as_bytes());
    }
    // Arrays below the top level's members are not indexed, so not counted.
    let nested = format!(
        r#"{{"a":[[{}]]}}"#,
        vec!["0"; 4 * MAX_INDEXED_ELEMENTS].join(",")
    );
    assert!(scan_canonical(nested.as_bytes()).is_some());
}

#[test]
fn members_and_elements_are_located() {
    let body = br#"{"edus":[],"origin":"o.example","origin_server_ts":-5,"pdus":[{"a":1},"x",[2]],"z":{"pdus":[1]}}"#;
    let doc = scan_canonical(body).unwrap();
    assert_eq!(doc.root(), Kind::Object);
    assert_eq!(doc.bytes(), body);
    let origin = doc.member("origin").unwrap();
    assert_eq!(doc.plain_str(origin), Some("o.example"));
    assert_eq!(doc.integer(origin), None);
    let ts = doc.member("origin_server_ts").unwrap();
    assert_eq!(doc.integer(ts), Some(-5));
    let pdus = doc.member("pdus").unwrap();
    assert_eq!(pdus.kind(), Kind::Array);
    let elements = doc.elements(pdus);
    let kinds: Vec<Kind> = elements.iter().map(Node::kind).collect();
    assert_eq!(kinds, [Kind::Object, Kind::String, Kind::Array]);
    let raw: Vec<&[u8]> = elements.iter().map(|e| doc.raw(e)).collect();
    assert_eq!(raw, [&br#"{"a":1}"#[..], br#""x""#, b"[2]"]);
    assert_eq!(elements[0].len(), 7);
    assert!(doc.elements(doc.member("edus").unwrap()).is_empty());
    // Only the top level's arrays are indexed.
    let z = doc.member("z").unwrap();
    assert!(doc.elements(z).is_empty());
    assert_eq!(doc.raw(z), br#"{"pdus":[1]}"#);
    assert!(doc.member("missing").is_none());
    assert!(doc.member("orig").is_none());
}

#[test]
fn strings_with_escapes_are_not_plain() {
    let doc = scan_canonical(br#"{"a":"x\ny","b":"\\"}"#).unwrap();
    assert_eq!(doc.plain_str(doc.member("a").unwrap()), None);
    assert_eq!(doc.raw(doc.member("b").unwrap()), br#""\\""#);
    let array = scan_canonical(b"[1,2]").unwrap();
    assert_eq!(array.root(), Kind::Array);
    assert!(array.member("0").is_none());
}

#[test]
fn special_bytes_are_found_at_every_offset() {
    for special in [b'"', b'\\', 0x00, 0x01, 0x1f, 0x80, 0xc3, 0xff] {
        for len in 0..40 {
            for at in 0..len {
                let mut bytes = vec![b'a'; len];
                // Bytes around the special one that must not be flagged.
                for (i, byte) in bytes.iter_mut().enumerate() {
                    *byte = [b'a', 0x7f, 0x20, b'~', b'#', b']', 0x21, 0x5d][i % 8];
                }
                bytes[at] = special;
                if at + 1 < len {
                    bytes[at + 1] = b'"';
                }
                assert_eq!(special_byte(&bytes), Some(at), "{bytes:?}");
            }
            assert_eq!(special_byte(&vec![0x20; len]), None);
        }
    }
}

proptest! {
    #[test]
    fn special_byte_is_the_first_special(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        let expected = bytes
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b));
        prop_assert_eq!(special_byte(&bytes), expected);
    }
}

fn arb_value() -> impl Strategy<Value = CanonicalJsonValue> {
    values("[ab\"\\\\\n\u{0}\u{8}\u{1f}\u{7f}é😀/]{0,3}")
}

/// Values with plain keys only.
fn plain_value() -> impl Strategy<Value = CanonicalJsonValue> {
    values("[abAé😀]{0,3}")
}

/// JSON values whose strings come from a small alphabet of the characters
/// that matter, and whose keys match `keys`.
fn values(keys: &'static str) -> impl Strategy<Value = CanonicalJsonValue> {
    const LIMIT: i64 = (1 << 53) - 1;
    let text = "[ab\"\\\\\n\u{0}\u{8}\u{1f}\u{7f}é😀/]{0,5}";
    let leaf = prop_oneof![
        Just(CanonicalJsonValue::Null),
        any::<bool>().prop_map(CanonicalJsonValue::Bool),
        (-LIMIT..=LIMIT).prop_map(|n| CanonicalJsonValue::Integer(js_int::Int::new(n).unwrap())),
        text.prop_map(CanonicalJsonValue::String),
    ];
    leaf.prop_recursive(4, 40, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(CanonicalJsonValue::Array),
            prop::collection::btree_map(keys, inner, 0..5).prop_map(CanonicalJsonValue::Object),
        ]
    })
}

proptest! {
    #[test]
    fn canonical_encodings_agree(value in arb_value()) {
        let bytes = to_canonical_vec(&value);
        prop_assert_eq!(scan_canonical(&bytes).is_some(), !has_escaped_key(&value));
        assert_agrees(&bytes);
    }

    #[test]
    fn mutated_encodings_agree(
        value in arb_value(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
    ) {
        let mut bytes = to_canonical_vec(&value);
        let alphabet = b" \t\n\"\\,:{}[]01-.eEtu/aA";
        for (at, op, byte) in edits {
            let byte = if byte < 128 { alphabet[usize::from(byte) % alphabet.len()] } else { byte };
            let at = at.index(bytes.len() + 1);
            match op {
                0 => bytes.insert(at, byte),
                1 if at < bytes.len() => { bytes.remove(at); }
                _ if at < bytes.len() => bytes[at] = byte,
                _ => bytes.push(byte),
            }
        }
        assert_agrees(&bytes);
    }

    #[test]
    fn top_level_members_are_their_canonical_encodings(
        object in prop::collection::btree_map("[a-z]{1,4}", plain_value(), 0..6)
    ) {
        let value = CanonicalJsonValue::Object(object.clone());
        let bytes = to_canonical_vec(&value);
        let doc = scan_canonical(&bytes).unwrap();
        for (key, member) in &object {
            let node = doc.member(key).unwrap();
            prop_assert_eq!(doc.raw(node), &to_canonical_vec(member)[..]);
            let elements: Vec<Vec<u8>> = doc.elements(node).iter().map(|e| doc.raw(e).to_vec()).collect();
            let expected: Vec<Vec<u8>> = match member {
                CanonicalJsonValue::Array(items) => items.iter().map(to_canonical_vec).collect(),
                _ => Vec::new(),
            };
            prop_assert_eq!(elements, expected);
        }
    }
}
