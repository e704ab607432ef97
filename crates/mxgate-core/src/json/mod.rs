//! Strict JSON parsing, canonical JSON, and signing/verifying JSON objects.
//!
//! Request bodies are parsed in one pass, straight from the bytes into
//! [`CanonicalJsonValue`] ([`parse_strict`]). Anything canonical JSON can't
//! represent, or that another parser could read differently, is refused with a
//! typed [`JsonError`]:
//! - invalid UTF-8 anywhere in the input, and `\uXXXX` escapes that leave a lone
//!   UTF-16 surrogate (`"\ud800"`);
//! - duplicate object keys, compared after unescaping (`"a"` and `"\u0061"` are
//!   the same key). serde_json alone would silently keep the last one, while
//!   other parsers keep the first, so a body inspected here could read
//!   differently on the homeserver;
//! - integers outside ±(2^53−1);
//! - any number with a fraction or exponent (`1.5`, `1e3`, `1.0`), `-0`, and
//!   integers beyond the 64-bit range: all reported as [`JsonError::Float`].
//!   Room versions 1–5 technically tolerate floats in events, but canonical JSON
//!   can't encode them and [`CanonicalJsonValue`] has no float variant, so
//!   callers must treat such a body as unverifiable;
//! - more than [`MAX_DEPTH`] nested arrays/objects;
//! - anything but whitespace after the value.
//!
//! Canonical output ([`write_canonical`]) is serde_json's compact output of the
//! value, which is already canonical for a [`CanonicalJsonValue`]: keys sorted
//! by code point (a `BTreeMap<String, _>`), no whitespace, only `"`, `\` and
//! control characters escaped (short escapes where they exist), integers in
//! plain decimal. The tests pin this against the spec's examples.
//!
//! A body that is already canonical (Synapse sends them so) can skip the tree:
//! [`scan_canonical`] proves it in one pass over the bytes and says where its
//! top-level members are; anything else gives `None` and takes [`parse_strict`].
//!
//! Signing follows <https://spec.matrix.org/v1.16/appendices/#signing-json>.

mod canonical;
mod parse;
mod scan;
mod sign;

pub use ruma_common::{CanonicalJsonObject, CanonicalJsonValue};

pub use self::{
    canonical::{
        is_canonical_encoding, to_canonical_vec, to_canonical_vec_without, write_canonical,
        write_canonical_without,
    },
    parse::{parse_object, parse_strict},
    scan::{CanonicalDoc, Kind, MAX_INDEXED_ELEMENTS, Node, scan_canonical},
    sign::{SignatureError, decode_base64, encode_base64, sign_json, verify_json},
};

/// Deepest accepted nesting of arrays and objects: the top-level container is
/// depth 1, so `[[1]]` has depth 2 and 128 nested `[` are still accepted.
pub const MAX_DEPTH: usize = 128;

/// Why a body is not strict JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The bytes are not UTF-8.
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 {
        /// Length of the valid UTF-8 prefix.
        offset: usize,
    },
    /// A `\u` escape leaves an unpaired UTF-16 surrogate.
    #[error("lone UTF-16 surrogate escape at line {line} column {column}")]
    LoneSurrogate {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// Not JSON at all (or truncated).
    #[error("JSON syntax error at line {line} column {column}")]
    Syntax {
        /// 1-based line of the error (0 if unknown).
        line: usize,
        /// 1-based column of the error (0 if unknown).
        column: usize,
    },
    /// An object has the same key twice.
    #[error("duplicate object key {key:?}")]
    DuplicateKey {
        /// The key (its first 64 characters).
        key: String,
    },
    /// An integer outside ±(2^53−1).
    #[error("integer outside ±(2^53-1)")]
    IntegerOutOfRange,
    /// A number with a fraction or exponent, `-0`, or beyond 64 bits.
    #[error("non-integer number (floats are not canonical JSON)")]
    Float,
    /// More than [`MAX_DEPTH`] nested arrays/objects.
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    /// Non-whitespace after the JSON value.
    #[error("trailing bytes after the JSON value")]
    TrailingBytes,
    /// The value is valid but not an object where one is required.
    #[error("expected a JSON object")]
    NotAnObject,
}

impl JsonError {
    /// Stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidUtf8 { .. } => "invalid_utf8",
            Self::LoneSurrogate { .. } => "lone_surrogate",
            Self::Syntax { .. } => "syntax",
            Self::DuplicateKey { .. } => "duplicate_key",
            Self::IntegerOutOfRange => "integer_out_of_range",
            Self::Float => "float",
            Self::TooDeep => "too_deep",
            Self::TrailingBytes => "trailing_bytes",
            Self::NotAnObject => "not_an_object",
        }
    }
}
