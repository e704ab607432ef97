//! Server key documents: `/_matrix/key/v2/server` responses, notary responses,
//! and which key may verify what, when.
//!
//! Spec: <https://spec.matrix.org/v1.16/server-server-api/#retrieving-server-keys>.
//!
//! A [`ServerKeys`] only exists once its document has been validated like
//! Synapse does: `server_name` is the server asked, and at least one signature
//! by that server verifies with a key from its own `verify_keys` (every such
//! signature present must verify). The self-signature proves consistency, not
//! authenticity: that comes from the TLS connection to the server, or from a
//! notary's signature ([`parse_notary_response`]).
//!
//! Key ids: `verify_keys` ids with the `ed25519` algorithm must match the
//! strict grammar ([`KeyId::parse`]); ids of other algorithms are skipped, since
//! nothing could verify with them. `old_verify_keys` ids are read with
//! [`KeyId::parse_lax`], because retired keys may predate the grammar; they only
//! ever verify events, never requests.

mod build;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;

use crate::{
    event::RoomVersion,
    ids::{KeyId, ServerName},
    json::{JsonError, decode_base64},
};

pub use self::{build::build_key_response, parse::parse_notary_response};

/// Longest time a fetched key document is trusted, whatever its
/// `valid_until_ts` says: seven days, in milliseconds.
pub const MAX_KEY_LIFETIME_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// The validated signing keys of one server.
///
/// Persisting: store [`raw_response`](Self::raw_response) and
/// [`fetched_at`](Self::fetched_at) (not this struct), and rebuild with
/// [`ServerKeys::restore`], which validates the document again. For notary
/// entries the raw bytes are the canonical JSON of the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKeys {
    server_name: ServerName,
    verify_keys: BTreeMap<KeyId, VerifyingKey>,
    old_verify_keys: BTreeMap<KeyId, OldVerifyKey>,
    valid_until_ts: u64,
    fetched_at: u64,
    expires_at: u64,
    raw: Vec<u8>,
}

/// A retired key from `old_verify_keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OldVerifyKey {
    /// The public key.
    pub key: VerifyingKey,
    /// When the key stopped being used (ms since the epoch): it verifies
    /// events whose `origin_server_ts` is earlier than this.
    pub expired_ts: u64,
}

/// Why a key document or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The body is not strict JSON.
    #[error("key response is not strict JSON: {0}")]
    Json(#[from] JsonError),
    /// A field is missing or has the wrong type or value.
    #[error("malformed key response: bad or missing {0}")]
    Malformed(&'static str),
    /// `server_name` is not the server that was asked.
    #[error("key response for {found:?}, expected {expected}")]
    WrongServerName {
        /// The server that was asked.
        expected: String,
        /// The `server_name` in the response (at most 255 characters).
        found: String,
    },
    /// No signature by the server with one of its own `verify_keys`.
    #[error("key response is not signed by one of its own keys")]
    Unsigned,
    /// A signature by one of the server's own `verify_keys` does not verify.
    #[error("key response has an invalid self-signature")]
    BadSelfSignature,
    /// `valid_until_ts` has already passed.
    #[error("key response expired at {valid_until_ts}")]
    Expired {
        /// The response's `valid_until_ts`.
        valid_until_ts: u64,
    },
    /// No valid signature by the notary with one of its configured keys.
    #[error("notary response entry lacks a valid notary signature")]
    NotarySignature,
    /// The notary returned no entry for the requested server.
    #[error("notary response has no keys for the requested server")]
    NoKeys,
    /// A public key is not unpadded base64 of a usable 32-byte ed25519 key.
    #[error("invalid ed25519 public key")]
    BadKey,
}

impl KeyError {
    /// Stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Json(_) => "malformed_json",
            Self::Malformed(_) => "malformed",
            Self::WrongServerName { .. } => "wrong_server_name",
            Self::Unsigned => "unsigned",
            Self::BadSelfSignature => "bad_self_signature",
            Self::Expired { .. } => "expired",
            Self::NotarySignature => "notary_signature",
            Self::NoKeys => "no_keys",
            Self::BadKey => "bad_key",
        }
    }
}

