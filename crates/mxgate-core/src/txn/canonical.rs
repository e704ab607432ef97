//! The envelope check on a body proven canonical by [`crate::json::scan_canonical`]: the same rules and
//! errors as [`Transaction::from_json`], read from the scan's positions instead of a tree.
//! In a canonical body each PDU's bytes are its canonical encoding, so its size is the
//! length of its span.
//!
//! [`Transaction::from_json`]: super::Transaction::from_json

use crate::ids::ServerName;
use crate::json::{CanonicalDoc, Kind, Node};

use super::{Envelope, MAX_EDUS, MAX_PDU_BYTES, MAX_PDUS, TxnError, check_origin};

impl Envelope {
    /// Checks the envelope of `doc`, a `/send` body from [`crate::json::scan_canonical`], against
    /// `header_origin`: exactly what [`super::Transaction::from_json`] checks, with the same
    /// error for the same body.
    pub fn from_canonical(
        doc: &CanonicalDoc<'_>,
        header_origin: &ServerName,
    ) -> Result<Self, TxnError> {
        if doc.root() != Kind::Object {
            return Err(TxnError::NotAnObject);
        }
        let origin = match doc.member("origin") {
            None => return Err(TxnError::MissingField("origin")),
            Some(node) if node.kind() == Kind::String => {
                check_origin(&string(doc, node), header_origin)?
            }
            Some(_) => return Err(TxnError::InvalidField("origin")),
        };
        let origin_server_ts = match doc.member("origin_server_ts") {
            None => return Err(TxnError::MissingField("origin_server_ts")),
            Some(node) => doc
                .integer(node)
                .and_then(|ts| u64::try_from(ts).ok())
                .ok_or(TxnError::InvalidField("origin_server_ts"))?,
        };
        let pdus = match doc.member("pdus") {
            None => return Err(TxnError::MissingField("pdus")),
            Some(node) => check_pdus(doc, node)?,
        };
        let edus = match doc.member("edus") {
            None => 0,
            Some(node) => check_edus(doc, node)?,
        };
        Ok(Self {
            origin,
            origin_server_ts,
            pdus,
            edus,
        })
    }
}

/// A string member's value; escapes (never in a server name) are decoded by serde_json.
fn string(doc: &CanonicalDoc<'_>, node: &Node) -> String {
    match doc.plain_str(node) {
        Some(text) => text.to_owned(),
        None => serde_json::from_slice(doc.raw(node)).unwrap_or_default(),
    }
}

fn check_pdus(doc: &CanonicalDoc<'_>, node: &Node) -> Result<usize, TxnError> {
    if node.kind() != Kind::Array {
        return Err(TxnError::InvalidField("pdus"));
    }
    let pdus = doc.elements(node);
    if pdus.len() > MAX_PDUS {
        return Err(TxnError::TooManyPdus(pdus.len()));
    }
    for (index, pdu) in pdus.iter().enumerate() {
        if pdu.kind() != Kind::Object {
            return Err(TxnError::PduNotAnObject(index));
        }
        if pdu.len() > MAX_PDU_BYTES {
            return Err(TxnError::PduTooLarge {
                index,
                size: pdu.len(),
            });
        }
    }
    Ok(pdus.len())
}

