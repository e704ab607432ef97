//! The pipeline's decisions: each a small function returning
//! `Result<_, Denied>` (see the module docs of [`super`] for the order).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, body::Incoming, header, http::request::Parts};
use mxgate_core::{
    endpoints::{BodyClass, Endpoint, EndpointKind, Param, percent_decode_segment},
    ids::{ServerName, UserId},
    json::{self, CanonicalDoc, CanonicalJsonValue},
    xmatrix::{CONTENT_HEAD, RequestToSign, XMatrix, XMatrixError},
};

use super::{ConnInfo, Verdict, state::State};
use crate::{
    errors::{Denied, ResponseBody},
    keyring::KeyringError,
    metrics::Metrics,
    signatures::{self, Message},
};

/// Answers `/.well-known/matrix/server` for the homeserver named by Host/SNI.
pub(super) fn well_known(
    state: &State,
    host: Option<&str>,
    conn: &ConnInfo,
) -> Result<Response<ResponseBody>, Denied> {
    let server = host
        .and_then(|h| state.homeserver(h))
        .or_else(|| conn.sni.as_deref().and_then(|s| state.homeserver(s)));
    let body = server
        .and_then(|server| state.well_known(server))
        .ok_or(Denied::NotFound("unrecognized_endpoint"))?;
    let mut response = Response::new(
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Refuses what hyper accepts but a federation gateway must not.
pub(super) fn check_framing(request: &Request<Incoming>) -> Result<(), Denied> {
    if request.method() == Method::CONNECT {
        return Err(Denied::BadRequest("connect"));
    }
    let h1 = request.version() < hyper::Version::HTTP_2;
    if h1 && (request.uri().scheme().is_some() || request.uri().authority().is_some()) {
        return Err(Denied::BadRequest("absolute_form"));
    }
    if request.headers().contains_key(header::TRANSFER_ENCODING) {
        return Err(Denied::BadRequest("transfer_encoding"));
    }
    if request.headers().get_all(header::HOST).iter().count() > 1 {
        return Err(Denied::BadRequest("duplicate_host"));
    }
    Ok(())
}

/// The Host header (HTTP/1.1) or the `:authority` (HTTP/2).
pub(super) fn host_name(parts: &Parts) -> Option<&str> {
    match parts.headers.get(header::HOST) {
        Some(value) => value.to_str().ok(),
        None => parts.uri.authority().map(|a| a.as_str()),
    }
}

/// X-Matrix, origin trust and destination. Sets
/// `verdict.origin`/`destination`. Returns the header for signed endpoints.
pub(super) fn authenticate(
    state: &State,
    parts: &Parts,
    endpoint: &Endpoint<'_>,
    host: Option<&str>,
    conn: &ConnInfo,
    verdict: &mut Verdict,
) -> Result<Option<XMatrix>, Denied> {
    let by_host = host.and_then(|h| state.homeserver(h));
    let by_sni = conn.sni.as_deref().and_then(|s| state.homeserver(s));
    if !endpoint.signed() {
        verdict.destination = by_host.or(by_sni).cloned();
        return Ok(None);
    }
    let values = parts
        .headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes());
    let xm = match XMatrix::from_headers(values) {
        Ok(xm) => xm,
        Err(error) => {
            verdict.soft(error.into())?;
            verdict.destination = by_host.or(by_sni).cloned();
            return Ok(None);
        }
    };
    verdict.origin = Some(xm.origin.clone());
    let destination = match &xm.destination {
        Some(name) => state
            .homeserver(name.as_str())
            .filter(|hs| *hs == name)
            .ok_or(Denied::UnknownDestination)?,
        None => by_host.or(by_sni).ok_or(Denied::UnknownDestination)?,
    };
    if by_host.or(by_sni).is_some_and(|named| named != destination) {
        return Err(Denied::Unauthorized("destination_mismatch"));
    }
    verdict.destination = Some(destination.clone());
    verdict.origin_trusted = state.is_trusted(&xm.origin);
    if !verdict.origin_trusted {
        verdict.soft(Denied::Forbidden("unknown_origin"))?;
        return Ok(None);
    }
    if let Err(denied) = check_user_origin(endpoint, &xm.origin) {
        verdict.soft(denied)?;
    }
    Ok(Some(xm))
}

/// `make_join`/`make_leave`/`make_knock` are asked for a user of the origin
/// server only (Synapse refuses others with 403 too; the gateway does it
/// before anything reaches the homeserver).
fn check_user_origin(endpoint: &Endpoint<'_>, origin: &ServerName) -> Result<(), Denied> {
    if !matches!(
        endpoint.kind,
        EndpointKind::MakeJoin | EndpointKind::MakeLeave | EndpointKind::MakeKnock
    ) {
        return Ok(());
    }
    let raw = endpoint.param(Param::UserId).unwrap_or_default();
    let mut decoded = Vec::with_capacity(raw.len());
    percent_decode_segment(raw, &mut decoded).map_err(Denied::from)?;
    let user = std::str::from_utf8(&decoded)
        .ok()
        .and_then(|text| UserId::parse(text).ok())
        .ok_or(Denied::NotFound("bad_user_id"))?;
    if user.server_name() == origin {
        Ok(())
    } else {
        Err(Denied::Forbidden("user_not_from_origin"))
    }
}

pub(super) fn body_limit(state: &State, endpoint: &Endpoint<'_>) -> usize {
    match endpoint.body() {
        BodyClass::Transaction => state.limits.max_body_send,
        BodyClass::Json => state.limits.max_body_other,
        BodyClass::Empty | BodyClass::Media => 0,
    }
}

/// A request's signed content, as parsed from its body.
pub(super) enum Content<'b> {
    /// No JSON body (`GET`, media), or one that failed to parse in report mode.
    Absent,
    /// A `/send` body that is already canonical JSON (as Synapse sends it):
    /// checked and signed over as it is, without building a tree.
    Canonical(CanonicalDoc<'b>),
    /// Any other JSON body, parsed into a tree.
    Tree(CanonicalJsonValue),
}

impl Content<'_> {
    /// The parsed tree, when there is one.
    pub(super) fn tree(&self) -> Option<&CanonicalJsonValue> {
        match self {
            Self::Tree(value) => Some(value),
            Self::Absent | Self::Canonical(_) => None,
        }
    }
}

