//! Request-targets: `endpoints::classify` on arbitrary method/path bytes
//! (`METHOD SP request-target`, the query cut at `?` as the gateway does) and
//! `endpoints::percent_decode_segment` on every segment.
//!
//! Invariants: an accepted path is origin-form with no empty or dot segment
//! (raw or percent-decoded) and valid percent-encoding; every captured
//! parameter is one of its raw segments; another method on the same path is
//! refused as `MethodNotAllowed`; a transaction body only on `PUT /send`; a
//! GET never takes a JSON body. A decoded segment is UTF-8 without controls.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxgate_core::endpoints::{
    BodyClass, EndpointError, EndpointKind, Param, classify, percent_decode_segment,
};

const PARAMS: [Param; 8] = [
    Param::TxnId,
    Param::RoomId,
    Param::EventId,
    Param::UserId,
    Param::QueryType,
    Param::MediaId,
    Param::ServerName,
    Param::KeyId,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (method, target) = text.split_once(' ').unwrap_or(("GET", text));
    let path = target.split_once('?').map_or(target, |(path, _query)| path);
    let mut decoded = Vec::new();
    for segment in path.split('/') {
        if percent_decode_segment(segment, &mut decoded).is_ok() {
            let decoded = std::str::from_utf8(&decoded).expect("decoded segment is UTF-8");
            assert!(!decoded.chars().any(|c| c.is_ascii_control()));
        }
    }
    let Ok(endpoint) = classify(method, path) else {
        return;
    };
    let segments: Vec<&str> = path
        .strip_prefix('/')
        .expect("origin-form")
        .split('/')
        .collect();
    for segment in &segments {
        assert!(!segment.is_empty() && *segment != "." && *segment != "..");
        percent_decode_segment(segment, &mut decoded).expect("accepted segment decodes");
        assert!(
            decoded != b"." && decoded != b"..",
            "accepted a dot segment {segment:?}"
        );
    }
    for name in PARAMS {
        if let Some(value) = endpoint.param(name) {
            assert!(
                segments.contains(&value),
                "{name:?} = {value:?} is not a segment"
            );
        }
    }
    assert!(!endpoint.class().is_empty());
    assert_eq!(
        classify("PATCH", path),
        Err(EndpointError::MethodNotAllowed)
    );
    if endpoint.body() == BodyClass::Transaction {
        assert_eq!((endpoint.kind, method), (EndpointKind::Send, "PUT"));
    }
    if method == "GET" {
        assert!(matches!(
            endpoint.body(),
            BodyClass::Empty | BodyClass::Media
        ));
    }
});
