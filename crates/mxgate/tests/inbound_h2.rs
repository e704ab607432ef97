//! HTTP/2 abuse against a real gateway on 127.0.0.1:0 (h2c, prior
//! knowledge): rapid reset (CVE-2023-44487) and more concurrent streams than
//! the advertised `SETTINGS_MAX_CONCURRENT_STREAMS`. Each test also shows
//! that a fresh connection is still served.
//!
//! The rapid-reset client is the `h2` crate. The stream-limit test writes
//! raw frames, because a conforming client (h2, hyper) never opens more
//! streams than the server allows: it queues them instead.

mod common;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    time::{Duration, Instant},
};

use bytes::Bytes;
use common::*;
use h2::Reason;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A signed, forwardable GET.
const TARGET: &str = "/_matrix/federation/v1/state/%21r%3Ahs.test";
/// HEADERS + RST_STREAM pairs the attacker tries to send.
const RESET_PAIRS: usize = 10_000;
/// HEADERS + RST_STREAM pairs written per burst.
const BURST: usize = 200;
/// Streams opened beyond the advertised limit.
const EXCESS: u32 = 16;
/// Accepted requests the client cancels (more than the gateway allows).
const CANCELLED: usize = 100;

#[tokio::test]
async fn rapid_reset_is_cut_off_with_goaway_and_others_are_still_served() {
    let hs = FakeHs::start(Duration::ZERO).await;
    let other = FakeHs::start(Duration::ZERO).await;
    let gw = start_gateway(&Setup::new(hs.addr, other.addr)).await;

    let started = Instant::now();
    let attack = tokio::time::timeout(Duration::from_secs(20), rapid_reset(gw.addr));
    let attack = attack.await.expect("the attack ends within 20 s");
    let elapsed = started.elapsed();

    assert!(
        attack.sent < RESET_PAIRS,
        "the gateway accepted all {RESET_PAIRS} reset streams: {attack:?}"
    );
    let error = attack.error.as_ref().expect("the connection was closed");
    // The gateway's GOAWAY(ENHANCE_YOUR_CALM); or, when the client's later
    // frames were still unread as the gateway closed the socket, the reset
    // that the client's kernel reports before the GOAWAY frame is read.
    let go_away = error.is_go_away()
        && error.is_remote()
        && error.reason() == Some(Reason::ENHANCE_YOUR_CALM);
    let reset = error.get_io().is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        )
    });
    assert!(go_away || reset, "{error:?}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    // hyper cancels a reset stream's handler; a handful may have reached
    // the upstream before their RST_STREAM was read, never most of them.
    let forwarded = hs.seen().len();
    assert!(
        forwarded <= 100,
        "{forwarded} of {} reset requests reached the upstream",
        attack.sent
    );

    hs.clear();
    assert_eq!(h2_get(gw.addr).await, 200);
    assert_eq!(hs.seen().len(), 1);
    assert!(other.seen().is_empty());
}

#[tokio::test]
async fn a_client_cancelling_most_accepted_requests_is_disconnected() {
    // The upstream holds every request, so each reset lands on a request
    // the gateway accepted and is handling (hyper's pending-accept limit
    // never sees it): the gateway's own cancellation budget must.
    let hs = FakeHs::start(Duration::from_secs(30)).await;
    let other = FakeHs::start(Duration::ZERO).await;
    let gw = start_gateway(&Setup::new(hs.addr, other.addr)).await;
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let auth = x_matrix(&remote_key(), REMOTE, HS, "GET", TARGET, None);
    let mut streams = Vec::new();
    for _ in 0..CANCELLED {
        let request = hyper::Request::get(format!("http://{HS}{TARGET}"))
            .header("authorization", auth.as_str())
            .body(())
            .unwrap();
        let (_response, stream) = client.send_request(request, true).unwrap();
        streams.push(stream);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while hs.seen().len() < CANCELLED && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        hs.seen().len(),
        CANCELLED,
        "all requests reached the upstream"
    );
    for stream in &mut streams {
        stream.send_reset(Reason::CANCEL);
    }
    // The client still holds the connection: its driver ends only when the
    // gateway closes it.
    let ended = tokio::time::timeout(Duration::from_secs(10), driver).await;
    assert!(
        ended.is_ok(),
        "the gateway closed the connection within 10 s"
    );
    drop(client);
    let metrics = gw.gateway.metrics().encode();
    assert!(
        metrics
            .contains("mxgate_connections_closed_total{reason=\"too_many_cancelled_requests\"} 1"),
        "{metrics}"
    );
    // Others are still served.
    let before = other.seen().len();
    assert_eq!(h2_get_other(gw.addr).await, 200);
    assert_eq!(other.seen().len(), before + 1);
}