/// Strictly parses the body of `PUT`/`POST` requests (signed content): a
/// canonical `/send` body by one scan ([`json::scan_canonical`]), anything
/// else into a tree, which also names what is wrong with a bad body.
pub(super) fn parse_content<'b>(
    method: &Method,
    endpoint: &Endpoint<'_>,
    body: &'b [u8],
    verdict: &mut Verdict,
) -> Result<Content<'b>, Denied> {
    if !matches!(endpoint.body(), BodyClass::Json | BodyClass::Transaction)
        || !(method == Method::PUT || method == Method::POST)
    {
        return Ok(Content::Absent);
    }
    if endpoint.kind == EndpointKind::Send {
        let doc = json::scan_canonical(body);
        verdict.canonical_body = Some(doc.is_some());
        if let Some(doc) = doc {
            return Ok(Content::Canonical(doc));
        }
    }
    match json::parse_strict(body) {
        Ok(value) => Ok(Content::Tree(value)),
        Err(error) => verdict.soft(error.into()).map(|()| Content::Absent),
    }
}

/// Gets the origin's key (pinned, cached or fetched) and verifies the
/// signature; `body` is the raw body `content` was parsed from.
pub(super) async fn verify(
    state: &State,
    metrics: &Metrics,
    request: &RequestToSign<'_>,
    xm: &XMatrix,
    content: &Content<'_>,
    body: &Bytes,
) -> Result<(), Denied> {
    if !state.verify {
        return Ok(());
    }
    let key = match state.keyring.request_key(&xm.origin, &xm.key).await {
        Ok(key) => key,
        Err(KeyringError::UnknownServer(_)) => return Err(Denied::Forbidden("unknown_origin")),
        Err(error) => {
            tracing::debug!(origin = %xm.origin, key = %xm.key, %error, "no key for request");
            return Err(Denied::Unauthorized(error.reason()));
        }
    };
    let message: Message = match content {
        Content::Canonical(doc) => {
            let tail = request.prepare_canonical_tail(xm, doc)?;
            [
                Bytes::from_static(CONTENT_HEAD),
                body.clone(),
                Bytes::from(tail),
            ]
        }
        Content::Absent | Content::Tree(_) => {
            let whole = request.prepare_with_raw(xm, body)?;
            [Bytes::from(whole), Bytes::new(), Bytes::new()]
        }
    };
    if signatures::verify(message, xm.sig, key, state.batch_verify, metrics).await {
        Ok(())
    } else {
        Err(XMatrixError::BadSignature.into())
    }
}
