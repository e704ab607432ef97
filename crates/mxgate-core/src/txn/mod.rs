//! The body of `PUT /_matrix/federation/v1/send/{txnId}`: a typed view with the spec limits.
//!
//! Spec: <https://spec.matrix.org/v1.16/server-server-api/#put_matrixfederationv1sendtxnid>
//! (at most 50 PDUs and 100 EDUs) and
//! <https://spec.matrix.org/v1.16/client-server-api/#size-limits> (an event is at most 65536
//! bytes of canonical JSON).
//!
//! PDUs and EDUs stay untyped JSON objects here: the gateway forwards bodies byte-for-byte, so
//! this view only checks the envelope and feeds the event checks in [`crate::event`]. It
//! borrows from the parsed body instead of copying it.
//!
//! Two ways in, with the same rules and the same errors: [`Transaction::from_json`] on a parsed
//! tree, and [`Envelope::from_canonical`] on a body the fast path proved canonical
//! ([`crate::json::scan_canonical`]), which needs no tree at all.

mod canonical;

use std::io;

use crate::ids::ServerName;
use crate::json::{CanonicalJsonObject, CanonicalJsonValue, JsonError};

/// Most PDUs a transaction may carry.
pub const MAX_PDUS: usize = 50;
/// Most EDUs a transaction may carry.
pub const MAX_EDUS: usize = 100;
/// Largest PDU, in bytes of canonical JSON.
pub const MAX_PDU_BYTES: usize = 65_536;

/// A `/send` transaction whose envelope is valid: the origin matches the X-Matrix origin and
/// the limits hold. It borrows its PDUs and EDUs from the parsed body, so checking a
/// transaction copies no event.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction<'a> {
    origin: ServerName,
    origin_server_ts: u64,
    pdus: Vec<&'a CanonicalJsonObject>,
    edus: Vec<&'a CanonicalJsonObject>,
}

/// What the envelope check establishes about a transaction, whichever way it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The sending server, equal to the X-Matrix origin.
    pub origin: ServerName,
    /// When the sending server created the transaction (ms since the Unix epoch).
    pub origin_server_ts: u64,
    /// How many PDUs it carries.
    pub pdus: usize,
    /// How many EDUs it carries.
    pub edus: usize,
}

/// Why a transaction body was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// The body is not strict JSON.
    #[error("transaction body is not strict JSON: {0}")]
    Json(#[from] JsonError),
    /// The body is JSON but not an object.
    #[error("transaction body is not a JSON object")]
    NotAnObject,
    /// A required field is absent.
    #[error("transaction has no `{0}` field")]
    MissingField(&'static str),
    /// A field has the wrong type or an invalid value.
    #[error("transaction field `{0}` is invalid")]
    InvalidField(&'static str),
    /// `origin` is not the server that signed the request.
    #[error("transaction origin {body} differs from the X-Matrix origin {header}")]
    OriginMismatch {
        /// The `origin` in the body.
        body: String,
        /// The origin of the X-Matrix header.
        header: ServerName,
    },
    /// More than [`MAX_PDUS`] PDUs.
    #[error("{0} PDUs (at most {MAX_PDUS})")]
    TooManyPdus(usize),
    /// More than [`MAX_EDUS`] EDUs.
    #[error("{0} EDUs (at most {MAX_EDUS})")]
    TooManyEdus(usize),
    /// A PDU is not a JSON object.
    #[error("PDU {0} is not a JSON object")]
    PduNotAnObject(usize),
    /// An EDU is not a JSON object.
    #[error("EDU {0} is not a JSON object")]
    EduNotAnObject(usize),
    /// A PDU exceeds [`MAX_PDU_BYTES`].
    #[error("PDU {index} is {size} bytes (at most {MAX_PDU_BYTES})")]
    PduTooLarge {
        /// Position of the PDU in `pdus`.
        index: usize,
        /// Its canonical JSON size.
        size: usize,
    },
}

impl TxnError {
    /// A stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Json(_) => "invalid_json",
            Self::NotAnObject => "not_an_object",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField(_) => "invalid_field",
            Self::OriginMismatch { .. } => "origin_mismatch",
            Self::TooManyPdus(_) => "too_many_pdus",
            Self::TooManyEdus(_) => "too_many_edus",
            Self::PduNotAnObject(_) => "pdu_not_an_object",
            Self::EduNotAnObject(_) => "edu_not_an_object",
            Self::PduTooLarge { .. } => "pdu_too_large",
        }
    }
}

