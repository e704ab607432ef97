//! The `Authorization: X-Matrix` header and request signing, and checking
//! many request signatures at once ([`verify_batch`]).
//!
//! Spec: <https://spec.matrix.org/v1.16/server-server-api/#request-authentication>.
//! A request is signed by signing the canonical JSON object
//! `{"content"?, "destination", "method", "origin", "uri"}` with the origin's
//! Ed25519 key; `uri` is the request-target exactly as sent (path and query,
//! never decoded or normalised) and `content` the parsed JSON body, if any.
//!
//! The header follows RFC 9110 auth-params (§11.4 and §5.6): see [`XMatrix::parse`]
//! for the exact grammar accepted.

mod batch;
mod parse;
pub mod sha512_lanes;
#[cfg(test)]
mod tests;

pub use batch::{SignedBytes, verify_batch};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::ids::{IdError, KeyId, ServerName};
use crate::json::{self, CanonicalDoc, CanonicalJsonValue, encode_base64, write_canonical};

/// How the signed bytes of a request with a body begin: the body is their
/// first member (the keys are in code point order).
pub const CONTENT_HEAD: &[u8] = br#"{"content":"#;

/// A parsed `Authorization: X-Matrix ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XMatrix {
    /// The sending server (`origin`).
    pub origin: ServerName,
    /// The server the request is for (`destination`); optional for receivers
    /// since older senders omit it.
    pub destination: Option<ServerName>,
    /// The origin's signing key that made `sig` (`key`).
    pub key: KeyId,
    /// The Ed25519 signature over the request (`sig`).
    pub sig: Signature,
}

impl XMatrix {
    /// Parses one `Authorization` header value (RFC 9110 §11.4 credentials):
    ///
    /// ```text
    /// credentials = "X-Matrix" 1*SP [ auth-param ] *( OWS "," OWS [ auth-param ] )
    /// auth-param  = token BWS "=" BWS ( token / quoted-string )
    /// ```
    ///
    /// - the scheme and parameter names are case-insensitive;
    /// - empty list elements (`a=1,,b=2`, a trailing comma) are ignored, as
    ///   RFC 9110 §5.6.1.2 asks of recipients;
    /// - quoted-strings are unescaped (`\x` becomes `x`);
    /// - an unquoted value may also contain `:`, as the spec asks for older
    ///   senders (`origin=example.org:8448`); nothing else beyond `tchar`;
    /// - `origin`, `key` and `sig` are required, `destination` is optional,
    ///   unknown parameters are ignored, any repeated parameter is an error;
    /// - `key` must be a strict `ed25519:` key id; `sig` base64 of exactly 64
    ///   bytes, decoded by [`crate::json::decode_base64`] (padded or not).
    pub fn parse(value: &[u8]) -> Result<Self, XMatrixError> {
        parse::parse(value)
    }

    /// Parses the request's `Authorization` header values, which must be
    /// exactly one (Synapse would take the last of several; a gateway must
    /// not let a second header mean something else downstream).
    pub fn from_headers<'a>(
        values: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, XMatrixError> {
        let mut values = values.into_iter();
        let first = values.next().ok_or(XMatrixError::MissingAuthorization)?;
        if values.next().is_some() {
            return Err(XMatrixError::MultipleAuthorization);
        }
        Self::parse(first)
    }

    /// The header value, every parameter quoted:
    /// `X-Matrix origin="..",destination="..",key="..",sig=".."`.
    pub fn to_header_value(&self) -> String {
        let mut out = String::from("X-Matrix ");
        push_param(&mut out, "origin", self.origin.as_str());
        if let Some(destination) = &self.destination {
            out.push(',');
            push_param(&mut out, "destination", destination.as_str());
        }
        out.push(',');
        push_param(&mut out, "key", self.key.as_str());
        out.push(',');
        push_param(&mut out, "sig", &encode_base64(&self.sig.to_bytes()));
        out
    }
}

