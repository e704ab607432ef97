//! A tiny, fast fake homeserver to put behind the target: it reads and
//! discards request bodies and answers
//! - `PUT /_matrix/federation/v1/send/{txnId}` with 200 `{"pdus":{}}`
//!   (<https://spec.matrix.org/v1.16/server-server-api/#put_matrixfederationv1sendtxnid>);
//! - `GET /_matrix/federation/v1/version` with 200 and a version object;
//! - `GET /_matrix/key/v2/server` with a self-signed key document of its own
//!   server name (so a gateway that fetches the fronted server's keys works);
//! - anything else with 404 `M_UNRECOGNIZED`.
//!
//! HTTP/1.1 and HTTP/2 (prior knowledge) on one plain-TCP listener.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use mxgate_core::ids::{KeyId, ServerName};
use mxgate_core::keys::build_key_response;
use tokio::net::TcpListener;

use crate::requests::Origin;

/// Far-future `valid_until_ts` of the key document (2100-01-01).
const KEYS_VALID_UNTIL: u64 = 4_102_444_800_000;

/// Serves forever on `listen` as `server_name`.
pub async fn serve(listen: SocketAddr, server_name: &ServerName) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let keys = key_document(server_name);
    eprintln!("mxgate-bench upstream: listening on http://{listen} as {server_name}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("mxgate-bench upstream: accept failed: {error}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let keys = keys.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(request, keys.clone()));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The key document for `server_name`, signed with the seed-255 test key
/// (distinct from every origin's key).
fn key_document(server_name: &ServerName) -> Bytes {
    match (Origin::nth(u8::MAX), KeyId::parse("ed25519:bench")) {
        (Ok(origin), Ok(key_id)) => Bytes::from(build_key_response(
            server_name,
            &key_id,
            &origin.key,
            KEYS_VALID_UNTIL,
        )),
        _ => Bytes::from_static(b"{}"),
    }
}

async fn answer(
    request: Request<Incoming>,
    keys: Bytes,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    let (status, body) = if path.starts_with("/_matrix/federation/v1/send/") {
        (StatusCode::OK, Bytes::from_static(br#"{"pdus":{}}"#))
    } else if path == "/_matrix/federation/v1/version" {
        let version = br#"{"server":{"name":"mxgate-bench-upstream","version":"0"}}"#;
        (StatusCode::OK, Bytes::from_static(version))
    } else if path == "/_matrix/key/v2/server" {
        (StatusCode::OK, keys)
    } else {
        let error = br#"{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}"#;
        (StatusCode::NOT_FOUND, Bytes::from_static(error))
    };
    // Read and discard the body; a broken body still gets the answer.
    let _ = request.into_body().collect().await;
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}