impl<'a> Transaction<'a> {
    /// Checks a parsed body (from [`crate::json::parse_strict`]): `origin` (a server name
    /// equal to `header_origin`, the X-Matrix origin), `origin_server_ts` (a non-negative
    /// integer), `pdus` (an array of at most [`MAX_PDUS`] objects, each at most
    /// [`MAX_PDU_BYTES`]) and the optional `edus` (an array of at most [`MAX_EDUS`] objects).
    /// Other fields are ignored.
    pub fn from_json(
        body: &'a CanonicalJsonValue,
        header_origin: &ServerName,
    ) -> Result<Self, TxnError> {
        let CanonicalJsonValue::Object(body) = body else {
            return Err(TxnError::NotAnObject);
        };
        let origin = parse_origin(body.get("origin"), header_origin)?;
        let origin_server_ts = match body.get("origin_server_ts") {
            None => return Err(TxnError::MissingField("origin_server_ts")),
            Some(CanonicalJsonValue::Integer(ts)) => u64::try_from(i64::from(*ts))
                .map_err(|_| TxnError::InvalidField("origin_server_ts"))?,
            Some(_) => return Err(TxnError::InvalidField("origin_server_ts")),
        };
        let pdus = match body.get("pdus") {
            None => return Err(TxnError::MissingField("pdus")),
            Some(value) => parse_pdus(value)?,
        };
        let edus = match body.get("edus") {
            None => Vec::new(),
            Some(value) => parse_edus(value)?,
        };
        Ok(Self {
            origin,
            origin_server_ts,
            pdus,
            edus,
        })
    }

    /// The envelope: origin, timestamp and counts.
    pub fn envelope(&self) -> Envelope {
        Envelope {
            origin: self.origin.clone(),
            origin_server_ts: self.origin_server_ts,
            pdus: self.pdus.len(),
            edus: self.edus.len(),
        }
    }

    /// The sending server, equal to the X-Matrix origin.
    pub fn origin(&self) -> &ServerName {
        &self.origin
    }

    /// When the sending server created the transaction (ms since the Unix epoch).
    pub fn origin_server_ts(&self) -> u64 {
        self.origin_server_ts
    }

    /// The PDUs, in order.
    pub fn pdus(&self) -> &[&'a CanonicalJsonObject] {
        &self.pdus
    }

    /// The EDUs, in order (empty when the body has none).
    pub fn edus(&self) -> &[&'a CanonicalJsonObject] {
        &self.edus
    }
}

/// The body's `origin`, which must be a server name equal to the X-Matrix origin.
fn parse_origin(
    value: Option<&CanonicalJsonValue>,
    header_origin: &ServerName,
) -> Result<ServerName, TxnError> {
    match value {
        None => Err(TxnError::MissingField("origin")),
        Some(CanonicalJsonValue::String(text)) => check_origin(text, header_origin),
        Some(_) => Err(TxnError::InvalidField("origin")),
    }
}

/// `text`, the body's origin, must be the X-Matrix origin.
fn check_origin(text: &str, header_origin: &ServerName) -> Result<ServerName, TxnError> {
    if text != header_origin.as_str() {
        return Err(TxnError::OriginMismatch {
            body: text.chars().take(255).collect(),
            header: header_origin.clone(),
        });
    }
    Ok(header_origin.clone())
}

fn parse_pdus(value: &CanonicalJsonValue) -> Result<Vec<&CanonicalJsonObject>, TxnError> {
    let CanonicalJsonValue::Array(items) = value else {
        return Err(TxnError::InvalidField("pdus"));
    };
    if items.len() > MAX_PDUS {
        return Err(TxnError::TooManyPdus(items.len()));
    }
    let mut pdus = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let CanonicalJsonValue::Object(pdu) = item else {
            return Err(TxnError::PduNotAnObject(index));
        };
        let size = canonical_len(pdu);
        if size > MAX_PDU_BYTES {
            return Err(TxnError::PduTooLarge { index, size });
        }
        pdus.push(pdu);
    }
    Ok(pdus)
}

fn parse_edus(value: &CanonicalJsonValue) -> Result<Vec<&CanonicalJsonObject>, TxnError> {
    let CanonicalJsonValue::Array(items) = value else {
        return Err(TxnError::InvalidField("edus"));
    };
    if items.len() > MAX_EDUS {
        return Err(TxnError::TooManyEdus(items.len()));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            CanonicalJsonValue::Object(edu) => Ok(edu),
            _ => Err(TxnError::EduNotAnObject(index)),
        })
        .collect()
}

/// The length of `object`'s canonical JSON, counted without building it: the canonical form
/// is serde_json's compact output of the value (see [`crate::json::write_canonical`]),
/// written here into a sink that only counts bytes.
fn canonical_len(object: &CanonicalJsonObject) -> usize {
    let mut counter = ByteCounter(0);
    // The counter never fails and every map key is a String, so serde_json has no error to
    // report for these values.
    let result = serde_json::to_writer(&mut counter, object);
    debug_assert!(result.is_ok(), "counting canonical JSON failed: {result:?}");
    counter.0
}

/// An [`io::Write`] that discards its input and counts the bytes.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
