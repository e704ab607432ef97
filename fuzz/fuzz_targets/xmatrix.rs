//! `Authorization: X-Matrix` header values: `XMatrix::parse` and
//! `XMatrix::from_headers` on arbitrary bytes.
//!
//! Invariants: a parsed header re-serialised with `to_header_value` parses back
//! equal (and re-serialises to the same text); its server names and key id
//! re-parse from their strings; the scheme is case-insensitive; the input split
//! at `\n` into header values is accepted by `from_headers` only as exactly one
//! value, with the same result as `parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxgate_core::ids::{KeyId, ServerName};
use mxgate_core::xmatrix::{XMatrix, XMatrixError};

fuzz_target!(|data: &[u8]| {
    let parsed = XMatrix::parse(data);
    if let Ok(header) = &parsed {
        check_round_trip(header);
    }
    check_scheme_case(data, &parsed);
    check_from_headers(data, &parsed);
});

fn check_round_trip(header: &XMatrix) {
    let text = header.to_header_value();
    let again = XMatrix::parse(text.as_bytes()).expect("to_header_value output must parse");
    assert_eq!(&again, header, "round trip through {text:?}");
    assert_eq!(again.to_header_value(), text, "serialisation is not stable");
    assert_eq!(
        ServerName::parse(header.origin.as_str()).as_ref(),
        Ok(&header.origin)
    );
    if let Some(destination) = &header.destination {
        assert_eq!(
            ServerName::parse(destination.as_str()).as_ref(),
            Ok(destination)
        );
    }
    assert_eq!(KeyId::parse(header.key.as_str()).as_ref(), Ok(&header.key));
    assert!(header.key.is_ed25519());
}

/// `X-Matrix` in any case means the same.
fn check_scheme_case(data: &[u8], parsed: &Result<XMatrix, XMatrixError>) {
    let start = data
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(data.len());
    let end = start + 8;
    if data.len() < end || !data[start..end].eq_ignore_ascii_case(b"x-matrix") {
        return;
    }
    let mut flipped = data.to_vec();
    for byte in &mut flipped[start..end] {
        *byte = if byte.is_ascii_uppercase() {
            byte.to_ascii_lowercase()
        } else {
            byte.to_ascii_uppercase()
        };
    }
    assert_eq!(
        &XMatrix::parse(&flipped),
        parsed,
        "scheme case changed the result"
    );
}

fn check_from_headers(data: &[u8], parsed: &Result<XMatrix, XMatrixError>) {
    assert_eq!(
        XMatrix::from_headers(std::iter::empty()),
        Err(XMatrixError::MissingAuthorization)
    );
    assert_eq!(&XMatrix::from_headers([data]), parsed);
    let values: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let result = XMatrix::from_headers(values.iter().copied());
    if values.len() == 1 {
        assert_eq!(&result, parsed);
    } else {
        assert_eq!(result, Err(XMatrixError::MultipleAuthorization));
    }
}
