//! Server names: `hostname [":" port]`.
//!
//! Grammar: <https://spec.matrix.org/v1.16/appendices/#server-name>.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::IdError;

/// Longest DNS host name the grammar allows (`1*255dns-char`).
const MAX_DNS_NAME_LEN: usize = 255;
/// Longest IPv6 literal the grammar allows between the brackets.
const MAX_IPV6_LEN: usize = 45;

/// A server name: a DNS name, a dotted-quad IPv4 literal or a bracketed IPv6
/// literal, with an optional port.
///
/// Stricter than the bare grammar in two ways that no reachable server can
/// trip over: an all-numeric dotted host must be a real IPv4 address
/// (`1.2.3.999` is refused although it is a valid `dns-name`), and port `0`
/// is refused. Case is kept: server names compare as exact strings.
#[derive(Clone)]
pub struct ServerName {
    raw: String,
    host_len: usize,
    port: Option<u16>,
}

string_id!(ServerName);

impl ServerName {
    /// Parses a server name, rejecting anything outside the spec grammar.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        let (host, port) = split_host_port(s)?;
        check_host(host)?;
        Ok(Self {
            raw: s.to_owned(),
            host_len: host.len(),
            port: port.map(parse_port).transpose()?,
        })
    }

    /// The host part; an IPv6 literal keeps its brackets (`[::1]`).
    pub fn host(&self) -> &str {
        &self.raw[..self.host_len]
    }

    /// The explicit port, if the name has one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether the host is an IP literal (IPv4 or bracketed IPv6) rather than
    /// a DNS name.
    pub fn is_ip_literal(&self) -> bool {
        let host = self.host();
        host.starts_with('[') || host.parse::<Ipv4Addr>().is_ok()
    }
}

/// Splits `host[:port]`; an IPv6 literal ends at `]`.
fn split_host_port(s: &str) -> Result<(&str, Option<&str>), IdError> {
    let host_end = if s.starts_with('[') {
        s.find(']').map(|i| i + 1).ok_or(IdError::BadIpLiteral)?
    } else {
        s.find(':').unwrap_or(s.len())
    };
    let (host, rest) = s.split_at(host_end);
    let port = match rest.strip_prefix(':') {
        Some(port) => Some(port),
        None if rest.is_empty() => None,
        None => return Err(IdError::BadIpLiteral),
    };
    Ok((host, port))
}

/// `port = 1*5DIGIT`, in 1..=65535.
fn parse_port(s: &str) -> Result<u16, IdError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::BadPort);
    }
    match s.parse::<u16>() {
        Ok(0) | Err(_) => Err(IdError::BadPort),
        Ok(port) => Ok(port),
    }
}

/// Checks `IPv4address / "[" IPv6address "]" / dns-name`.
fn check_host(host: &str) -> Result<(), IdError> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(IdError::BadIpLiteral)?;
        let chars_ok = inner
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        let len_ok = (2..=MAX_IPV6_LEN).contains(&inner.len());
        if !chars_ok || !len_ok || inner.parse::<Ipv6Addr>().is_err() {
            return Err(IdError::BadIpLiteral);
        }
        return Ok(());
    }
    if host.is_empty() {
        return Err(IdError::Empty);
    }
    if host.len() > MAX_DNS_NAME_LEN {
        return Err(IdError::TooLong);
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(IdError::BadHost);
    }
    let dotted_numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if dotted_numeric && host.parse::<Ipv4Addr>().is_err() {
        return Err(IdError::BadIpLiteral);
    }
    Ok(())
}
