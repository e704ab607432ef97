//! Start-up pieces: the proxy secret and the setup errors.

use std::path::{Path, PathBuf};

use hyper::header;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Refusal;
use crate::client::ClientError;

/// The shared proxy secret (`worker_replication_secret`). Only its SHA-256
/// digest is kept; comparisons are constant-time on the digests, so neither
/// the content nor the length of the secret leaks through timing.
#[derive(Clone)]
pub struct Secret {
    digest: [u8; 32],
}

impl Secret {
    /// A secret from its bytes (surrounding whitespace trimmed). Empty is refused.
    pub fn new(secret: &[u8]) -> Result<Self, OutboundSetupError> {
        let secret = secret.trim_ascii();
        if secret.is_empty() {
            return Err(OutboundSetupError::EmptySecret);
        }
        Ok(Self {
            digest: Sha256::digest(secret).into(),
        })
    }

    /// Reads the secret from `path` (`[outbound] secret_file`).
    pub async fn from_file(path: &Path) -> Result<Self, OutboundSetupError> {
        let bytes =
            tokio::fs::read(path)
                .await
                .map_err(|source| OutboundSetupError::SecretFile {
                    path: path.to_owned(),
                    source,
                })?;
        Self::new(&bytes)
    }

    /// Whether `candidate` is the secret (constant time).
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate).into();
        digest.ct_eq(&self.digest).into()
    }

    /// Exactly one `Proxy-Authorization: Bearer <secret>` header.
    pub(super) fn check(&self, headers: &hyper::HeaderMap) -> Result<(), Refusal> {
        let mut values = headers.get_all(header::PROXY_AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(Refusal::BadSecret);
        };
        let value = value.as_bytes();
        let token = match value.split_at_checked(7) {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case(b"bearer ") => token,
            _ => return Err(Refusal::BadSecret),
        };
        if self.matches(token.trim_ascii()) {
            Ok(())
        } else {
            Err(Refusal::BadSecret)
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Why the outbound gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum OutboundSetupError {
    /// The config has no `[outbound]` section.
    #[error("the configuration has no [outbound] section")]
    NotConfigured,
    /// The secret file could not be read.
    #[error("cannot read outbound.secret_file {path}: {source}")]
    SecretFile {
        /// The configured path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The secret is empty (after trimming whitespace).
    #[error("the outbound secret is empty")]
    EmptySecret,
    /// The pinned client could not be built (TLS roots, duplicates).
    #[error("outbound client: {0}")]
    Client(#[from] ClientError),
    /// The listener could not be bound.
    #[error("cannot listen on {listen}: {source}")]
    Bind {
        /// The configured listen value.
        listen: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl OutboundSetupError {
    /// A stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotConfigured => "outbound_not_configured",
            Self::SecretFile { .. } => "outbound_secret_file",
            Self::EmptySecret => "outbound_secret_empty",
            Self::Client(error) => error.reason(),
            Self::Bind { .. } => "bind",
        }
    }
}
