//! The federation endpoint allow-list and raw request-path safety checks.
//!
//! [`classify`] takes the method and the *raw* path of a request-target (no
//! query string, never decoded or normalised) and either names the endpoint
//! it is, with its path parameters as raw slices, or says why it is refused.
//! Templates are anchored and matched segment by segment: a parameter is
//! exactly one path segment, a literal segment must match byte for byte (so
//! `%2F` or `%73` in a literal segment never matches). Every segment is
//! checked first: no empty segment (`//`, trailing `/`), no `.`/`..` either
//! raw or after percent-decoding that one segment, valid percent-encoding
//! decoding to UTF-8 without control characters, and only RFC 3986 `pchar`
//! bytes raw (no `?`, `#`, space, quote or non-ASCII). `%2F` inside a parameter
//! segment is legitimate (room v3 event ids contain `/`).
//!
//! The allow-list covers the server-server and key APIs of spec v1.16
//! (<https://spec.matrix.org/v1.16/server-server-api/>) plus legacy endpoints
//! that real servers still call (v1 `invite`/`send_join`/`send_leave`,
//! `/_matrix/key/v2/server/{keyId}`, `/_matrix/key/v2/query/{serverName}/{keyId}`).

mod table;
#[cfg(test)]
mod tests;

pub use table::EndpointKind;

/// The most segments any template has; longer paths are refused early.
const MAX_SEGMENTS: usize = 8;

/// A request that matched an allowed endpoint template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint<'a> {
    /// Which endpoint (and, through it, its metric class, signing and body class).
    pub kind: EndpointKind,
    params: [(Param, &'a str); 2],
    len: usize,
}

/// The name of a path parameter of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `{txnId}` of `/send`.
    TxnId,
    /// `{roomId}`.
    RoomId,
    /// `{eventId}`.
    EventId,
    /// `{userId}`.
    UserId,
    /// `{queryType}` of `/query/{queryType}`.
    QueryType,
    /// `{mediaId}` of the media endpoints.
    MediaId,
    /// `{serverName}` of the key query endpoints.
    ServerName,
    /// `{keyId}` of the legacy key endpoints.
    KeyId,
}

/// How the gateway treats a request body for an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyClass {
    /// `PUT /send/{txnId}`: a transaction, up to 50 PDUs and 100 EDUs.
    Transaction,
    /// A small JSON object (invites, joins, queries).
    Json,
    /// No request body (GET).
    Empty,
    /// No request body; the response is media, streamed and never buffered.
    Media,
}

/// Why a request-target is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The path does not start with `/` (absolute-form, authority-form or `*`).
    #[error("request-target is not in origin form")]
    NotOriginForm,
    /// The path has an empty segment (`//` or a trailing `/`).
    #[error("empty path segment")]
    EmptySegment,
    /// A segment is `.` or `..`, raw or after percent-decoding.
    #[error("dot path segment")]
    DotSegment,
    /// A segment has invalid percent-encoding, or decodes to invalid UTF-8
    /// or a control character.
    #[error("invalid percent-encoding in path")]
    BadEncoding,
    /// No allowed endpoint has this path.
    #[error("unrecognized endpoint")]
    Unrecognized,
    /// The path is an allowed endpoint, but not with this method.
    #[error("method not allowed for this endpoint")]
    MethodNotAllowed,
}

impl EndpointError {
    /// Stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotOriginForm => "not_origin_form",
            Self::EmptySegment => "empty_segment",
            Self::DotSegment => "dot_segment",
            Self::BadEncoding => "bad_path_encoding",
            Self::Unrecognized => "unrecognized_endpoint",
            Self::MethodNotAllowed => "method_not_allowed",
        }
    }
}

