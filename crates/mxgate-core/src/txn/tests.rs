use serde_json::json;

use super::*;
use crate::json;

fn origin() -> ServerName {
    ServerName::parse("remote.example:8448").unwrap()
}

fn body(value: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap()
}

fn pdu(i: usize) -> serde_json::Value {
    json!({"type": "m.room.message", "sender": "@u:remote.example", "depth": i,
           "content": {"body": "x"}})
}

fn txn(pdus: usize, edus: usize) -> serde_json::Value {
    json!({
        "origin": "remote.example:8448",
        "origin_server_ts": 1_700_000_000_000_u64,
        "pdus": (0..pdus).map(pdu).collect::<Vec<_>>(),
        "edus": (0..edus).map(|i| json!({"edu_type": "m.typing", "content": {"i": i}})).collect::<Vec<_>>(),
    })
}

/// What a checked transaction carries, owned so that tests can compare results.
#[derive(Debug, PartialEq)]
struct Checked {
    origin: ServerName,
    origin_server_ts: u64,
    pdus: Vec<CanonicalJsonObject>,
    edus: Vec<CanonicalJsonObject>,
}

/// Strict parse, then [`Transaction::from_json`].
fn check_bytes(raw: &[u8]) -> Result<Checked, TxnError> {
    let value = json::parse_strict(raw)?;
    Transaction::from_json(&value, &origin()).map(|t| checked(&t))
}

fn checked(t: &Transaction<'_>) -> Checked {
    Checked {
        origin: t.origin().clone(),
        origin_server_ts: t.origin_server_ts(),
        pdus: t.pdus().iter().map(|&pdu| pdu.clone()).collect(),
        edus: t.edus().iter().map(|&edu| edu.clone()).collect(),
    }
}

fn parse(value: serde_json::Value) -> Result<Checked, TxnError> {
    check_bytes(&body(value))
}

#[test]
fn accepts_a_valid_transaction_at_the_limits() {
    let value = json::parse_strict(&body(txn(MAX_PDUS, MAX_EDUS))).unwrap();
    let t = Transaction::from_json(&value, &origin()).unwrap();
    assert_eq!(t.origin(), &origin());
    assert_eq!(t.origin_server_ts(), 1_700_000_000_000);
    assert_eq!(t.pdus().len(), 50);
    assert_eq!(t.edus().len(), 100);
    assert_eq!(
        t.pdus()[7].get("depth"),
        Some(&CanonicalJsonValue::Integer(7_u32.into()))
    );
}

#[test]
fn borrows_the_pdus_and_edus_of_the_body() {
    let value = json::parse_strict(&body(txn(3, 2))).unwrap();
    let t = Transaction::from_json(&value, &origin()).unwrap();
    let object = value.as_object().unwrap();
    let in_body = |key: &str| -> Vec<*const CanonicalJsonObject> {
        let items = object[key].as_array().unwrap();
        items
            .iter()
            .map(|v| v.as_object().unwrap() as *const _)
            .collect()
    };
    let borrowed = |items: &[&CanonicalJsonObject]| -> Vec<*const CanonicalJsonObject> {
        items.iter().map(|&item| item as *const _).collect()
    };
    assert_eq!(borrowed(t.pdus()), in_body("pdus"));
    assert_eq!(borrowed(t.edus()), in_body("edus"));
    let err = Transaction::from_json(&CanonicalJsonValue::Array(vec![]), &origin()).unwrap_err();
    assert_eq!(err.reason(), "not_an_object");
}

#[test]
fn edus_are_optional_and_unknown_fields_ignored() {
    let mut value = txn(1, 0);
    value.as_object_mut().unwrap().remove("edus");
    value["future_field"] = json!({"x": 1});
    let t = parse(value).unwrap();
    assert!(t.edus.is_empty());
    assert_eq!(t.pdus.len(), 1);
    assert!(parse(txn(0, 0)).unwrap().pdus.is_empty());
}

#[test]
fn too_many_pdus_or_edus() {
    assert_eq!(parse(txn(MAX_PDUS + 1, 0)), Err(TxnError::TooManyPdus(51)));
    assert_eq!(parse(txn(0, MAX_EDUS + 1)), Err(TxnError::TooManyEdus(101)));
    assert_eq!(parse(txn(51, 0)).unwrap_err().reason(), "too_many_pdus");
    assert_eq!(parse(txn(0, 101)).unwrap_err().reason(), "too_many_edus");
}

