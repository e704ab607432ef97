//! Reading the request body within limits, and forwarding to the upstream.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    HeaderMap, Request, Response,
    body::Incoming,
    header,
    http::{request::Parts, uri::PathAndQuery},
};
use mxgate_core::ids::ServerName;

use super::{ConnInfo, state::State};
use crate::{
    errors::{BodyError, Denied, ResponseBody},
    proxy::{self, ReadBodyError},
};

const X_FORWARDED_FOR: header::HeaderName = header::HeaderName::from_static("x-forwarded-for");

/// Reads the whole body into one buffer (see [`proxy::read_body`]).
pub(super) async fn read_body(
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Denied> {
    proxy::read_body(body, limit, timeout)
        .await
        .map_err(|error| match error {
            ReadBodyError::TooLarge => Denied::TooLarge,
            ReadBodyError::Read => Denied::BadRequest("body_read"),
            ReadBodyError::Timeout => Denied::BodyTimeout,
        })
}

/// Sends the request to `destination`'s upstream with the original method,
/// raw request-target, the headers that matter and the exact body bytes,
/// and streams the response back (minus hop-by-hop headers). At most
/// [`MAX_UPSTREAM_IN_FLIGHT`](super::state::MAX_UPSTREAM_IN_FLIGHT) requests
/// per homeserver wait for their response head at once (504 when no slot
/// frees up within the request timeout).
pub(super) async fn forward(
    state: &State,
    destination: &ServerName,
    parts: &Parts,
    body: Bytes,
    conn: &ConnInfo,
) -> Result<Response<ResponseBody>, Denied> {
    // The request-target as received (hyper gives every origin-form target
    // a path and query).
    let path_and_query = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let uri = state
        .client
        .uri_with(destination, path_and_query)
        .map_err(|error| Denied::from(&error))?;
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    copy_headers(&parts.headers, request.headers_mut(), conn);
    let slot = state
        .upstream_slot(destination, state.limits.request_timeout)
        .await?;
    let response = state.client.request(request).await.map_err(|error| {
        tracing::warn!(%destination, %error, "upstream request failed");
        Denied::from(&error)
    })?;
    drop(slot);
    let (mut head, body) = response.into_parts();
    proxy::strip_hop_by_hop(&mut head.headers);
    let body = body.map_err(BodyError::from).boxed_unsync();
    Ok(Response::from_parts(head, body))
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap, conn: &ConnInfo) {
    proxy::copy_forwarded_headers(from, to);
    if let Some(value) = &conn.forwarded_for {
        to.insert(X_FORWARDED_FOR, value.clone());
    }
}