/// Classifies a request by its method (e.g. `"PUT"`) and raw path (the
/// request-target up to, not including, `?`).
pub fn classify<'a>(method: &str, path: &'a str) -> Result<Endpoint<'a>, EndpointError> {
    let rest = path.strip_prefix('/').ok_or(EndpointError::NotOriginForm)?;
    let mut segments = [""; MAX_SEGMENTS];
    let mut count = 0;
    for segment in rest.split('/') {
        check_segment(segment)?;
        if count == MAX_SEGMENTS {
            return Err(EndpointError::Unrecognized);
        }
        segments[count] = segment;
        count += 1;
    }
    let segments = &segments[..count];
    let mut path_matched = false;
    for template in table::TEMPLATES {
        let Some(endpoint) = match_template(template.segments, segments, template.kind) else {
            continue;
        };
        if template.method == method {
            return Ok(endpoint);
        }
        path_matched = true;
    }
    Err(if path_matched {
        EndpointError::MethodNotAllowed
    } else {
        EndpointError::Unrecognized
    })
}

impl<'a> Endpoint<'a> {
    /// The raw (still percent-encoded) value of a path parameter.
    pub fn param(&self, name: Param) -> Option<&'a str> {
        self.params[..self.len]
            .iter()
            .find(|(p, _)| *p == name)
            .map(|(_, v)| *v)
    }

    /// Stable endpoint class label for metrics (see [`EndpointKind::class`]).
    pub fn class(&self) -> &'static str {
        self.kind.class()
    }

    /// Whether the endpoint requires an X-Matrix signature.
    pub fn signed(&self) -> bool {
        self.kind.signed()
    }

    /// How the request body is treated.
    pub fn body(&self) -> BodyClass {
        self.kind.body()
    }
}

/// Percent-decodes one raw path segment into `out`, checking the encoding.
/// Returns `BadEncoding` for a `%` not followed by two hex digits, invalid
/// UTF-8 or a control character.
pub fn percent_decode_segment(raw: &str, out: &mut Vec<u8>) -> Result<(), EndpointError> {
    out.clear();
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let byte = if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| hex_value(*b));
            let lo = bytes.get(i + 2).and_then(|b| hex_value(*b));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(EndpointError::BadEncoding);
            };
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            bytes[i - 1]
        };
        if byte.is_ascii_control() {
            return Err(EndpointError::BadEncoding);
        }
        out.push(byte);
    }
    match std::str::from_utf8(out) {
        Ok(_) => Ok(()),
        Err(_) => Err(EndpointError::BadEncoding),
    }
}

/// Checks one raw segment: not empty, not a dot segment raw or decoded,
/// valid encoding. Allocation-free unless the segment contains `%`.
fn check_segment(segment: &str) -> Result<(), EndpointError> {
    if segment.is_empty() {
        return Err(EndpointError::EmptySegment);
    }
    if segment == "." || segment == ".." {
        return Err(EndpointError::DotSegment);
    }
    if !segment.bytes().all(is_pchar) {
        return Err(EndpointError::BadEncoding);
    }
    if !segment.contains('%') {
        return Ok(());
    }
    let mut decoded = Vec::with_capacity(segment.len());
    percent_decode_segment(segment, &mut decoded)?;
    if decoded == b"." || decoded == b".." {
        return Err(EndpointError::DotSegment);
    }
    Ok(())
}

/// Matches raw segments against a template, capturing parameters.
fn match_template<'a>(
    template: &[table::Seg],
    segments: &[&'a str],
    kind: EndpointKind,
) -> Option<Endpoint<'a>> {
    if template.len() != segments.len() {
        return None;
    }
    let mut endpoint = Endpoint {
        kind,
        params: [(Param::TxnId, ""); 2],
        len: 0,
    };
    for (seg, raw) in template.iter().zip(segments) {
        match seg {
            table::Seg::Lit(lit) if lit == raw => {}
            table::Seg::Lit(_) => return None,
            table::Seg::Param(name) => {
                *endpoint.params.get_mut(endpoint.len)? = (*name, raw);
                endpoint.len += 1;
            }
        }
    }
    Some(endpoint)
}

/// RFC 3986 `pchar` bytes (with `%` for pct-encoded, checked separately).
fn is_pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%".contains(&b)
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}
