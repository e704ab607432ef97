//! The client's error type.

use mxgate_core::ids::ServerName;

use super::{ConnectError, DiscoveryError};
use crate::tls::TlsError;

/// Why a request could not be sent or answered.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server is not a configured destination.
    #[error("not a configured destination: {0}")]
    UnknownDestination(String),
    /// Two destinations share a server name or base URI.
    #[error("destination configured twice: {0}")]
    DuplicateDestination(String),
    /// A URI could not be built.
    #[error("invalid URI: {0}")]
    InvalidUri(String),
    /// A TLS configuration could not be built.
    #[error(transparent)]
    TlsConfig(Box<TlsError>),
    /// Connecting (TCP or TLS) failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The response headers did not arrive in time.
    #[error("timed out waiting for the response")]
    ResponseTimeout,
    /// The HTTP exchange failed after connecting.
    #[error("HTTP exchange failed: {0}")]
    Http(#[source] Box<hyper_util::client::legacy::Error>),
    /// The destination's well-known delegation could not be resolved;
    /// nothing was sent to it.
    #[error("well-known discovery for {server} failed: {source}")]
    Discovery {
        /// The destination.
        server: ServerName,
        /// What went wrong (boxed: keeps the error small).
        source: Box<DiscoveryError>,
    },
}

impl ClientError {
    /// A stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownDestination(_) => "unknown_destination",
            Self::DuplicateDestination(_) => "duplicate_destination",
            Self::InvalidUri(_) => "invalid_uri",
            Self::TlsConfig(_) => "tls_config",
            Self::Connect(error) => error.reason(),
            Self::ResponseTimeout => "response_timeout",
            Self::Http(_) => "http_error",
            Self::Discovery { source, .. } => source.reason(),
        }
    }

    /// Whether the destination was too slow (a gateway answers 504).
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::ResponseTimeout | Self::Connect(ConnectError::Timeout) => true,
            Self::Discovery { source, .. } => matches!(**source, DiscoveryError::Timeout),
            _ => false,
        }
    }

    pub(super) fn from_hyper(error: hyper_util::client::legacy::Error) -> Self {
        let connect = std::error::Error::source(&error)
            .and_then(|source| source.downcast_ref::<ConnectError>())
            .cloned();
        match connect {
            Some(connect) => Self::Connect(connect),
            None => Self::Http(Box::new(error)),
        }
    }
}

impl From<TlsError> for ClientError {
    fn from(error: TlsError) -> Self {
        Self::TlsConfig(Box::new(error))
    }
}
