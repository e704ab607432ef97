//! One `GET https://<hostname>/.well-known/matrix/server` request
//! (<https://spec.matrix.org/v1.16/server-server-api/#getwell-knownmatrixserver>):
//! TLS verified with the destination's roots for `<hostname>`, HTTP/1.1,
//! bounded body, redirects not followed.

use std::{io, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::{HeaderMap, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use mxgate_core::ids::ServerName;
use rustls::ClientConfig;
use tokio_rustls::TlsConnector;

use super::connector::connect_tcp;

/// The well-known path.
const WELL_KNOWN_PATH: &str = "/.well-known/matrix/server";

/// A valid well-known answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WellKnown {
    /// `m.server`: the delegated server name, `<hostname>[:<port>]`.
    pub(super) delegated: ServerName,
    /// The response's `Cache-Control: max-age`, if any.
    pub(super) max_age: Option<Duration>,
}

/// Why a well-known discovery produced no address. Every case fails closed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    /// The TCP connection to the well-known endpoint failed.
    #[error("connect to {address}: {source}")]
    Connect {
        /// `host:port` tried.
        address: String,
        /// The last error seen.
        source: Arc<io::Error>,
    },
    /// The TLS handshake failed (untrusted certificate, wrong name...).
    #[error("TLS handshake with {address}: {source}")]
    Tls {
        /// `host:port` tried.
        address: String,
        /// What the handshake said.
        source: Arc<io::Error>,
    },
    /// The HTTP exchange failed after connecting.
    #[error("HTTP exchange failed: {0}")]
    Http(String),
    /// The whole well-known request took too long.
    #[error("timed out")]
    Timeout,
    /// The server answered with a redirect, which is not followed.
    #[error("answered HTTP {0}; redirects are not followed")]
    Redirect(u16),
    /// The server answered with another non-200 status.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// The body exceeded the size limit.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not a JSON object with a valid `m.server` server name.
    #[error("invalid response: {0}")]
    Invalid(&'static str),
    /// A recent discovery failed; the next attempt is not due yet.
    #[error("{last} (failed recently; next attempt in {retry_in_ms} ms)")]
    Backoff {
        /// The failure that started the backoff.
        last: Box<DiscoveryError>,
        /// Time until the next attempt.
        retry_in_ms: u64,
    },
}

impl DiscoveryError {
    /// A stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "discovery_connect",
            Self::Tls { .. } => "discovery_tls",
            Self::Http(_) => "discovery_http",
            Self::Timeout => "discovery_timeout",
            Self::Redirect(_) => "discovery_redirect",
            Self::Status(_) => "discovery_status",
            Self::TooLarge(_) => "discovery_too_large",
            Self::Invalid(_) => "discovery_invalid",
            Self::Backoff { .. } => "discovery_backoff",
        }
    }
}

/// Fetches and parses `https://{host}:{port}/.well-known/matrix/server`
/// (`port` is 443 outside tests). `host` is a DNS name; `config` carries the
/// destination's roots and must offer only `http/1.1` by ALPN.
pub(super) async fn fetch(
    host: &str,
    port: u16,
    config: Arc<ClientConfig>,
    max_bytes: usize,
) -> Result<WellKnown, DiscoveryError> {
    let address = format!("{host}:{port}");
    let tcp = connect_tcp(host, port)
        .await
        .map_err(|source| DiscoveryError::Connect {
            address: address.clone(),
            source: Arc::new(source),
        })?;
    let name = rustls_pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| DiscoveryError::Invalid("server name is not a TLS name"))?;
    let stream = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|source| DiscoveryError::Tls {
            address,
            source: Arc::new(source),
        })?;
    let http = |error: hyper::Error| DiscoveryError::Http(error.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "well-known connection ended");
        }
    });
    let request = Request::get(WELL_KNOWN_PATH)
        .header(header::HOST, host)
        .header(header::ACCEPT, "application/json")
        .header(
            header::USER_AGENT,
            concat!("mxgate/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|error| DiscoveryError::Http(error.to_string()))?;
    let response = sender.send_request(request).await.map_err(http)?;
    let status = response.status();
    if status.is_redirection() {
        return Err(DiscoveryError::Redirect(status.as_u16()));
    }
    if status != StatusCode::OK {
        return Err(DiscoveryError::Status(status.as_u16()));
    }
    let max_age = max_age(response.headers());
    let body = read_limited(response.into_body(), max_bytes).await?;
    Ok(WellKnown {
        delegated: parse_body(&body)?,
        max_age,
    })
}

/// `m.server` of a well-known body.
fn parse_body(body: &[u8]) -> Result<ServerName, DiscoveryError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| DiscoveryError::Invalid("not JSON"))?;
    let delegated = value
        .as_object()
        .ok_or(DiscoveryError::Invalid("not a JSON object"))?
        .get("m.server")
        .and_then(serde_json::Value::as_str)
        .ok_or(DiscoveryError::Invalid("no m.server string"))?;
    ServerName::parse(delegated)
        .map_err(|_| DiscoveryError::Invalid("m.server is not a server name"))
}

/// The first `max-age=N` directive of the `Cache-Control` headers.
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|directive| {
            let (name, value) = directive.trim().split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("max-age") {
                return None;
            }
            value.trim().trim_matches('"').parse::<u64>().ok()
        })
        .map(Duration::from_secs)
}

async fn read_limited(
    body: hyper::body::Incoming,
    max_bytes: usize,
) -> Result<Bytes, DiscoveryError> {
    match Limited::new(body, max_bytes).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(DiscoveryError::TooLarge(max_bytes)),
        Err(error) => Err(DiscoveryError::Http(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    #[test]
    fn body_must_name_a_valid_server() {
        let ok = parse_body(br#"{"m.server":"fed.example:443","other":1}"#).unwrap();
        assert_eq!(ok.as_str(), "fed.example:443");
        let cases: [&[u8]; 5] = [
            b"not json",
            b"[]",
            br#"{"m.server":7}"#,
            br#"{"x":"fed.example"}"#,
            br#"{"m.server":"bad name/"}"#,
        ];
        for body in cases {
            let error = parse_body(body).unwrap_err();
            assert_eq!(error.reason(), "discovery_invalid", "{body:?}");
        }
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut headers = HeaderMap::new();
        assert_eq!(max_age(&headers), None);
        headers.append(header::CACHE_CONTROL, HeaderValue::from_static("public"));
        headers.append(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-transform, Max-Age = 600"),
        );
        assert_eq!(max_age(&headers), Some(Duration::from_secs(600)));
        let mut bad = HeaderMap::new();
        bad.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=-1"),
        );
        assert_eq!(max_age(&bad), None);
    }
}