impl ServerKeys {
    /// Validates a `/_matrix/key/v2/server` response body fetched from
    /// `expected` at `now_ms`.
    ///
    /// Besides the checks in the [module docs](self), `valid_until_ts` is
    /// required and must not have passed: a freshly fetched document that is
    /// already expired can't authenticate anything new.
    pub fn from_response(
        body: &[u8],
        expected: &ServerName,
        now_ms: u64,
    ) -> Result<Self, KeyError> {
        let keys = parse::validate(body, expected, now_ms)?;
        keys.check_fresh(now_ms)?;
        Ok(keys)
    }

    /// Rebuilds keys persisted as [`raw_response`](Self::raw_response) and
    /// [`fetched_at`](Self::fetched_at), validating the document again.
    ///
    /// Expiry is not checked (old documents still verify old events); a notary
    /// entry's notary signature is not checked again, the stored bytes are
    /// trusted as our own storage.
    pub fn restore(raw: &[u8], expected: &ServerName, fetched_at: u64) -> Result<Self, KeyError> {
        parse::validate(raw, expected, fetched_at)
    }

    /// Keys pinned in configuration: valid for requests and events forever,
    /// with no raw document to persist.
    pub fn pinned(server_name: ServerName, verify_keys: BTreeMap<KeyId, VerifyingKey>) -> Self {
        Self {
            server_name,
            verify_keys,
            old_verify_keys: BTreeMap::new(),
            valid_until_ts: u64::MAX,
            fetched_at: 0,
            expires_at: u64::MAX,
            raw: Vec::new(),
        }
    }

    /// The key `id` for verifying a request (X-Matrix) at `now_ms`: only
    /// current `verify_keys`, and only until [`expires_at`](Self::expires_at).
    pub fn key_for_request(&self, id: &KeyId, now_ms: u64) -> Option<&VerifyingKey> {
        if now_ms > self.expires_at {
            return None;
        }
        self.verify_keys.get(id)
    }

    /// The key `id` for verifying an event sent at `origin_server_ts` in a room
    /// of version `room_version`.
    ///
    /// A current key verifies any event in room versions 1–4; from version 5
    /// only while [`expires_at`](Self::expires_at) `>= origin_server_ts`. A
    /// retired key verifies events with `origin_server_ts < expired_ts`.
    pub fn key_for_event(
        &self,
        id: &KeyId,
        origin_server_ts: u64,
        room_version: &RoomVersion,
    ) -> Option<&VerifyingKey> {
        let current_ok =
            !room_version.enforce_key_validity() || self.expires_at >= origin_server_ts;
        if let Some(key) = self.verify_keys.get(id).filter(|_| current_ok) {
            return Some(key);
        }
        self.old_verify_keys
            .get(id)
            .filter(|old| origin_server_ts < old.expired_ts)
            .map(|old| &old.key)
    }

    /// The server these keys belong to.
    pub fn server_name(&self) -> &ServerName {
        &self.server_name
    }

    /// Current keys (`verify_keys`).
    pub fn verify_keys(&self) -> &BTreeMap<KeyId, VerifyingKey> {
        &self.verify_keys
    }

    /// Retired keys (`old_verify_keys`).
    pub fn old_verify_keys(&self) -> &BTreeMap<KeyId, OldVerifyKey> {
        &self.old_verify_keys
    }

    /// `valid_until_ts` as published (ms since the epoch).
    pub fn valid_until_ts(&self) -> u64 {
        self.valid_until_ts
    }

    /// When the document was fetched (ms since the epoch).
    pub fn fetched_at(&self) -> u64 {
        self.fetched_at
    }

    /// When the current keys stop being trusted: the lesser of
    /// `valid_until_ts` and `fetched_at` + 7 days, as the spec requires. The
    /// keyring should refresh before this.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The document exactly as received (empty for pinned keys).
    pub fn raw_response(&self) -> &[u8] {
        &self.raw
    }

    fn check_fresh(&self, now_ms: u64) -> Result<(), KeyError> {
        if self.valid_until_ts < now_ms {
            return Err(KeyError::Expired {
                valid_until_ts: self.valid_until_ts,
            });
        }
        Ok(())
    }
}

/// Parses a base64 ed25519 public key, e.g. one pinned in configuration.
/// Weak (small-order) keys are refused.
pub fn parse_verify_key(base64: &str) -> Result<VerifyingKey, KeyError> {
    let bytes: [u8; 32] = decode_base64(base64)
        .map_err(|_| KeyError::BadKey)?
        .try_into()
        .map_err(|_| KeyError::BadKey)?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::BadKey)?;
    if key.is_weak() {
        return Err(KeyError::BadKey);
    }
    Ok(key)
}
