//! One key fetch: `GET /_matrix/key/v2/server` through the pinned client,
//! bounded in time and size, validated by mxgate-core.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::{Method, Request, StatusCode, header};
use mxgate_core::{
    ids::ServerName,
    keys::{KeyError, ServerKeys},
};

use super::{Clock, KeyringSettings};
use crate::client::{ClientError, HttpClient, empty_body};

/// The key endpoint's path.
const KEY_PATH: &str = "/_matrix/key/v2/server";

/// Why a key fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request could not be sent or was not answered.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The whole fetch took too long.
    #[error("key fetch timed out")]
    Timeout,
    /// The server answered with a non-200 status.
    #[error("key server answered HTTP {0}")]
    Status(u16),
    /// The response body exceeded the size limit.
    #[error("key response larger than {0} bytes")]
    TooLarge(usize),
    /// Reading the response body failed.
    #[error("reading the key response failed: {0}")]
    Body(String),
    /// The response is not a valid, self-signed key document of this server.
    #[error("invalid key response: {0}")]
    Invalid(#[from] KeyError),
}

impl FetchError {
    /// A stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Client(error) => error.reason(),
            Self::Timeout => "key_fetch_timeout",
            Self::Status(_) => "key_fetch_status",
            Self::TooLarge(_) => "key_response_too_large",
            Self::Body(_) => "key_fetch_body",
            Self::Invalid(_) => "key_response_invalid",
        }
    }
}

/// Fetches `server`'s keys once through `client` and validates them (no
/// caching): the keyring's fetch, also for tools such as `mxgate keys fetch`.
pub async fn fetch_server_keys(
    client: &HttpClient,
    server: &ServerName,
    clock: &dyn Clock,
    settings: &KeyringSettings,
) -> Result<ServerKeys, FetchError> {
    let body = tokio::time::timeout(settings.fetch_timeout, fetch_body(client, server, settings))
        .await
        .map_err(|_| FetchError::Timeout)??;
    Ok(ServerKeys::from_response(&body, server, clock.now_ms())?)
}

async fn fetch_body(
    client: &HttpClient,
    server: &ServerName,
    settings: &KeyringSettings,
) -> Result<Bytes, FetchError> {
    let uri = client.uri_for(server, KEY_PATH)?;
    let request = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header(header::ACCEPT, "application/json")
        .header(
            header::USER_AGENT,
            concat!("mxgate/", env!("CARGO_PKG_VERSION")),
        )
        .body(empty_body())
        .map_err(|e| FetchError::Body(e.to_string()))?;
    let response = client.request(request).await?;
    if response.status() != StatusCode::OK {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    let limit = settings.max_response_bytes;
    let declared = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(FetchError::TooLarge(limit));
    }
    let collected = Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                FetchError::TooLarge(limit)
            } else {
                FetchError::Body(error.to_string())
            }
        })?;
    Ok(collected.to_bytes())
}
