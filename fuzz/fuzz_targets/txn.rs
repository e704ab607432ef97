//! `/send` transaction bodies: `parse_strict` then `txn::Transaction::from_json`
//! on arbitrary bytes, with the X-Matrix origin fixed to `remote.example`.
//!
//! Invariants: `from_json` never reports a JSON error (the body is already
//! parsed); an accepted transaction keeps
//! the spec limits (≤ 50 PDUs, ≤ 100 EDUs, each PDU ≤ 65536 canonical bytes),
//! carries the header origin, carries the body's `pdus`/`edus` unchanged, and
//! is refused with `OriginMismatch` under any other header origin.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mxgate_core::ids::ServerName;
use mxgate_core::json::{CanonicalJsonObject, CanonicalJsonValue, parse_strict, to_canonical_vec};
use mxgate_core::txn::{MAX_EDUS, MAX_PDU_BYTES, MAX_PDUS, Transaction, TxnError};

static ORIGIN: LazyLock<ServerName> = LazyLock::new(|| server("remote.example"));
static OTHER: LazyLock<ServerName> = LazyLock::new(|| server("other.example"));

fuzz_target!(|data: &[u8]| {
    let Ok(body) = parse_strict(data) else {
        return;
    };
    match Transaction::from_json(&body, &ORIGIN) {
        Ok(txn) => check_accepted(&txn, &body),
        Err(err) => assert!(!matches!(err, TxnError::Json(_)), "{err:?}"),
    }
});

fn check_accepted(txn: &Transaction<'_>, body: &CanonicalJsonValue) {
    assert_eq!(txn.origin(), &*ORIGIN);
    assert!(txn.pdus().len() <= MAX_PDUS);
    assert!(txn.edus().len() <= MAX_EDUS);
    for pdu in txn.pdus() {
        let size = to_canonical_vec(&CanonicalJsonValue::Object((*pdu).clone())).len();
        assert!(size <= MAX_PDU_BYTES, "accepted a PDU of {size} bytes");
    }
    let object = body.as_object().expect("an accepted body is an object");
    assert_eq!(Some(owned(txn.pdus())), objects(object.get("pdus")));
    match object.get("edus") {
        None => assert!(txn.edus().is_empty()),
        edus => assert_eq!(Some(owned(txn.edus())), objects(edus)),
    }
    match object.get("origin_server_ts") {
        Some(CanonicalJsonValue::Integer(ts)) => {
            assert_eq!(
                i64::from(*ts),
                i64::try_from(txn.origin_server_ts()).unwrap_or(-1)
            );
        }
        other => panic!("accepted origin_server_ts {other:?}"),
    }
    assert!(matches!(
        Transaction::from_json(body, &OTHER),
        Err(TxnError::OriginMismatch { .. })
    ));
}

fn objects(value: Option<&CanonicalJsonValue>) -> Option<Vec<CanonicalJsonObject>> {
    value?
        .as_array()?
        .iter()
        .map(|v| v.as_object().cloned())
        .collect()
}

fn owned(items: &[&CanonicalJsonObject]) -> Vec<CanonicalJsonObject> {
    items.iter().map(|&item| item.clone()).collect()
}

fn server(name: &str) -> ServerName {
    ServerName::parse(name).expect("a valid fixed server name")
}
