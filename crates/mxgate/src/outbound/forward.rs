//! Reading the request body within limits, and forwarding to the pinned
//! destination through the pooled client.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::{
    HeaderMap, Request, Response,
    body::{Body, Incoming},
    header::{self, HeaderValue},
    http::request::Parts,
};
use mxgate_core::ids::ServerName;
use tokio::sync::OwnedSemaphorePermit;

use super::{Refusal, state::State};
use crate::{
    client::full_body,
    errors::{BodyError, ResponseBody},
};

/// Request headers forwarded to the destination (Synapse's own proxy
/// forwards the same three); `Host` is set to the destination's name.
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

/// Reads the whole body (at most `limit` bytes, within `timeout`). A
/// declared length above the limit is refused before reading.
pub(super) async fn read_body(
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Refusal> {
    if body.size_hint().lower() > limit as u64 {
        return Err(Refusal::TooLarge(limit));
    }
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await;
    match collected {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Refusal::TooLarge(limit))
        }
        Ok(Err(_)) => Err(Refusal::BodyRead),
        Err(_) => Err(Refusal::BodyTimeout),
    }
}

/// Sends the request to `destination` with the original method, the raw
/// path-and-query, the headers that matter and the exact body, and streams
/// the response back. The destination's concurrency slot is held until the
/// response body is finished (or dropped).
pub(super) async fn forward(
    state: &State,
    parts: &Parts,
    target: &str,
    destination: &ServerName,
    body: Bytes,
) -> Result<Response<ResponseBody>, Refusal> {
    let slot = acquire_slot(state, destination).await?;
    let failed = |source| Refusal::Upstream {
        destination: destination.clone(),
        source,
    };
    let uri = state.client.uri_for(destination, target).map_err(failed)?;
    let mut request = Request::new(full_body(body));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    copy_headers(&parts.headers, request.headers_mut(), destination);
    let response = state.client.request(request).await.map_err(failed)?;
    let (mut head, body) = response.into_parts();
    for name in HOP_BY_HOP {
        head.headers.remove(name);
    }
    // The closure owns the slot: it is released when the body is dropped.
    let body = body
        .map_err(move |error| {
            let _slot = &slot;
            BodyError::from(error)
        })
        .boxed_unsync();
    Ok(Response::from_parts(head, body))
}

/// Waits for a concurrency slot of `destination`, at most the configured
/// slot timeout.
async fn acquire_slot(
    state: &State,
    destination: &ServerName,
) -> Result<OwnedSemaphorePermit, Refusal> {
    let busy = || Refusal::Busy(destination.clone());
    let semaphore = state.slots.get(destination).ok_or_else(busy)?.clone();
    match tokio::time::timeout(state.slot_timeout, semaphore.acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) | Err(_) => Err(busy()),
    }
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap, destination: &ServerName) {
    for name in FORWARDED {
        for value in from.get_all(&name) {
            to.append(name.clone(), value.clone());
        }
    }
    if let Ok(host) = HeaderValue::from_str(destination.as_str()) {
        to.insert(header::HOST, host);
    }
}