#[test]
fn pdu_size_limit_is_on_canonical_bytes() {
    // The PDU is this frame around the padding; size it to exactly the limit, then one more.
    let frame = br#"{"content":{"body":""},"type":"m.room.message"}"#.len();
    let exact = |extra: usize| {
        let pad = "a".repeat(MAX_PDU_BYTES - frame + extra);
        json!({"origin": "remote.example:8448", "origin_server_ts": 1,
               "pdus": [{"type": "m.room.message", "content": {"body": pad}}]})
    };
    assert_eq!(parse(exact(0)).unwrap().pdus.len(), 1);
    assert_eq!(
        parse(exact(1)),
        Err(TxnError::PduTooLarge {
            index: 0,
            size: 65_537
        })
    );
    // Whitespace in the raw body doesn't count: the same PDU pretty-printed still fits.
    let pretty = serde_json::to_vec_pretty(&exact(0)).unwrap();
    assert!(pretty.len() > MAX_PDU_BYTES + 10);
    assert!(check_bytes(&pretty).is_ok());
}

#[test]
fn counted_pdu_size_is_the_canonical_length() {
    let escapes = json!({"type": "m.room.message", "content": {
        "body": "\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f} \" \\ / \u{7f} \u{2028} é 日本語 \u{1f600}"}});
    let nested = json!({"a": [1, -2, 9_007_199_254_740_991_i64, null, true, false, [], {}],
        "\u{1f600}": {"\u{fb01}": "x", "Z": ""}, "": -9_007_199_254_740_991_i64});
    let big = json!({"content": {"body": "a".repeat(70_000)}, "depth": 3});
    let mut pdus: Vec<serde_json::Value> = (0..5).map(pdu).collect();
    pdus.extend([json!({}), escapes, nested, big]);
    for raw in pdus {
        let value = json::parse_strict(&body(raw)).unwrap();
        let expected = json::to_canonical_vec(&value).len();
        let CanonicalJsonValue::Object(object) = value else {
            panic!("fixture PDUs are objects")
        };
        assert_eq!(canonical_len(&object), expected);
    }
}

#[test]
fn origin_must_match_the_x_matrix_origin() {
    let mut value = txn(1, 0);
    value["origin"] = json!("remote.example");
    let err = parse(value).unwrap_err();
    assert_eq!(err.reason(), "origin_mismatch");
    assert_eq!(
        err,
        TxnError::OriginMismatch {
            body: "remote.example".into(),
            header: origin()
        }
    );
    let mut value = txn(1, 0);
    value["origin"] = json!("REMOTE.example:8448");
    assert_eq!(parse(value).unwrap_err().reason(), "origin_mismatch");
}

#[test]
fn field_errors() {
    let cases: Vec<(&str, serde_json::Value, TxnError)> = vec![
        ("origin", json!(null), TxnError::MissingField("origin")),
        ("origin", json!(5), TxnError::InvalidField("origin")),
        (
            "origin_server_ts",
            json!(null),
            TxnError::MissingField("origin_server_ts"),
        ),
        (
            "origin_server_ts",
            json!("1"),
            TxnError::InvalidField("origin_server_ts"),
        ),
        (
            "origin_server_ts",
            json!(-1),
            TxnError::InvalidField("origin_server_ts"),
        ),
        ("pdus", json!(null), TxnError::MissingField("pdus")),
        ("pdus", json!({}), TxnError::InvalidField("pdus")),
        ("pdus", json!([{}, "x"]), TxnError::PduNotAnObject(1)),
        ("edus", json!({}), TxnError::InvalidField("edus")),
        ("edus", json!([[]]), TxnError::EduNotAnObject(0)),
    ];
    for (field, replacement, expected) in cases {
        let mut value = txn(1, 1);
        if replacement.is_null() {
            value.as_object_mut().unwrap().remove(field);
        } else {
            value[field] = replacement;
        }
        assert_eq!(parse(value), Err(expected.clone()), "{field}");
        assert!(!expected.reason().is_empty());
    }
}

#[test]
fn json_errors_are_typed() {
    let dup = br#"{"origin":"remote.example:8448","origin":"remote.example:8448","origin_server_ts":1,"pdus":[]}"#;
    let err = check_bytes(dup).unwrap_err();
    assert!(matches!(
        err,
        TxnError::Json(JsonError::DuplicateKey { .. })
    ));
    assert_eq!(err.reason(), "invalid_json");
    let float = br#"{"origin":"remote.example:8448","origin_server_ts":1.5,"pdus":[]}"#;
    assert_eq!(check_bytes(float), Err(TxnError::Json(JsonError::Float)));
    assert_eq!(check_bytes(b"[]"), Err(TxnError::NotAnObject));
    assert!(matches!(check_bytes(b"{"), Err(TxnError::Json(_))));
}
