//! Requests as Synapse's federation-proxy client sends them, and raw
//! HTTP/1.1 exchanges over TCP or a UNIX socket.

use std::{net::SocketAddr, path::Path, time::Duration};

use ed25519_dalek::SigningKey;
use mxgate_core::{
    ids::{KeyId, ServerName},
    json,
    xmatrix::RequestToSign,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpStream, UnixStream},
};

#[path = "../shared/raw_response.rs"]
mod raw_response;
pub use raw_response::{RawResponse, parse_response};

use super::{HS, HS_KEY, SECRET, hs_key};

/// The X-Matrix header value of a request signed by `origin` with `key`.
pub fn x_matrix(
    key: &SigningKey,
    key_id: &str,
    origin: &str,
    destination: &str,
    method: &str,
    target: &str,
    body: Option<&str>,
) -> String {
    let content = body.map(|b| json::parse_strict(b.as_bytes()).unwrap());
    let origin = ServerName::parse(origin).unwrap();
    let destination = ServerName::parse(destination).unwrap();
    RequestToSign {
        method,
        uri: target,
        origin: &origin,
        destination: &destination,
        content: content.as_ref(),
    }
    .sign(&KeyId::parse(key_id).unwrap(), key)
    .to_header_value()
}

/// A proxy request as Synapse sends it: absolute-form target, signed by
/// `hs.test` for `destination`, with the right secret.
pub fn proxied(method: &str, destination: &str, target: &str, body: Option<&str>) -> Vec<u8> {
    let auth = x_matrix(&hs_key(), HS_KEY, HS, destination, method, target, body);
    proxy_request(
        method,
        &format!("matrix-federation://{destination}{target}"),
        destination,
        &[
            ("Authorization", &auth),
            ("Proxy-Authorization", &format!("Bearer {SECRET}")),
        ],
        body,
    )
}

/// A raw HTTP/1.1 request in Synapse's shape (`Connection: close`,
/// `User-Agent`, `Host`), with `headers` and an optional JSON body.
pub fn proxy_request(
    method: &str,
    request_target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Vec<u8> {
    let mut text = format!(
        "{method} {request_target} HTTP/1.1\r\nConnection: close\r\nUser-Agent: Synapse/1.163.2\r\n"
    );
    if let Some(body) = body {
        text.push_str(&format!(
            "Content-Length: {}\r\nContent-Type: application/json\r\n",
            body.len()
        ));
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Host: {host}\r\n\r\n"));
    text.push_str(body.unwrap_or(""));
    text.into_bytes()
}

/// Sends `request` on a new TCP connection and reads until the server closes.
pub async fn send(addr: SocketAddr, request: &[u8]) -> RawResponse {
    exchange(TcpStream::connect(addr).await.unwrap(), request).await
}

/// Sends `request` on a new UNIX socket connection.
pub async fn send_unix(path: &Path, request: &[u8]) -> RawResponse {
    exchange(UnixStream::connect(path).await.unwrap(), request).await
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, request: &[u8]) -> RawResponse {
    stream.write_all(request).await.unwrap();
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes));
    // A server refusing a request before reading its body may reset the
    // connection after answering: keep what was read.
    let _ = read.await.expect("response within 10 s");
    parse_response(&bytes)
}
