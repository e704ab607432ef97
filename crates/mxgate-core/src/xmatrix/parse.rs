//! The X-Matrix `Authorization` header grammar (RFC 9110 auth-params).

use std::borrow::Cow;

use ed25519_dalek::Signature;

use super::{XMatrix, XMatrixError};
use crate::ids::{KeyId, ServerName};
use crate::json::decode_base64;

/// The auth-scheme, compared case-insensitively.
const SCHEME: &[u8] = b"X-Matrix";
/// More parameters than this is not a header any server sends.
const MAX_PARAMS: usize = 16;

/// Parses one header value into an [`XMatrix`]; see [`XMatrix::parse`].
pub(super) fn parse(value: &[u8]) -> Result<XMatrix, XMatrixError> {
    let params = Params::collect(strip_scheme(trim_ows(value))?)?;
    let origin = required("origin", params.origin.as_deref())?;
    let key = required("key", params.key.as_deref())?;
    let sig = required("sig", params.sig.as_deref())?;
    let destination = match params.destination.as_deref() {
        None => None,
        Some(raw) => Some(utf8("destination", raw)?),
    };
    Ok(XMatrix {
        origin: ServerName::parse(origin).map_err(XMatrixError::BadOrigin)?,
        destination: destination
            .map(ServerName::parse)
            .transpose()
            .map_err(XMatrixError::BadDestination)?,
        key: KeyId::parse(key).map_err(XMatrixError::BadKeyId)?,
        sig: decode_sig(sig)?,
    })
}

/// The values of the known parameters, unescaped (borrowed from the header
/// unless they contained a quoted-pair).
#[derive(Default)]
struct Params<'a> {
    origin: Option<Cow<'a, [u8]>>,
    destination: Option<Cow<'a, [u8]>>,
    key: Option<Cow<'a, [u8]>>,
    sig: Option<Cow<'a, [u8]>>,
    /// Names seen so far (compared case-insensitively), to refuse repeats of
    /// any parameter.
    seen: [&'a [u8]; MAX_PARAMS],
    count: usize,
}

impl<'a> Params<'a> {
    /// Reads `[ auth-param ] *( OWS "," OWS [ auth-param ] )`.
    fn collect(input: &'a [u8]) -> Result<Self, XMatrixError> {
        let mut params = Self::default();
        let mut cursor = Cursor { input, pos: 0 };
        loop {
            cursor.skip_ows();
            match cursor.peek() {
                None => return Ok(params),
                Some(b',') => {
                    cursor.pos += 1;
                    continue;
                }
                Some(_) => {}
            }
            let (name, value) = cursor.auth_param()?;
            params.insert(name, value)?;
            cursor.skip_ows();
            match cursor.peek() {
                None => return Ok(params),
                Some(b',') => cursor.pos += 1,
                Some(_) => return Err(XMatrixError::Malformed("expected ',' after a parameter")),
            }
        }
    }

    fn insert(&mut self, name: &'a [u8], value: Cow<'a, [u8]>) -> Result<(), XMatrixError> {
        let seen = &self.seen[..self.count];
        if seen.iter().any(|seen| seen.eq_ignore_ascii_case(name)) {
            return Err(XMatrixError::DuplicateParam);
        }
        if self.count == MAX_PARAMS {
            return Err(XMatrixError::Malformed("too many parameters"));
        }
        let slot = if name.eq_ignore_ascii_case(b"origin") {
            Some(&mut self.origin)
        } else if name.eq_ignore_ascii_case(b"destination") {
            Some(&mut self.destination)
        } else if name.eq_ignore_ascii_case(b"key") {
            Some(&mut self.key)
        } else if name.eq_ignore_ascii_case(b"sig") {
            Some(&mut self.sig)
        } else {
            None
        };
        if let Some(slot) = slot {
            *slot = Some(value);
        }
        self.seen[self.count] = name;
        self.count += 1;
        Ok(())
    }
}

/// A position in the parameter list.
struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// `token BWS "=" BWS ( token / quoted-string )`, where the unquoted
    /// value may also contain `:`.
    fn auth_param(&mut self) -> Result<(&'a [u8], Cow<'a, [u8]>), XMatrixError> {
        let name = self.take_while(is_tchar);
        if name.is_empty() {
            return Err(XMatrixError::Malformed("expected a parameter name"));
        }
        self.skip_ows();
        if self.peek() != Some(b'=') {
            return Err(XMatrixError::Malformed(
                "expected '=' after a parameter name",
            ));
        }
        self.pos += 1;
        self.skip_ows();
        let value = if self.peek() == Some(b'"') {
            self.quoted_string()?
        } else {
            let value = self.take_while(|b| is_tchar(b) || b == b':');
            if value.is_empty() {
                return Err(XMatrixError::Malformed("expected a parameter value"));
            }
            Cow::Borrowed(value)
        };
        Ok((name, value))
    }

    /// `DQUOTE *( qdtext / quoted-pair ) DQUOTE`, unescaped.
    fn quoted_string(&mut self) -> Result<Cow<'a, [u8]>, XMatrixError> {
        self.pos += 1;
        let plain = self.take_while(is_qtext);
        if self.peek() == Some(b'"') {
            self.pos += 1;
            return Ok(Cow::Borrowed(plain));
        }
        let mut value = plain.to_vec();
        loop {
            let byte = self
                .peek()
                .ok_or(XMatrixError::Malformed("unterminated quoted string"))?;
            self.pos += 1;
            match byte {
                b'"' => return Ok(Cow::Owned(value)),
                b'\\' => {
                    let escaped = self
                        .peek()
                        .filter(|&b| is_qtext(b) || b == b'"' || b == b'\\')
                        .ok_or(XMatrixError::Malformed("bad quoted-pair"))?;
                    self.pos += 1;
                    value.push(escaped);
                }
                b if is_qtext(b) => value.push(b),
                _ => {
                    return Err(XMatrixError::Malformed(
                        "control character in quoted string",
                    ));
                }
            }
        }
    }

    fn take_while(&mut self, accept: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&accept) {
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }
}

/// Removes leading and trailing SP/HTAB (not part of a field value).
fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// Checks `X-Matrix` (any case) followed by `1*SP`, returning the rest.
fn strip_scheme(value: &[u8]) -> Result<&[u8], XMatrixError> {
    let scheme_end = value
        .iter()
        .position(|&b| !is_tchar(b))
        .unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(XMatrixError::NotXMatrix);
    }
    let params_start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    if params_start == 0 || rest.get(params_start) == Some(&b'\t') {
        return Err(XMatrixError::Malformed("expected a space after X-Matrix"));
    }
    Ok(&rest[params_start..])
}

/// The value of a required parameter, as UTF-8.
fn required<'v>(name: &'static str, value: Option<&'v [u8]>) -> Result<&'v str, XMatrixError> {
    utf8(name, value.ok_or(XMatrixError::MissingParam(name))?)
}

fn utf8<'v>(name: &'static str, value: &'v [u8]) -> Result<&'v str, XMatrixError> {
    std::str::from_utf8(value).map_err(|_| XMatrixError::NotUtf8(name))
}

fn decode_sig(sig: &str) -> Result<Signature, XMatrixError> {
    let bytes = decode_base64(sig).map_err(|_| XMatrixError::BadSigEncoding)?;
    let bytes: [u8; 64] = bytes.try_into().map_err(|_| XMatrixError::BadSigLength)?;
    Ok(Signature::from_bytes(&bytes))
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 `qdtext`, and the bytes a quoted-pair may escape apart from
/// `"` and `\`: HTAB, SP, visible ASCII and obs-text.
fn is_qtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}
