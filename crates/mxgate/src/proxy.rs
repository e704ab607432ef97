//! What the inbound and outbound pipelines share when they pass a request
//! on: reading the body into one buffer within limits, the request headers
//! that are forwarded, and the response headers that stay on this hop.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::{
    HeaderMap,
    body::{Body, Incoming},
    header,
};

/// Request headers passed on (Synapse's own federation proxy forwards the
/// same three); each pipeline adds its own (`X-Forwarded-For`, `Host`).
pub const FORWARDED_HEADERS: [header::HeaderName; 3] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::USER_AGENT,
];

/// Response headers that belong to one hop and are not passed back.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "proxy-authenticate",
];

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadBodyError {
    /// Declared or actual length above the limit.
    #[error("request body larger than the limit")]
    TooLarge,
    /// The peer's body stream failed.
    #[error("request body could not be read")]
    Read,
    /// The body did not arrive within the request timeout.
    #[error("request body not received in time")]
    Timeout,
}

/// Reads the whole body (at most `limit` bytes, within `timeout`) into one
/// buffer. A declared length above the limit is refused before reading.
pub async fn read_body(
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ReadBodyError> {
    if body.size_hint().lower() > limit as u64 {
        return Err(ReadBodyError::TooLarge);
    }
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await;
    match collected {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ReadBodyError::TooLarge)
        }
        Ok(Err(_)) => Err(ReadBodyError::Read),
        Err(_) => Err(ReadBodyError::Timeout),
    }
}

/// Copies the [`FORWARDED_HEADERS`] (every value of each) from `from` to `to`.
pub fn copy_forwarded_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for name in FORWARDED_HEADERS {
        for value in from.get_all(&name) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// Removes the hop-by-hop headers from a response head.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}