#[tokio::test]
async fn streams_beyond_the_advertised_limit_are_refused() {
    let hs = FakeHs::start(Duration::ZERO).await;
    let other = FakeHs::start(Duration::ZERO).await;
    let gw = start_gateway(&Setup::new(hs.addr, other.addr)).await;

    let mut conn = RawH2::connect(gw.addr).await;
    let limit = conn.handshake().await;
    assert!(
        (1..=1024).contains(&limit),
        "advertised SETTINGS_MAX_CONCURRENT_STREAMS = {limit}"
    );
    // Each stream is a signed PUT /send whose body never comes, so the
    // first `limit` stay open (until the request timeout) while the excess
    // ones arrive.
    let ids: Vec<u32> = (0..limit + EXCESS).map(|n| 2 * n + 1).collect();
    conn.open_streams(&ids).await;

    // Meanwhile a legitimate client on another connection is served.
    assert_eq!(h2_get(gw.addr).await, 200);
    let outcomes = conn.outcomes(&ids, Duration::from_secs(15)).await;

    let refused: Vec<u32> = ids
        .iter()
        .copied()
        .filter(|id| outcomes[id] == Outcome::Reset(REFUSED_STREAM))
        .collect();
    assert_eq!(refused, ids[limit as usize..], "{outcomes:?}");
    // The accepted ones were answered (the gateway's timeout for a body
    // that never comes), not reset.
    let answered = ids[..limit as usize]
        .iter()
        .filter(|id| outcomes[*id] == Outcome::Response)
        .count();
    assert_eq!(answered, limit as usize, "{outcomes:?}");
    assert_eq!(hs.seen().len(), 1, "only the legitimate request");
}

/// How far a rapid-reset attack got.
#[derive(Debug)]
struct Attack {
    /// HEADERS + RST_STREAM pairs sent before the connection failed.
    sent: usize,
    /// Why the connection ended, if it did.
    error: Option<h2::Error>,
}

/// Opens one h2 connection and sends up to [`RESET_PAIRS`] signed GETs,
/// each cancelled with RST_STREAM(CANCEL) right after its HEADERS, in
/// bursts of [`BURST`] pairs (the connection task writes a burst at once).
async fn rapid_reset(addr: SocketAddr) -> Attack {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, mut connection) = h2::client::handshake(tcp).await.unwrap();
    let mut ping_pong = connection.ping_pong().expect("ping_pong handle");
    let driver = tokio::spawn(connection);
    let auth = x_matrix(&remote_key(), REMOTE, HS, "GET", TARGET, None);
    let mut client = client.ready().await.unwrap();
    let mut sent = 0;
    let mut error = None;
    'attack: while sent < RESET_PAIRS {
        for _ in 0..BURST {
            let request = hyper::Request::get(format!("http://{HS}{TARGET}"))
                .header("authorization", auth.as_str())
                .body(())
                .unwrap();
            match client.send_request(request, true) {
                Ok((_response, mut stream)) => stream.send_reset(Reason::CANCEL),
                Err(e) => {
                    error = Some(e);
                    break 'attack;
                }
            }
            sent += 1;
        }
        // A PING answered means the gateway read every frame before it, so
        // the next burst only goes out once this one was processed (else the
        // client could queue all pairs before the GOAWAY arrives).
        if let Err(e) = ping_pong.ping(h2::Ping::opaque()).await {
            error = Some(e);
            break;
        }
    }
    drop(client);
    // The connection task reports the GOAWAY's reason, if any.
    let ended = tokio::time::timeout(Duration::from_secs(10), driver).await;
    if let Ok(Ok(Err(e))) = ended
        && (e.is_go_away() || error.as_ref().is_none_or(|e| !e.is_go_away()))
    {
        error = Some(e);
    }
    Attack { sent, error }
}

/// One signed GET to [`HS`] over a fresh HTTP/2 connection; its status.
async fn h2_get(addr: SocketAddr) -> u16 {
    h2_get_to(addr, HS).await
}

/// One signed GET to [`OTHER_HS`] over a fresh HTTP/2 connection; its status.
async fn h2_get_other(addr: SocketAddr) -> u16 {
    h2_get_to(addr, OTHER_HS).await
}

/// One signed GET to `destination` over a fresh HTTP/2 connection (hyper
/// client); its status.
async fn h2_get_to(addr: SocketAddr, destination: &str) -> u16 {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let auth = x_matrix(&remote_key(), REMOTE, destination, "GET", TARGET, None);
    let request = hyper::Request::get(format!("http://{destination}{TARGET}"))
        .header("authorization", auth)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}

// --- raw HTTP/2 frames ------------------------------------------------------

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
const REFUSED_STREAM: u32 = 0x7;

