//! Reading the request body within limits, and forwarding to the upstream.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::{
    HeaderMap, Request, Response,
    body::{Body, Incoming},
    header,
    http::request::Parts,
};
use mxgate_core::ids::ServerName;

use super::{ConnInfo, state::State};
use crate::errors::{BodyError, Denied, ResponseBody};

/// Request headers forwarded to the upstream (besides `X-Forwarded-For`).
const FORWARDED: [header::HeaderName; 3] = [
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

/// Reads the whole body (at most `limit` bytes, within `timeout`) into one
/// buffer. A declared length above the limit is refused before reading.
pub(super) async fn read_body(
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Denied> {
    let declared = body.size_hint().lower();
    if declared > limit as u64 {
        return Err(Denied::TooLarge);
    }
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await;
    match collected {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Denied::TooLarge)
        }
        Ok(Err(_)) => Err(Denied::BadRequest("body_read")),
        Err(_) => Err(Denied::BodyTimeout),
    }
}

/// Sends the request to `destination`'s upstream with the original method,
/// raw request-target, the headers that matter and the exact body bytes,
/// and streams the response back (minus hop-by-hop headers).
pub(super) async fn forward(
    state: &State,
    destination: &ServerName,
    parts: &Parts,
    target: &str,
    body: Bytes,
    conn: &ConnInfo,
) -> Result<Response<ResponseBody>, Denied> {
    let uri = state
        .client
        .uri_for(destination, target)
        .map_err(|error| Denied::from(&error))?;
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    copy_headers(&parts.headers, request.headers_mut(), conn);
    let response = state.client.request(request).await.map_err(|error| {
        tracing::warn!(%destination, %error, "upstream request failed");
        Denied::from(&error)
    })?;
    let (mut head, body) = response.into_parts();
    for name in HOP_BY_HOP {
        head.headers.remove(name);
    }
    let body = body.map_err(BodyError::from).boxed_unsync();
    Ok(Response::from_parts(head, body))
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap, conn: &ConnInfo) {
    for name in FORWARDED {
        for value in from.get_all(&name) {
            to.append(name.clone(), value.clone());
        }
    }
    if let Some(peer) = conn.peer
        && let Ok(value) = header::HeaderValue::from_str(&peer.ip().to_string())
    {
        to.insert(header::HeaderName::from_static("x-forwarded-for"), value);
    }
}
