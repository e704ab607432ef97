//! Signing key identifiers: `algorithm:version`.
//!
//! Spec: <https://spec.matrix.org/v1.16/appendices/#signing-key-ids>
//! ("the version must have characters matching `[a-zA-Z0-9_]`").

use super::IdError;

/// The only signing algorithm Matrix defines.
const ED25519: &str = "ed25519";
/// Longest key id accepted, strict or lax.
const MAX_KEY_ID_LEN: usize = 255;

/// A signing key id such as `ed25519:a_doue`.
#[derive(Clone)]
pub struct KeyId {
    raw: String,
    colon: usize,
}

string_id!(KeyId);

impl KeyId {
    /// Parses a current key id: `ed25519:` followed by 1+ of `[a-zA-Z0-9_]`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let (algorithm, version) = split(s)?;
        if algorithm != ED25519 {
            return Err(IdError::UnsupportedAlgorithm);
        }
        if !version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(IdError::BadKeyId);
        }
        Ok(Self::from_split(s, algorithm))
    }

    /// Parses a legacy key id, for keys that predate the version grammar:
    /// an algorithm of `[a-z0-9_]` and any version of visible ASCII.
    ///
    /// Use only where old data (e.g. `old_verify_keys`) must be read; request
    /// authentication uses [`KeyId::parse`].
    pub fn parse_lax(s: &str) -> Result<Self, IdError> {
        let (algorithm, version) = split(s)?;
        let algorithm_ok = algorithm
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        let version_ok = version.bytes().all(|b| b.is_ascii_graphic());
        if !algorithm_ok || !version_ok {
            return Err(IdError::BadKeyId);
        }
        Ok(Self::from_split(s, algorithm))
    }

    /// The algorithm, e.g. `ed25519`.
    pub fn algorithm(&self) -> &str {
        &self.raw[..self.colon]
    }

    /// The version after the colon, e.g. `a_doue`.
    pub fn version(&self) -> &str {
        &self.raw[self.colon + 1..]
    }

    /// Whether the algorithm is `ed25519`.
    pub fn is_ed25519(&self) -> bool {
        self.algorithm() == ED25519
    }

    fn from_split(s: &str, algorithm: &str) -> Self {
        Self {
            raw: s.to_owned(),
            colon: algorithm.len(),
        }
    }
}

/// Splits at the first colon; both parts must be non-empty.
fn split(s: &str) -> Result<(&str, &str), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_KEY_ID_LEN {
        return Err(IdError::TooLong);
    }
    match s.split_once(':') {
        Some((algorithm, version)) if !algorithm.is_empty() && !version.is_empty() => {
            Ok((algorithm, version))
        }
        _ => Err(IdError::BadKeyId),
    }
}
