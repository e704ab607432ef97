//! Matrix identifiers: server names, signing key ids, user, room and event ids.
//!
//! Each identifier is a newtype that can only be built by parsing, so a value
//! past the boundary is known to match the spec grammar:
//! <https://spec.matrix.org/v1.16/appendices/#identifier-grammar>.
//!
//! All of them display, compare, hash and serialise as the exact string they
//! were parsed from, and deserialise through their `parse` function.

#[macro_use]
mod macros;
mod key_id;
mod matrix_ids;
mod server_name;
#[cfg(test)]
mod tests;

pub use key_id::KeyId;
pub use matrix_ids::{EventId, RoomId, UserId};
pub use server_name::ServerName;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The input (or a required part of it) is empty.
    #[error("identifier is empty")]
    Empty,
    /// The input is longer than the spec allows.
    #[error("identifier is too long")]
    TooLong,
    /// A DNS host name contains a character outside `[A-Za-z0-9.-]`.
    #[error("invalid host name")]
    BadHost,
    /// An IPv4 or bracketed IPv6 literal is malformed.
    #[error("invalid IP address literal")]
    BadIpLiteral,
    /// The port is not 1 to 5 digits in the range 1..=65535.
    #[error("invalid port")]
    BadPort,
    /// A key id is not `algorithm:version` with allowed characters.
    #[error("invalid key id")]
    BadKeyId,
    /// A strict key id names an algorithm other than `ed25519`.
    #[error("unsupported key algorithm")]
    UnsupportedAlgorithm,
    /// The id does not start with the expected sigil (`@`, `!` or `$`).
    #[error("missing or wrong sigil")]
    MissingSigil,
    /// A user id has no `:server_name` part.
    #[error("missing server name")]
    MissingServerName,
    /// A user id localpart contains a forbidden character.
    #[error("invalid localpart")]
    BadLocalpart,
    /// A room or event id's opaque part or hash is malformed.
    #[error("invalid opaque id")]
    BadOpaqueId,
}

impl IdError {
    /// Stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLong => "too_long",
            Self::BadHost => "bad_host",
            Self::BadIpLiteral => "bad_ip_literal",
            Self::BadPort => "bad_port",
            Self::BadKeyId => "bad_key_id",
            Self::UnsupportedAlgorithm => "unsupported_key_algorithm",
            Self::MissingSigil => "missing_sigil",
            Self::MissingServerName => "missing_server_name",
            Self::BadLocalpart => "bad_localpart",
            Self::BadOpaqueId => "bad_opaque_id",
        }
    }
}