/// The end of one stream as seen by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Response HEADERS (any status).
    Response,
    /// RST_STREAM with this error code.
    Reset(u32),
    /// Nothing before the deadline or the connection's end.
    Nothing,
}

/// One frame read off the wire.
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

/// A hand-driven HTTP/2 client connection.
struct RawH2 {
    tcp: TcpStream,
}

impl RawH2 {
    async fn connect(addr: SocketAddr) -> RawH2 {
        RawH2 {
            tcp: TcpStream::connect(addr).await.unwrap(),
        }
    }

    /// Preface + empty SETTINGS; reads the server's SETTINGS, acks them and
    /// returns its SETTINGS_MAX_CONCURRENT_STREAMS.
    async fn handshake(&mut self) -> u32 {
        let mut out = PREFACE.to_vec();
        frame(&mut out, SETTINGS, 0, 0, &[]);
        self.tcp.write_all(&out).await.unwrap();
        loop {
            let f = self.read_frame().await.expect("server SETTINGS");
            if f.kind != SETTINGS || f.flags & ACK != 0 {
                continue;
            }
            let limit = f
                .payload
                .chunks_exact(6)
                .find(|s| u16::from_be_bytes([s[0], s[1]]) == SETTINGS_MAX_CONCURRENT_STREAMS)
                .map(|s| u32::from_be_bytes([s[2], s[3], s[4], s[5]]))
                .expect("the gateway advertises SETTINGS_MAX_CONCURRENT_STREAMS");
            let mut ack = Vec::new();
            frame(&mut ack, SETTINGS, ACK, 0, &[]);
            self.tcp.write_all(&ack).await.unwrap();
            return limit;
        }
    }

    /// Writes one HEADERS frame per stream id, all in one write: a signed
    /// `PUT /send` announcing a body it never sends (no END_STREAM).
    async fn open_streams(&mut self, ids: &[u32]) {
        let target = "/_matrix/federation/v1/send/held";
        let body = br#"{"origin":"remote.test","origin_server_ts":1,"pdus":[]}"#;
        let auth = x_matrix(&remote_key(), REMOTE, HS, "PUT", target, Some(body));
        let mut block = vec![0x86]; // :scheme http
        literal(&mut block, 2, "PUT"); // :method
        literal(&mut block, 4, target); // :path
        literal(&mut block, 1, HS); // :authority
        literal(&mut block, 23, &auth); // authorization
        literal(&mut block, 28, &body.len().to_string()); // content-length
        let mut out = Vec::new();
        for id in ids {
            frame(&mut out, HEADERS, END_HEADERS, *id, &block);
        }
        self.tcp.write_all(&out).await.unwrap();
    }

    /// Reads frames until every stream in `ids` has an outcome, the
    /// connection ends, or `limit` passes.
    async fn outcomes(&mut self, ids: &[u32], limit: Duration) -> BTreeMap<u32, Outcome> {
        let mut outcomes: BTreeMap<u32, Outcome> =
            ids.iter().map(|id| (*id, Outcome::Nothing)).collect();
        let deadline = tokio::time::Instant::now() + limit;
        let mut pending = ids.len();
        while pending > 0 {
            let read = tokio::time::timeout_at(deadline, self.read_frame());
            let Ok(Some(f)) = read.await else { break };
            let outcome = match f.kind {
                HEADERS => Outcome::Response,
                RST_STREAM if f.payload.len() == 4 => {
                    Outcome::Reset(u32::from_be_bytes(f.payload[..4].try_into().unwrap()))
                }
                GOAWAY => break,
                _ => continue,
            };
            // The first outcome counts: an early response to a request whose
            // body never came is followed by RST_STREAM(NO_ERROR).
            if let Some(slot) = outcomes.get_mut(&f.stream)
                && *slot == Outcome::Nothing
            {
                *slot = outcome;
                pending -= 1;
            }
        }
        outcomes
    }

    async fn read_frame(&mut self) -> Option<Frame> {
        let mut head = [0u8; 9];
        self.tcp.read_exact(&mut head).await.ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        self.tcp.read_exact(&mut payload).await.ok()?;
        Some(Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload,
        })
    }
}

/// Appends one frame.
fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap();
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// HPACK "literal header field without indexing" with a static-table name
/// (RFC 7541 §6.2.2) and a plain (non-Huffman) value.
fn literal(out: &mut Vec<u8>, name_index: usize, value: &str) {
    integer(out, 0x00, 4, name_index);
    integer(out, 0x00, 7, value.len());
    out.extend_from_slice(value.as_bytes());
}

/// HPACK integer with an N-bit prefix (RFC 7541 §5.1).
fn integer(out: &mut Vec<u8>, high_bits: u8, prefix: u32, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(high_bits | value as u8);
        return;
    }
    out.push(high_bits | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}
