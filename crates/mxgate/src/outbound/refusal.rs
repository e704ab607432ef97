//! Why the outbound proxy refuses a request (or could not complete it), and
//! the Matrix error Synapse receives — and logs — for each case.

use std::borrow::Cow;

use hyper::StatusCode;
use mxgate_core::{ids::ServerName, json::JsonError, xmatrix::XMatrixError};

use crate::{client::ClientError, errors::MatrixError, keyring::KeyringError};

/// A refusal of the outbound proxy. Messages name the server concerned so
/// that the homeserver's log says exactly why federation to it failed.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// `CONNECT` tunnels are not offered: 405.
    #[error("CONNECT is not supported; configure Synapse's federation proxy (instance_map)")]
    Connect,
    /// The request-target is not absolute-form `matrix-federation://...`: 400.
    #[error("only absolute-form matrix-federation:// requests are served on this listener")]
    NotAbsoluteForm,
    /// The path is not under `/_matrix/`: 404.
    #[error("only /_matrix/ paths are proxied")]
    NotMatrixPath,
    /// `Proxy-Authorization: Bearer <secret>` missing or wrong: 401.
    #[error("missing or wrong Proxy-Authorization bearer secret")]
    BadSecret,
    /// The `Authorization: X-Matrix` header is missing or malformed: 401.
    #[error("X-Matrix authorization refused: {0}")]
    XMatrix(XMatrixError),
    /// The X-Matrix origin is not one of our homeservers: 403.
    #[error("origin {0} is not a homeserver behind this gateway")]
    ForeignOrigin(ServerName),
    /// The X-Matrix destination is not the request-target's authority: 403.
    #[error("X-Matrix destination {header} differs from the request's destination {authority}")]
    DestinationMismatch {
        /// The header's `destination`.
        header: ServerName,
        /// The request-target's authority.
        authority: String,
    },
    /// The destination is neither a `[[homeserver]]` nor a reachable
    /// `[[remote]]`: 403. Nothing is sent anywhere.
    #[error("destination {0} is not a trusted server in mxgate's configuration")]
    UntrustedDestination(String),
    /// The destination is a `[[remote]]` for which the client has no route
    /// (neither a pinned `address` nor well-known discovery): 403. The config
    /// rejects such a remote, so this is a fail-closed guard.
    #[error(
        "destination {0} has no pinned address in mxgate's configuration (outbound needs [[remote]] address)"
    )]
    NoPinnedAddress(ServerName),
    /// The body exceeds the size limit: 413.
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    /// The body did not arrive in time: 408.
    #[error("request body timed out")]
    BodyTimeout,
    /// The body could not be read: 400.
    #[error("request body could not be read")]
    BodyRead,
    /// The body is not strict JSON, so its signature can't be checked: 400.
    #[error("request body is not acceptable JSON: {0}")]
    Json(JsonError),
    /// No usable key of the origin for the X-Matrix key id: 401 (unknown
    /// key) or 502 (the homeserver's key endpoint could not be read).
    #[error("no key to verify the request: {0}")]
    Key(KeyringError),
    /// The X-Matrix signature does not verify: 401.
    #[error("X-Matrix signature refused: {0}")]
    Signature(XMatrixError),
    /// Too many requests to this destination in flight for too long: 503.
    #[error("too many concurrent requests to {0}")]
    Busy(ServerName),
    /// The destination could not be reached or failed: 502, or 504 when it
    /// was too slow.
    #[error("cannot reach {destination}: {source}")]
    Upstream {
        /// The destination server name.
        destination: ServerName,
        /// What the client said.
        source: ClientError,
    },
}

