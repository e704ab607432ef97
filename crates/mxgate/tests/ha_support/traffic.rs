//! The federation traffic: workers sending signed `PUT /send` transactions
//! through the balancer, on a fresh connection per request or on keep-alive
//! connections, as Synapse does. A request whose connection fails before any
//! response byte arrives is retried on a new connection (a transaction is
//! idempotent: the homeserver deduplicates its id); one that fails after
//! response bytes arrived, or times out, is recorded as failed.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use super::balancer::Balancer;
use crate::common::{HS, REMOTE, remote_key, x_matrix};

/// Attempts per request before it counts as failed.
pub const MAX_ATTEMPTS: u32 = 5;
/// Longest wait for a response.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause before retrying a request on a new connection.
const RETRY_PAUSE: Duration = Duration::from_millis(5);

const BODY: &str = "{\"origin\":\"remote.test\",\"origin_server_ts\":1700000000000,\"pdus\":[{\"type\":\"m.room.message\",\"content\":{\"body\":\"ha\"}}],\"edus\":[]}";

/// How a worker uses connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A new connection per request (`Connection: close`).
    Fresh,
    /// Requests one after another on a connection kept open.
    KeepAlive,
}

/// What happened to one request.
#[derive(Clone, Debug)]
pub struct Record {
    /// Its transaction id.
    pub txn: String,
    /// The worker's connection mode.
    pub mode: Mode,
    /// The final status; 0 when no complete response arrived.
    pub status: u16,
    /// The backend that answered, when one did.
    pub backend: Option<usize>,
    /// Connections tried (1 = no retry).
    pub attempts: u32,
    /// When the final response (or failure) came.
    pub done: Instant,
    /// Why each failed attempt failed.
    pub errors: Vec<String>,
}

/// Runs one worker until `until`; transaction ids are `<label>-<n>`.
pub async fn worker(
    balancer: Arc<Balancer>,
    mode: Mode,
    label: String,
    until: Instant,
) -> Vec<Record> {
    let mut records = Vec::new();
    let mut conn: Option<Conn> = None;
    while Instant::now() < until {
        let txn = format!("{label}-{}", records.len());
        let request = send_request(&txn, mode == Mode::KeepAlive);
        let mut record = Record {
            txn,
            mode,
            status: 0,
            backend: None,
            attempts: 0,
            done: Instant::now(),
            errors: Vec::new(),
        };
        while record.attempts < MAX_ATTEMPTS {
            record.attempts += 1;
            match attempt(balancer.addr, conn.take(), &request).await {
                Ok((response, open)) => {
                    record.status = response.status;
                    record.backend = balancer.route_of(open.local_port);
                    if mode == Mode::KeepAlive && !response.close {
                        conn = Some(open);
                    }
                    break;
                }
                Err(broken) => {
                    record.errors.push(broken.error);
                    if broken.got_bytes || broken.timed_out {
                        break;
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
        record.done = Instant::now();
        records.push(record);
    }
    records
}

/// Sends `request` on `conn`, or on a new connection to `addr`.
async fn attempt(
    addr: SocketAddr,
    conn: Option<Conn>,
    request: &[u8],
) -> Result<(Head, Conn), Broken> {
    let mut conn = match conn {
        Some(open) => open,
        None => Conn::open(addr).await.map_err(Broken::before)?,
    };
    let head = conn.exchange(request).await?;
    Ok((head, conn))
}

/// A signed `PUT /send/{txn}` from the trusted remote to `hs.test`.
fn send_request(txn: &str, keep_alive: bool) -> Vec<u8> {
    let target = format!("/_matrix/federation/v1/send/{txn}");
    let auth = x_matrix(
        &remote_key(),
        REMOTE,
        HS,
        "PUT",
        &target,
        Some(BODY.as_bytes()),
    );
    let connection = if keep_alive { "keep-alive" } else { "close" };
    format!(
        "PUT {target} HTTP/1.1\r\nHost: {HS}\r\nConnection: {connection}\r\n\
         Authorization: {auth}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    )
    .into_bytes()
}

/// A response's status line and whether the server closes the connection.
struct Head {
    status: u16,
    close: bool,
}

/// Why an exchange failed.
struct Broken {
    got_bytes: bool,
    timed_out: bool,
    error: String,
}

impl Broken {
    fn before(error: std::io::Error) -> Broken {
        Broken {
            got_bytes: false,
            timed_out: false,
            error: error.to_string(),
        }
    }
}

/// A client connection to the balancer.
struct Conn {
    stream: TcpStream,
    local_port: u16,
}

impl Conn {
    async fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let local_port = stream.local_addr()?.port();
        Ok(Conn { stream, local_port })
    }

    /// Writes `request`, reads one complete response.
    async fn exchange(&mut self, request: &[u8]) -> Result<Head, Broken> {
        self.stream
            .write_all(request)
            .await
            .map_err(Broken::before)?;
        let mut buf = Vec::new();
        loop {
            if let Some(head) = complete_response(&buf) {
                return Ok(head);
            }
            let mut chunk = [0u8; 4096];
            let read = tokio::time::timeout(RESPONSE_TIMEOUT, self.stream.read(&mut chunk)).await;
            let (error, timed_out) = match read {
                Ok(Ok(n)) if n > 0 => {
                    buf.extend_from_slice(&chunk[..n]);
                    continue;
                }
                Ok(Ok(_)) => ("closed".to_owned(), false),
                Ok(Err(error)) => (error.to_string(), false),
                Err(_) => ("timed out".to_owned(), true),
            };
            return Err(Broken {
                got_bytes: !buf.is_empty(),
                timed_out,
                error: format!("{error} after {} response bytes", buf.len()),
            });
        }
    }
}

/// The head of the response in `buf` once its body is complete
/// (Content-Length or chunked).
fn complete_response(buf: &[u8]) -> Option<Head> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let header = |name: &str| {
        head.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let body = &buf[end..];
    let complete = match header("content-length") {
        Some(length) => body.len() >= length.parse::<usize>().ok()?,
        None if header("transfer-encoding") == Some("chunked") => {
            body.starts_with(b"0\r\n\r\n") || body.windows(7).any(|w| w == b"\r\n0\r\n\r\n")
        }
        None => return None,
    };
    complete.then_some(Head {
        status,
        close: header("connection") == Some("close"),
    })
}
