//! Reading the request body within limits, and forwarding to the pinned
//! destination through the pooled client.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{
    HeaderMap, Request, Response,
    body::Incoming,
    header::{self, HeaderValue},
    http::request::Parts,
};
use mxgate_core::ids::ServerName;
use tokio::sync::OwnedSemaphorePermit;

use super::{Refusal, state::State};
use crate::{
    client::full_body,
    errors::{BodyError, ResponseBody},
    proxy::{self, ReadBodyError},
};

/// Reads the whole body into one buffer (see [`proxy::read_body`]).
pub(super) async fn read_body(
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Refusal> {
    proxy::read_body(body, limit, timeout)
        .await
        .map_err(|error| match error {
            ReadBodyError::TooLarge => Refusal::TooLarge(limit),
            ReadBodyError::Read => Refusal::BodyRead,
            ReadBodyError::Timeout => Refusal::BodyTimeout,
        })
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
    proxy::strip_hop_by_hop(&mut head.headers);
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
    proxy::copy_forwarded_headers(from, to);
    if let Ok(host) = HeaderValue::from_str(destination.as_str()) {
        to.insert(header::HOST, host);
    }
}