fn check_edus(doc: &CanonicalDoc<'_>, node: &Node) -> Result<usize, TxnError> {
    if node.kind() != Kind::Array {
        return Err(TxnError::InvalidField("edus"));
    }
    let edus = doc.elements(node);
    if edus.len() > MAX_EDUS {
        return Err(TxnError::TooManyEdus(edus.len()));
    }
    match edus.iter().position(|edu| edu.kind() != Kind::Object) {
        Some(index) => Err(TxnError::EduNotAnObject(index)),
        None => Ok(edus.len()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::json::{parse_strict, scan_canonical};
    use crate::txn::Transaction;

    /// Both paths give the same answer for a canonical `body`.
    fn both(body: &str, origin: &ServerName) -> Result<Envelope, TxnError> {
        let doc = scan_canonical(body.as_bytes()).expect("test bodies are canonical");
        let fast = Envelope::from_canonical(&doc, origin);
        let value = parse_strict(body.as_bytes()).unwrap();
        let tree = Transaction::from_json(&value, origin).map(|txn| txn.envelope());
        assert_eq!(fast, tree, "{body}");
        fast
    }

    fn origin() -> ServerName {
        ServerName::parse("o.example").unwrap()
    }

    #[test]
    fn same_verdicts_as_the_tree_path() {
        let o = origin();
        let pdu = |size: usize| format!(r#"{{"a":"{}"}}"#, "x".repeat(size - 8));
        let ok = both(
            r#"{"origin":"o.example","origin_server_ts":5,"pdus":[{}]}"#,
            &o,
        )
        .unwrap();
        assert_eq!((ok.pdus, ok.edus, ok.origin_server_ts), (1, 0, 5));
        let cases: Vec<(String, &str)> = vec![
            ("[]".into(), "not_an_object"),
            (
                r#"{"origin_server_ts":1,"pdus":[]}"#.into(),
                "missing_field",
            ),
            (
                r#"{"origin":1,"origin_server_ts":1,"pdus":[]}"#.into(),
                "invalid_field",
            ),
            (
                r#"{"origin":"p.example","origin_server_ts":1,"pdus":[]}"#.into(),
                "origin_mismatch",
            ),
            (
                r#"{"origin":"o.example\n","origin_server_ts":1,"pdus":[]}"#.into(),
                "origin_mismatch",
            ),
            (
                r#"{"origin":"o.example","pdus":[]}"#.into(),
                "missing_field",
            ),
            (
                r#"{"origin":"o.example","origin_server_ts":-1,"pdus":[]}"#.into(),
                "invalid_field",
            ),
            (
                r#"{"origin":"o.example","origin_server_ts":"1","pdus":[]}"#.into(),
                "invalid_field",
            ),
            (
                r#"{"origin":"o.example","origin_server_ts":1}"#.into(),
                "missing_field",
            ),
            (
                r#"{"origin":"o.example","origin_server_ts":1,"pdus":{}}"#.into(),
                "invalid_field",
            ),
            (
                r#"{"origin":"o.example","origin_server_ts":1,"pdus":[{},1]}"#.into(),
                "pdu_not_an_object",
            ),
            (
                format!(
                    r#"{{"origin":"o.example","origin_server_ts":1,"pdus":[{}]}}"#,
                    vec!["{}"; 51].join(",")
                ),
                "too_many_pdus",
            ),
            (
                format!(
                    r#"{{"origin":"o.example","origin_server_ts":1,"pdus":[{}]}}"#,
                    pdu(MAX_PDU_BYTES + 1)
                ),
                "pdu_too_large",
            ),
            (
                r#"{"edus":{},"origin":"o.example","origin_server_ts":1,"pdus":[]}"#.into(),
                "invalid_field",
            ),
            (
                r#"{"edus":[{},[]],"origin":"o.example","origin_server_ts":1,"pdus":[]}"#.into(),
                "edu_not_an_object",
            ),
            (
                format!(
                    r#"{{"edus":[{}],"origin":"o.example","origin_server_ts":1,"pdus":[]}}"#,
                    vec!["{}"; 101].join(",")
                ),
                "too_many_edus",
            ),
        ];
        for (body, reason) in &cases {
            assert_eq!(both(body, &o).unwrap_err().reason(), *reason, "{body}");
        }
        let fits = format!(
            r#"{{"origin":"o.example","origin_server_ts":1,"pdus":[{}]}}"#,
            pdu(MAX_PDU_BYTES)
        );
        assert_eq!(both(&fits, &o).unwrap().pdus, 1);
    }

    fn member() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(r#""o.example""#.to_owned()),
            Just(r#""p.example""#.to_owned()),
            Just("7".to_owned()),
            Just("-7".to_owned()),
            Just("[]".to_owned()),
            Just("{}".to_owned()),
            Just(r#"[{},{"a":[1]}]"#.to_owned()),
            Just(r#"[{},"x"]"#.to_owned()),
            Just(r#""o.exampl\u0001""#.to_owned()),
        ]
    }

    proptest! {
        #[test]
        fn envelopes_agree(
            fields in prop::collection::btree_map(
                prop::sample::select(vec!["edus", "origin", "origin_server_ts", "pdus", "x"]),
                member(),
                0..5,
            )
        ) {
            let body = format!(
                "{{{}}}",
                fields.iter().map(|(k, v)| format!(r#""{k}":{v}"#)).collect::<Vec<_>>().join(",")
            );
            both(&body, &origin()).ok();
        }
    }
}
