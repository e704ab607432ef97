//! Matrix JSON error responses and the one rejection type of the pipeline.
//!
//! Every refusal anywhere in the inbound pipeline becomes a [`Denied`]: a
//! small category (which fixes the HTTP status and `errcode`) carrying a
//! stable snake_case reason used as the metric label and audit reason.
//! Error bodies follow <https://spec.matrix.org/v1.16/client-server-api/#standard-error-response>.

use std::borrow::Cow;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::{Response, StatusCode, header};
use mxgate_core::{
    endpoints::EndpointError, json::JsonError, txn::TxnError, xmatrix::XMatrixError,
};

use crate::client::ClientError;

/// Error type of response bodies (upstream body errors pass through).
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response the gateway sends.
pub type ResponseBody = UnsyncBoxBody<Bytes, BodyError>;

/// A Matrix error response: status, `errcode`, message, optional retry hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixError {
    /// HTTP status.
    pub status: StatusCode,
    /// Matrix error code, e.g. `M_FORBIDDEN`.
    pub errcode: &'static str,
    /// Human-readable message.
    pub message: Cow<'static, str>,
    /// `retry_after_ms` for 429 responses.
    pub retry_after_ms: Option<u64>,
}

/// Why the gateway refuses (or, in report mode, would refuse) a request or
/// could not complete it. Each variant carries a stable reason label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Malformed HTTP the gateway never forwards (absolute-form, CONNECT,
    /// ambiguous framing): 400 `M_UNRECOGNIZED`.
    #[error("malformed request ({0})")]
    BadRequest(&'static str),
    /// Not an allowed endpoint, or an unsafe path: 404 `M_UNRECOGNIZED`.
    #[error("unrecognized request ({0})")]
    NotFound(&'static str),
    /// An allowed path with another method: 405 `M_UNRECOGNIZED`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Missing/malformed X-Matrix, bad signature, unknown key, wrong
    /// destination: 401 `M_UNAUTHORIZED`.
    #[error("unauthorized ({0})")]
    Unauthorized(&'static str),
    /// The destination (X-Matrix `destination`, else Host/SNI) is none of
    /// the fronted homeservers: 401 `M_UNAUTHORIZED` (per spec).
    #[error("destination is not served here")]
    UnknownDestination,
    /// The origin is not trusted, or the body contradicts the header: 403 `M_FORBIDDEN`.
    #[error("forbidden ({0})")]
    Forbidden(&'static str),
    /// Per-origin rate limit: 429 `M_LIMIT_EXCEEDED`.
    #[error("rate limited")]
    RateLimited {
        /// When the origin may retry.
        retry_after_ms: u64,
    },
    /// Body above the endpoint class limit: 413 `M_TOO_LARGE`.
    #[error("request body too large")]
    TooLarge,
    /// The body did not arrive in time: 408 `M_UNKNOWN`.
    #[error("request body timed out")]
    BodyTimeout,
    /// The body is not JSON at all: 400 `M_NOT_JSON`.
    #[error("body is not JSON ({0})")]
    NotJson(&'static str),
    /// The body is JSON the gateway refuses (duplicate keys, limits, shape): 400 `M_BAD_JSON`.
    #[error("body is unacceptable JSON ({0})")]
    BadJson(&'static str),
    /// An invite for a room version the gateway does not know: 400
    /// `M_UNSUPPORTED_ROOM_VERSION`.
    #[error("unsupported room version")]
    UnsupportedRoomVersion,
    /// The upstream could not be reached or failed: 502 `M_UNKNOWN`.
    #[error("upstream unavailable ({0})")]
    BadGateway(&'static str),
    /// The upstream did not answer in time: 504 `M_UNKNOWN`.
    #[error("upstream timed out")]
    GatewayTimeout,
}

impl Denied {
    /// Stable snake_case label for metrics and the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadRequest(r)
            | Self::NotFound(r)
            | Self::Unauthorized(r)
            | Self::Forbidden(r)
            | Self::NotJson(r)
            | Self::BadJson(r)
            | Self::BadGateway(r) => r,
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnknownDestination => "unknown_destination",
            Self::RateLimited { .. } => "rate_limited",
            Self::TooLarge => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::GatewayTimeout => "upstream_timeout",
            Self::UnsupportedRoomVersion => "unsupported_room_version",
        }
    }

    /// Whether report mode may forward a request despite this verdict.
    /// Malformed HTTP, unsafe/unknown paths, unknown destinations, oversized
    /// or unreadable bodies and upstream failures can't be skipped: the first
    /// ones have no safe upstream meaning, the last ones already happened.
    pub fn reportable(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized(_)
                | Self::Forbidden(_)
                | Self::RateLimited { .. }
                | Self::NotJson(_)
                | Self::BadJson(_)
                | Self::UnsupportedRoomVersion
        )
    }

    /// The Matrix error sent to the client.
    pub fn to_matrix_error(&self) -> MatrixError {
        let (status, errcode) = match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "M_UNRECOGNIZED"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "M_UNRECOGNIZED"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED"),
            Self::Unauthorized(_) | Self::UnknownDestination => {
                (StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED")
            }
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "M_FORBIDDEN"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE"),
            Self::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "M_UNKNOWN"),
            Self::NotJson(_) => (StatusCode::BAD_REQUEST, "M_NOT_JSON"),
            Self::BadJson(_) => (StatusCode::BAD_REQUEST, "M_BAD_JSON"),
            Self::UnsupportedRoomVersion => (StatusCode::BAD_REQUEST, "M_UNSUPPORTED_ROOM_VERSION"),
            Self::BadGateway(_) => (StatusCode::BAD_GATEWAY, "M_UNKNOWN"),
            Self::GatewayTimeout => (StatusCode::GATEWAY_TIMEOUT, "M_UNKNOWN"),
        };
        let retry_after_ms = match self {
            Self::RateLimited { retry_after_ms } => Some(*retry_after_ms),
            _ => None,
        };
        MatrixError {
            status,
            errcode,
            message: Cow::Owned(format!("mxgate: {self}")),
            retry_after_ms,
        }
    }
}

impl MatrixError {
    /// The JSON body `{"errcode": .., "error": .., "retry_after_ms"?: ..}`.
    pub fn body_bytes(&self) -> Bytes {
        let mut body = serde_json::json!({ "errcode": self.errcode, "error": self.message });
        if let (Some(ms), Some(object)) = (self.retry_after_ms, body.as_object_mut()) {
            object.insert("retry_after_ms".into(), ms.into());
        }
        Bytes::from(body.to_string())
    }

    /// The hyper response carrying this error.
    pub fn into_response(self) -> Response<ResponseBody> {
        let body = Full::new(self.body_bytes())
            .map_err(|never| match never {})
            .boxed_unsync();
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        response
    }
}

impl From<EndpointError> for Denied {
    fn from(error: EndpointError) -> Self {
        match error {
            EndpointError::MethodNotAllowed => Denied::MethodNotAllowed,
            EndpointError::NotOriginForm => Denied::BadRequest(error.reason()),
            _ => Denied::NotFound(error.reason()),
        }
    }
}

impl From<JsonError> for Denied {
    fn from(error: JsonError) -> Self {
        match error {
            JsonError::InvalidUtf8 { .. } | JsonError::Syntax { .. } | JsonError::TrailingBytes => {
                Denied::NotJson(error.reason())
            }
            _ => Denied::BadJson(error.reason()),
        }
    }
}

impl From<XMatrixError> for Denied {
    fn from(error: XMatrixError) -> Self {
        Denied::Unauthorized(error.reason())
    }
}

/// A `/send` body whose `origin` is not the X-Matrix origin is 403
/// `M_FORBIDDEN` (the signer may not speak for another server); any other
/// transaction problem is 400 `M_BAD_JSON`.
impl From<TxnError> for Denied {
    fn from(error: TxnError) -> Self {
        match error {
            TxnError::OriginMismatch { .. } => Denied::Forbidden("txn_origin_mismatch"),
            TxnError::Json(json) => Denied::from(json),
            other => Denied::BadJson(other.reason()),
        }
    }
}

impl From<&ClientError> for Denied {
    fn from(error: &ClientError) -> Self {
        if error.is_timeout() {
            Denied::GatewayTimeout
        } else {
            Denied::BadGateway(error.reason())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_errcodes() {
        let cases = [
            (
                Denied::from(EndpointError::DotSegment),
                404,
                "M_UNRECOGNIZED",
                "dot_segment",
            ),
            (
                Denied::from(EndpointError::MethodNotAllowed),
                405,
                "M_UNRECOGNIZED",
                "method_not_allowed",
            ),
            (
                Denied::Unauthorized("bad_signature"),
                401,
                "M_UNAUTHORIZED",
                "bad_signature",
            ),
            (
                Denied::Forbidden("unknown_origin"),
                403,
                "M_FORBIDDEN",
                "unknown_origin",
            ),
            (Denied::TooLarge, 413, "M_TOO_LARGE", "body_too_large"),
            (
                Denied::from(JsonError::Syntax { line: 1, column: 1 }),
                400,
                "M_NOT_JSON",
                "syntax",
            ),
            (
                Denied::from(JsonError::DuplicateKey { key: "a".into() }),
                400,
                "M_BAD_JSON",
                "duplicate_key",
            ),
            (Denied::GatewayTimeout, 504, "M_UNKNOWN", "upstream_timeout"),
            (
                Denied::UnsupportedRoomVersion,
                400,
                "M_UNSUPPORTED_ROOM_VERSION",
                "unsupported_room_version",
            ),
            (
                Denied::BadGateway("upstream_connect"),
                502,
                "M_UNKNOWN",
                "upstream_connect",
            ),
        ];
        for (denied, status, errcode, reason) in cases {
            let error = denied.to_matrix_error();
            assert_eq!(error.status.as_u16(), status, "{denied:?}");
            assert_eq!(error.errcode, errcode, "{denied:?}");
            assert_eq!(denied.reason(), reason);
        }
    }

    #[test]
    fn rate_limit_body_carries_retry_after() {
        let error = Denied::RateLimited {
            retry_after_ms: 1500,
        }
        .to_matrix_error();
        let body: serde_json::Value = serde_json::from_slice(&error.body_bytes()).unwrap();
        assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
        assert_eq!(body["retry_after_ms"], 1500);
        assert!(body["error"].as_str().unwrap().contains("rate limited"));
    }

    #[test]
    fn report_mode_cannot_skip_framing_or_paths() {
        assert!(!Denied::BadRequest("absolute_form").reportable());
        assert!(!Denied::NotFound("dot_segment").reportable());
        assert!(!Denied::UnknownDestination.reportable());
        assert!(!Denied::TooLarge.reportable());
        assert!(Denied::Unauthorized("bad_signature").reportable());
        assert!(Denied::Forbidden("unknown_origin").reportable());
    }
}
