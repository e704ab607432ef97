//! Parsers for the structured string values of the configuration.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::ids::ServerName;

/// The scheme of an upstream URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A homeserver's upstream: `http://host:port` or `https://host:port`, no
/// path, query or user info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// DNS name, IPv4 address, or IPv6 address in brackets.
    pub host: String,
    /// The explicit port, or the scheme's default.
    pub port: u16,
}

impl Upstream {
    /// Parses an upstream URL. A single trailing `/` is tolerated.
    pub fn parse(text: &str) -> Result<Upstream, String> {
        let (scheme, rest) = if let Some(rest) = strip_prefix_ci(text, "http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = strip_prefix_ci(text, "https://") {
            (Scheme::Https, rest)
        } else {
            return Err("must start with http:// or https://".to_owned());
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if let Some(c) = authority
            .chars()
            .find(|c| matches!(c, '/' | '?' | '#' | '@'))
        {
            return Err(format!(
                "only scheme://host[:port] is allowed (found {c:?})"
            ));
        }
        let name = ServerName::parse(authority).map_err(|e| format!("bad host[:port]: {e}"))?;
        Ok(Upstream {
            scheme,
            host: name.host().to_owned(),
            port: name.port().unwrap_or(scheme.default_port()),
        })
    }

    /// `host:port`, as used for connecting and in the `Host` header.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme.as_str(), self.host, self.port)
    }
}

/// A `host:port` address with an explicit port (a pinned federation endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// DNS name, IPv4 address, or IPv6 address in brackets.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port`; the port is required.
    pub fn parse(text: &str) -> Result<HostPort, String> {
        let name = ServerName::parse(text).map_err(|e| e.to_string())?;
        let port = name.port().ok_or("a port is required (host:port)")?;
        Ok(HostPort {
            host: name.host().to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A SHA-256 digest of a certificate's DER SubjectPublicKeyInfo, written
/// `sha256/<base64>` in the file (displayed with padding, as curl prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpkiPin(pub [u8; 32]);

impl SpkiPin {
    /// Parses `sha256/<base64 of 32 bytes>` (padded or not).
    pub fn parse(text: &str) -> Result<SpkiPin, String> {
        let b64 = text
            .strip_prefix("sha256/")
            .ok_or("must start with sha256/")?;
        let bytes = decode_base64(b64)?;
        let digest = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| format!("a SHA-256 digest has 32 bytes, not {}", bytes.len()))?;
        Ok(SpkiPin(digest))
    }
}

impl fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256/{}", STANDARD.encode(self.0))
    }
}

/// Parses a pinned Ed25519 verify key (base64 of the 32 public key bytes)
/// with [`crate::keys::parse_verify_key`], explaining a refusal precisely.
pub(super) fn parse_verify_key(text: &str) -> Result<ed25519_dalek::VerifyingKey, String> {
    crate::keys::parse_verify_key(text).map_err(|_| match decode_base64(text) {
        Err(e) => e,
        Ok(bytes) if bytes.len() != 32 => {
            format!("an ed25519 public key has 32 bytes, not {}", bytes.len())
        }
        Ok(_) => "not a usable ed25519 public key (invalid or weak point)".to_owned(),
    })
}

/// Parses a TCP listen address (`ip:port`; IPv6 as `[::1]:port`).
pub(super) fn parse_socket_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    text.parse()
        .map_err(|_| "expected ip:port, e.g. 0.0.0.0:8448 or [::]:8448".to_owned())
}

fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    crate::json::decode_base64(text).map_err(|_| "not valid base64".to_owned())
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}
