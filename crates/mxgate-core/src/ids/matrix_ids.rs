//! User, room and event ids: a sigil, an opaque part and (mostly) a server name.
//!
//! Spec: <https://spec.matrix.org/v1.16/appendices/#common-identifier-format>,
//! room ids without a server part (room version 12):
//! <https://spec.matrix.org/v1.16/rooms/v12/#room-ids>, event ids by room version:
//! <https://spec.matrix.org/v1.16/rooms/v4/#event-ids>.

use super::{IdError, ServerName};

/// Longest user, room or event id, in bytes (sigil and server name included).
const MAX_ID_LEN: usize = 255;
/// Length of an unpadded base64 SHA-256 hash (room v12 ids, v3+ event ids).
const HASH_B64_LEN: usize = 43;

/// A user id, `@localpart:server_name`.
///
/// The localpart may use the historical character set (any visible ASCII but
/// `:`), since such users still exist on federation.
#[derive(Clone)]
pub struct UserId {
    raw: String,
    server: ServerName,
}

string_id!(UserId);

impl UserId {
    /// Parses `@localpart:server_name`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let rest = sigil_body(s, '@')?;
        let (local, server) = rest.split_once(':').ok_or(IdError::MissingServerName)?;
        if local.is_empty() || !local.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(IdError::BadLocalpart);
        }
        Ok(Self {
            raw: s.to_owned(),
            server: ServerName::parse(server)?,
        })
    }

    /// The part between `@` and the first `:`.
    pub fn localpart(&self) -> &str {
        let end = self.raw.len() - self.server.as_str().len() - 1;
        &self.raw[1..end]
    }

    /// The user's homeserver.
    pub fn server_name(&self) -> &ServerName {
        &self.server
    }
}

/// A room id: `!opaque:server_name`, or `!` + a 43-character URL-safe
/// unpadded base64 hash (room version 12, no server part).
#[derive(Clone)]
pub struct RoomId {
    raw: String,
    server: Option<ServerName>,
}

string_id!(RoomId);

impl RoomId {
    /// Parses either room id form.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let rest = sigil_body(s, '!')?;
        let server = opaque_and_server(rest, is_url_safe_b64)?;
        Ok(Self {
            raw: s.to_owned(),
            server,
        })
    }

    /// The server that created the room, for ids that name one (before v12).
    /// It is only a hint: it carries no authority over the room.
    pub fn server_name(&self) -> Option<&ServerName> {
        self.server.as_ref()
    }
}

/// An event id: `$opaque:server_name` (room versions 1 and 2), or `$` + a
/// 43-character unpadded base64 reference hash (standard alphabet in v3,
/// URL-safe from v4; both are accepted here).
#[derive(Clone)]
pub struct EventId {
    raw: String,
    server: Option<ServerName>,
}

string_id!(EventId);

impl EventId {
    /// Parses either event id form.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let rest = sigil_body(s, '$')?;
        let server = opaque_and_server(rest, |b| is_url_safe_b64(b) || b == b'+' || b == b'/')?;
        Ok(Self {
            raw: s.to_owned(),
            server,
        })
    }

    /// The server named in a room version 1/2 event id.
    pub fn server_name(&self) -> Option<&ServerName> {
        self.server.as_ref()
    }
}

/// Checks length and sigil, returning what follows the sigil.
fn sigil_body(s: &str, sigil: char) -> Result<&str, IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    s.strip_prefix(sigil).ok_or(IdError::MissingSigil)
}

/// `opaque ":" server_name` or a bare hash whose bytes satisfy `hash_byte`.
fn opaque_and_server(
    rest: &str,
    hash_byte: impl Fn(u8) -> bool,
) -> Result<Option<ServerName>, IdError> {
    Ok(match rest.split_once(':') {
        Some((opaque, server)) => {
            if opaque.is_empty() || !opaque.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(IdError::BadOpaqueId);
            }
            Some(ServerName::parse(server)?)
        }
        None => {
            if rest.len() != HASH_B64_LEN || !rest.bytes().all(hash_byte) {
                return Err(IdError::BadOpaqueId);
            }
            None
        }
    })
}

fn is_url_safe_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}
