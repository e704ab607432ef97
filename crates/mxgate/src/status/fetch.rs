//! `mxgate status`: fetching `/status` from a running gateway's admin
//! listener (plain HTTP, normally on loopback).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, StatusCode, Uri};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

use super::Snapshot;

/// Largest accepted `/status` document.
const MAX_STATUS_BYTES: usize = 4 * 1024 * 1024;
/// Time allowed for the whole exchange.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why `/status` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusFetchError {
    /// The admin URL is not a valid `http://host:port` URL.
    #[error("invalid admin URL {0:?} (expected e.g. http://127.0.0.1:9090)")]
    BadUrl(String),
    /// Connecting or the HTTP exchange failed.
    #[error("cannot reach the admin listener: {0}")]
    Http(String),
    /// No answer in time.
    #[error("the admin listener did not answer within {}s", TIMEOUT.as_secs())]
    Timeout,
    /// An answer other than 200.
    #[error("the admin listener answered HTTP {0} for /status")]
    Status(u16),
    /// The body is not a status document.
    #[error("invalid /status document: {0}")]
    Invalid(String),
}

impl StatusFetchError {
    /// A stable snake_case label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadUrl(_) => "bad_admin_url",
            Self::Http(_) => "admin_unreachable",
            Self::Timeout => "admin_timeout",
            Self::Status(_) => "admin_status",
            Self::Invalid(_) => "status_invalid",
        }
    }
}

/// Fetches and parses `{admin}/status`.
pub async fn fetch_snapshot(admin: &str) -> Result<Snapshot, StatusFetchError> {
    let url = format!("{}/status", admin.trim_end_matches('/'));
    let uri: Uri = url
        .parse()
        .map_err(|_| StatusFetchError::BadUrl(admin.to_owned()))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(StatusFetchError::BadUrl(admin.to_owned()));
    }
    tokio::time::timeout(TIMEOUT, get(uri))
        .await
        .map_err(|_| StatusFetchError::Timeout)?
}

async fn get(uri: Uri) -> Result<Snapshot, StatusFetchError> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = Request::get(uri)
        .header(hyper::header::ACCEPT, "application/json")
        .body(Empty::new())
        .map_err(|e| StatusFetchError::Http(e.to_string()))?;
    let response = client
        .request(request)
        .await
        .map_err(|e| StatusFetchError::Http(e.to_string()))?;
    if response.status() != StatusCode::OK {
        return Err(StatusFetchError::Status(response.status().as_u16()));
    }
    let body = Limited::new(response.into_body(), MAX_STATUS_BYTES)
        .collect()
        .await
        .map_err(|e| StatusFetchError::Http(e.to_string()))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| StatusFetchError::Invalid(e.to_string()))
}