/// The parts of a request that its X-Matrix signature covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestToSign<'a> {
    /// The HTTP method, e.g. `PUT`.
    pub method: &'a str,
    /// The raw request-target (`/_matrix/...?query`), exactly as received.
    pub uri: &'a str,
    /// The sending server.
    pub origin: &'a ServerName,
    /// The receiving server.
    pub destination: &'a ServerName,
    /// The parsed JSON body, when the request has one.
    pub content: Option<&'a CanonicalJsonValue>,
}

impl RequestToSign<'_> {
    /// The canonical JSON bytes that are signed.
    ///
    /// Written directly: the keys `content`, `destination`, `method`, `origin`,
    /// `uri` are already in canonical (code point) order.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96 + self.uri.len());
        let content = self
            .content
            .map(|content| move |out: &mut Vec<u8>| write_canonical(content, out));
        self.write_signing_bytes(&mut out, content);
        out
    }

    /// [`Self::signing_bytes`], given `raw_content`: the body `content` was
    /// parsed from. When those bytes are exactly the canonical encoding of
    /// `content` (as Synapse sends them), they are copied in instead of
    /// re-serializing the value; otherwise the value is serialized. Both give
    /// the same bytes ([`json::is_canonical_encoding`] proves it per request).
    pub fn signing_bytes_with_raw(&self, raw_content: &[u8]) -> Vec<u8> {
        let raw = self
            .content
            .is_some_and(|content| json::is_canonical_encoding(content, raw_content));
        let mut out = self.buffer(raw_content.len());
        let content = self.content.map(|content| {
            move |out: &mut Vec<u8>| {
                if raw {
                    out.extend_from_slice(raw_content);
                } else {
                    write_canonical(content, out);
                }
            }
        });
        self.write_signing_bytes(&mut out, content);
        out
    }

    /// [`Self::signing_bytes`] with `body` as the content, in place of
    /// `self.content` (which is ignored): `body` was proven canonical by
    /// [`json::scan_canonical`], so its bytes are copied in as they are.
    pub fn signing_bytes_canonical(&self, body: &CanonicalDoc<'_>) -> Vec<u8> {
        let raw = body.bytes();
        let mut out = self.buffer(raw.len());
        self.write_signing_bytes(
            &mut out,
            Some(|out: &mut Vec<u8>| out.extend_from_slice(raw)),
        );
        out
    }

    /// An empty buffer large enough for the signed bytes.
    fn buffer(&self, content_len: usize) -> Vec<u8> {
        Vec::with_capacity(
            128 + self.uri.len()
                + self.origin.as_str().len()
                + self.destination.as_str().len()
                + content_len,
        )
    }

    fn write_signing_bytes(
        &self,
        out: &mut Vec<u8>,
        write_content: Option<impl FnOnce(&mut Vec<u8>)>,
    ) {
        if let Some(write_content) = write_content {
            out.extend_from_slice(CONTENT_HEAD);
            write_content(out);
            out.push(b',');
        } else {
            out.push(b'{');
        }
        self.write_after_content(out);
    }

    /// The signed bytes after the content and its comma: the other members
    /// and the closing brace.
    fn write_after_content(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#""destination":"#);
        write_json_string(self.destination.as_str(), out);
        out.extend_from_slice(br#","method":"#);
        write_json_string(self.method, out);
        out.extend_from_slice(br#","origin":"#);
        write_json_string(self.origin.as_str(), out);
        out.extend_from_slice(br#","uri":"#);
        write_json_string(self.uri, out);
        out.push(b'}');
    }

    /// Signs the request, giving the header to send (with `destination`).
    pub fn sign(&self, key_id: &KeyId, key: &SigningKey) -> XMatrix {
        XMatrix {
            origin: self.origin.clone(),
            destination: Some(self.destination.clone()),
            key: key_id.clone(),
            sig: key.sign(&self.signing_bytes()),
        }
    }

    /// Checks that `xm` matches this request's origin and (when present)
    /// destination, and that its signature verifies with `key`.
    ///
    /// Uses the rules of dalek's `verify_strict` (computed by
    /// [`SignedBytes::verify_strict`]), the dalek check closest to libsodium's
    /// `crypto_sign_verify_detached`, which Synapse uses (signedjson ->
    /// PyNaCl): both reject a non-canonical `S` (>= the group order), a
    /// small-order public key and a small-order `R`, and both compare the
    /// encoding of `[S]B - [k]A` with `R` without the cofactor (so a
    /// non-canonical `R` encoding never matches). Plain `verify` accepts
    /// small-order keys and `R`, so a signature Synapse refuses could pass the
    /// gateway. One difference remains: libsodium also refuses a public key
    /// whose encoding is non-canonical (`y >= p`, a handful of values), which
    /// dalek accepts; such a key can only come from the origin's own key
    /// document.
    pub fn verify(&self, xm: &XMatrix, key: &VerifyingKey) -> Result<(), XMatrixError> {
        self.check_names(xm)?;
        verify_strict(key, &self.signing_bytes(), xm)
    }

    /// [`Self::verify`], with the signed bytes built by
    /// [`Self::signing_bytes_with_raw`] from the body `content` was parsed from.
    pub fn verify_with_raw(
        &self,
        xm: &XMatrix,
        key: &VerifyingKey,
        raw_content: &[u8],
    ) -> Result<(), XMatrixError> {
        verify_strict(key, &self.prepare_with_raw(xm, raw_content)?, xm)
    }

    /// [`Self::verify`], with `body` as the signed content (see
    /// [`Self::signing_bytes_canonical`]).
    pub fn verify_canonical(
        &self,
        xm: &XMatrix,
        key: &VerifyingKey,
        body: &CanonicalDoc<'_>,
    ) -> Result<(), XMatrixError> {
        verify_strict(key, &self.prepare_canonical(xm, body)?, xm)
    }

    /// What [`Self::verify_with_raw`] checks before the signature: the
    /// names; then the bytes the signature must cover, for
    /// [`verify_batch`].
    pub fn prepare_with_raw(
        &self,
        xm: &XMatrix,
        raw_content: &[u8],
    ) -> Result<Vec<u8>, XMatrixError> {
        self.check_names(xm)?;
        Ok(self.signing_bytes_with_raw(raw_content))
    }

    /// [`Self::prepare_canonical`] without copying the body: checks the
    /// names, then gives what follows the body in the signed bytes, which
    /// are [`CONTENT_HEAD`], the body's own bytes (it is canonical, so it is
    /// signed as it is), then this tail. For checks with
    /// [`SignedBytes`]' three message pieces.
    pub fn prepare_canonical_tail(
        &self,
        xm: &XMatrix,
        body: &CanonicalDoc<'_>,
    ) -> Result<Vec<u8>, XMatrixError> {
        self.check_names(xm)?;
        let mut tail = self.buffer(0);
        tail.push(b',');
        self.write_after_content(&mut tail);
        debug_assert_eq!(
            [CONTENT_HEAD, body.bytes(), &tail].concat(),
            self.signing_bytes_canonical(body)
        );
        Ok(tail)
    }

    /// [`Self::prepare_with_raw`] for [`Self::verify_canonical`].
    pub fn prepare_canonical(
        &self,
        xm: &XMatrix,
        body: &CanonicalDoc<'_>,
    ) -> Result<Vec<u8>, XMatrixError> {
        self.check_names(xm)?;
        Ok(self.signing_bytes_canonical(body))
    }

    fn check_names(&self, xm: &XMatrix) -> Result<(), XMatrixError> {
        if xm.origin != *self.origin {
            return Err(XMatrixError::OriginMismatch);
        }
        if xm
            .destination
            .as_ref()
            .is_some_and(|d| d != self.destination)
        {
            return Err(XMatrixError::DestinationMismatch);
        }
        Ok(())
    }
}

/// `xm`'s signature by `key` over `message`, with the rules of
/// ed25519-dalek's `verify_strict` ([`SignedBytes::verify_strict`]).
fn verify_strict(key: &VerifyingKey, message: &[u8], xm: &XMatrix) -> Result<(), XMatrixError> {
    let item = SignedBytes {
        message: [message, &[], &[]],
        signature: &xm.sig,
        key,
    };
    if item.verify_strict() {
        Ok(())
    } else {
        Err(XMatrixError::BadSignature)
    }
}

/// Why an X-Matrix header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XMatrixError {
    /// The request has no `Authorization` header.
    #[error("missing Authorization header")]
    MissingAuthorization,
    /// The request has more than one `Authorization` header.
    #[error("more than one Authorization header")]
    MultipleAuthorization,
    /// The scheme is not `X-Matrix`.
    #[error("Authorization scheme is not X-Matrix")]
    NotXMatrix,
    /// The header does not follow the auth-param grammar.
    #[error("malformed X-Matrix header: {0}")]
    Malformed(&'static str),
    /// A parameter appears more than once.
    #[error("duplicate X-Matrix parameter")]
    DuplicateParam,
    /// A required parameter (`origin`, `key` or `sig`) is absent.
    #[error("missing X-Matrix parameter {0}")]
    MissingParam(&'static str),
    /// A known parameter's value is not valid UTF-8.
    #[error("X-Matrix parameter {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// `origin` is not a valid server name.
    #[error("invalid origin: {0}")]
    BadOrigin(IdError),
    /// `destination` is not a valid server name.
    #[error("invalid destination: {0}")]
    BadDestination(IdError),
    /// `key` is not a valid `ed25519:` key id.
    #[error("invalid key id: {0}")]
    BadKeyId(IdError),
    /// `sig` is not base64.
    #[error("sig is not base64")]
    BadSigEncoding,
    /// `sig` does not decode to 64 bytes.
    #[error("sig is not 64 bytes")]
    BadSigLength,
    /// The header's origin is not the request's origin.
    #[error("origin does not match")]
    OriginMismatch,
    /// The header names another server as destination.
    #[error("destination is not this server")]
    DestinationMismatch,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
}

impl XMatrixError {
    /// Stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingAuthorization => "missing_authorization",
            Self::MultipleAuthorization => "multiple_authorization",
            Self::NotXMatrix => "not_x_matrix",
            Self::Malformed(_) => "malformed_x_matrix",
            Self::DuplicateParam => "duplicate_param",
            Self::MissingParam(_) => "missing_param",
            Self::NotUtf8(_) => "param_not_utf8",
            Self::BadOrigin(_) => "bad_origin",
            Self::BadDestination(_) => "bad_destination",
            Self::BadKeyId(_) => "bad_key_id",
            Self::BadSigEncoding => "bad_sig_encoding",
            Self::BadSigLength => "bad_sig_length",
            Self::OriginMismatch => "origin_mismatch",
            Self::DestinationMismatch => "destination_mismatch",
            Self::BadSignature => "bad_signature",
        }
    }
}

/// Appends `name="value"`, escaping `"` and `\` as quoted-pairs.
fn push_param(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Appends `s` as a canonical JSON string: escapes only `"`, `\` and
/// U+0000..=U+001F (short forms where JSON has them, else lowercase `\u00xx`),
/// as <https://spec.matrix.org/v1.16/appendices/#canonical-json> requires.
fn write_json_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(br#"\""#),
            b'\\' => out.extend_from_slice(br"\\"),
            b'\n' => out.extend_from_slice(br"\n"),
            b'\r' => out.extend_from_slice(br"\r"),
            b'\t' => out.extend_from_slice(br"\t"),
            0x08 => out.extend_from_slice(br"\b"),
            0x0c => out.extend_from_slice(br"\f"),
            0x00..=0x1f => {
                out.extend_from_slice(br"\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}