impl Refusal {
    /// A stable snake_case label for metrics and the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::NotAbsoluteForm => "not_absolute_form",
            Self::NotMatrixPath => "not_matrix_path",
            Self::BadSecret => "bad_proxy_secret",
            Self::XMatrix(error) | Self::Signature(error) => error.reason(),
            Self::ForeignOrigin(_) => "foreign_origin",
            Self::DestinationMismatch { .. } => "destination_mismatch",
            Self::UntrustedDestination(_) => "untrusted_destination",
            Self::NoPinnedAddress(_) => "no_pinned_address",
            Self::TooLarge(_) => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::BodyRead => "body_read",
            Self::Json(error) => error.reason(),
            Self::Key(error) => error.reason(),
            Self::Busy(_) => "destination_busy",
            Self::Upstream { source, .. } => source.reason(),
        }
    }

    /// Whether report mode may forward the request despite this refusal.
    ///
    /// Only the checks on what the homeserver signed are reportable. The
    /// proxy secret (access to the listener itself), malformed requests,
    /// destinations without a pinned route, body limits and failures that
    /// already happened are enforced in both modes.
    pub fn reportable(&self) -> bool {
        matches!(
            self,
            Self::XMatrix(_)
                | Self::ForeignOrigin(_)
                | Self::DestinationMismatch { .. }
                | Self::Json(_)
                | Self::Key(_)
                | Self::Signature(_)
        )
    }

    /// Whether this is a failure of the exchange with the destination (as
    /// opposed to a refusal of the request).
    pub fn is_upstream_failure(&self) -> bool {
        matches!(self, Self::Upstream { .. } | Self::Busy(_))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Connect => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAbsoluteForm | Self::BodyRead | Self::Json(_) => StatusCode::BAD_REQUEST,
            Self::NotMatrixPath => StatusCode::NOT_FOUND,
            Self::BadSecret | Self::XMatrix(_) | Self::Signature(_) => StatusCode::UNAUTHORIZED,
            Self::Key(KeyringError::Fetch { .. } | KeyringError::Backoff { .. }) => {
                StatusCode::BAD_GATEWAY
            }
            Self::Key(_) => StatusCode::UNAUTHORIZED,
            Self::ForeignOrigin(_)
            | Self::DestinationMismatch { .. }
            | Self::UntrustedDestination(_)
            | Self::NoPinnedAddress(_) => StatusCode::FORBIDDEN,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream { source, .. } if source.is_timeout() => StatusCode::GATEWAY_TIMEOUT,
            Self::Upstream { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    /// The Matrix error sent back to the homeserver.
    pub fn to_matrix_error(&self) -> MatrixError {
        let status = self.status();
        let errcode = match (self, status) {
            (Self::Connect | Self::NotAbsoluteForm | Self::NotMatrixPath, _) => "M_UNRECOGNIZED",
            (Self::Json(_), _) => "M_BAD_JSON",
            (_, StatusCode::UNAUTHORIZED) => "M_UNAUTHORIZED",
            (_, StatusCode::FORBIDDEN) => "M_FORBIDDEN",
            (_, StatusCode::PAYLOAD_TOO_LARGE) => "M_TOO_LARGE",
            _ => "M_UNKNOWN",
        };
        MatrixError {
            status,
            errcode,
            message: Cow::Owned(format!("mxgate outbound: {self}")),
            retry_after_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_errcodes_and_messages() {
        let remote = ServerName::parse("remote.example").unwrap();
        let cases = [
            (
                Refusal::BadSecret,
                401,
                "M_UNAUTHORIZED",
                "bad_proxy_secret",
            ),
            (
                Refusal::UntrustedDestination("evil.example".into()),
                403,
                "M_FORBIDDEN",
                "untrusted_destination",
            ),
            (
                Refusal::ForeignOrigin(remote.clone()),
                403,
                "M_FORBIDDEN",
                "foreign_origin",
            ),
            (
                Refusal::NotAbsoluteForm,
                400,
                "M_UNRECOGNIZED",
                "not_absolute_form",
            ),
            (Refusal::Json(JsonError::Float), 400, "M_BAD_JSON", "float"),
            (Refusal::TooLarge(10), 413, "M_TOO_LARGE", "body_too_large"),
            (Refusal::Busy(remote), 503, "M_UNKNOWN", "destination_busy"),
        ];
        for (refusal, status, errcode, reason) in cases {
            let error = refusal.to_matrix_error();
            assert_eq!(error.status.as_u16(), status, "{refusal:?}");
            assert_eq!(error.errcode, errcode, "{refusal:?}");
            assert_eq!(refusal.reason(), reason);
        }
        let message = Refusal::UntrustedDestination("evil.example".into())
            .to_matrix_error()
            .message;
        assert!(message.contains("destination evil.example is not a trusted server"));
    }

    #[test]
    fn report_mode_never_skips_routing_or_the_secret() {
        assert!(!Refusal::UntrustedDestination("x".into()).reportable());
        assert!(!Refusal::BadSecret.reportable());
        assert!(!Refusal::TooLarge(1).reportable());
        assert!(Refusal::Signature(XMatrixError::BadSignature).reportable());
    }
}
