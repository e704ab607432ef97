//! Driving a target: N keep-alive connections (HTTP/1.1, or HTTP/2 with
//! prior knowledge), closed-loop as fast as the target answers or paced at a
//! fixed total rate.
//!
//! Only requests sent and answered inside the measured window (after the
//! warm-up) are recorded. With a fixed rate, a request's latency counts from
//! the moment it could first have been sent — its scheduled time, or the end
//! of the previous request on the same worker if that was later — so a slow
//! target is charged for the queueing it causes (no coordinated omission),
//! while timer slack of the generator itself is not.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::{http1, http2};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::requests::Pool;

/// How to drive the target.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The target's address (plain HTTP).
    pub target: SocketAddr,
    /// Connections to open.
    pub connections: usize,
    /// Concurrent requests per connection (HTTP/2 streams; 1 for HTTP/1.1).
    pub streams: usize,
    /// Use HTTP/2 with prior knowledge instead of HTTP/1.1.
    pub http2: bool,
    /// Not measured, before the window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Total requests per second, or `None` for closed-loop (as fast as possible).
    pub rate: Option<f64>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// What happened in the measured window.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Latency of each response (any status), in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// Count of responses by status code (2xx included).
    pub statuses: BTreeMap<u16, u64>,
    /// Count of failures without a response, by kind.
    pub failures: BTreeMap<&'static str, u64>,
    /// The measured window's actual length.
    pub window: Duration,
}

impl Outcome {
    /// Responses that were not 2xx, plus failures without a response.
    pub fn errors(&self) -> u64 {
        let bad: u64 = self
            .statuses
            .iter()
            .filter(|(status, _)| !(200..300).contains(*status))
            .map(|(_, n)| n)
            .sum();
        bad + self.failures.values().sum::<u64>()
    }

    /// Responses with a 2xx status.
    pub fn ok(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(status, _)| (200..300).contains(*status))
            .map(|(_, n)| n)
            .sum()
    }

    /// Every request answered or failed in the window.
    pub fn total(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.failures.values().sum::<u64>()
    }
}

/// Runs the load; `at_window` is called when the measured window starts and
/// ends (for CPU snapshots of the target).
pub async fn run(spec: &LoadSpec, pool: Arc<Pool>, mut at_window: impl FnMut()) -> Outcome {
    let workers = spec.connections * spec.streams.max(1);
    let start = Instant::now() + Duration::from_millis(100);
    let window = Window {
        from: start + spec.warmup,
        to: start + spec.warmup + spec.duration,
    };
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(workers);
    let host = HeaderValue::from_str(pool.destination.as_str())
        .unwrap_or_else(|_| HeaderValue::from_static("localhost"));
    let streams = spec.streams.max(1);
    for connection in 0..spec.connections {
        let first = Sender::connect(spec).await;
        let mut senders: Vec<Sender> = (1..streams).map(|_| first.share()).collect();
        senders.push(first);
        for (stream, sender) in senders.into_iter().enumerate() {
            let index = connection * streams + stream;
            let worker = Worker {
                spec: spec.clone(),
                pool: pool.clone(),
                host: host.clone(),
                next: next.clone(),
                window,
                pace: spec.rate.map(|rate| Pace::new(rate, workers, index, start)),
            };
            tasks.push(tokio::spawn(worker.run(sender)));
        }
    }
    tokio::time::sleep_until(window.from).await;
    let from = Instant::now();
    at_window();
    tokio::time::sleep_until(window.to).await;
    let to = Instant::now();
    at_window();
    let mut outcome = Outcome {
        window: to - from,
        ..Outcome::default()
    };
    for task in tasks {
        if let Ok(part) = task.await {
            merge(&mut outcome, part);
        } else {
            *outcome.failures.entry("worker_panicked").or_default() += 1;
        }
    }
    outcome
}

/// The measured window.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: Instant,
    to: Instant,
}

/// Fixed-rate schedule of one worker.
#[derive(Debug, Clone, Copy)]
struct Pace {
    first: Instant,
    interval: Duration,
}

impl Pace {
    fn new(rate: f64, workers: usize, index: usize, start: Instant) -> Self {
        let interval = Duration::from_secs_f64(workers as f64 / rate.max(1e-3));
        let offset = interval.mul_f64(index as f64 / workers as f64);
        Self {
            first: start + offset,
            interval,
        }
    }

    fn scheduled(&self, k: u32) -> Instant {
        self.first + self.interval * k
    }
}

/// A connection's request sender; reconnects after a failure.
enum Sender {
    /// HTTP/1.1: one worker per connection.
    H1(http1::SendRequest<Full<Bytes>>),
    /// HTTP/2: the connection is shared by `streams` workers.
    H2(http2::SendRequest<Full<Bytes>>),
    /// Connecting failed; every request counts as a `connect` failure.
    Failed,
}

impl Sender {
    async fn connect(spec: &LoadSpec) -> Self {
        let Ok(stream) = TcpStream::connect(spec.target).await else {
            return Sender::Failed;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        if spec.http2 {
            match http2::handshake(TokioExecutor::new(), io).await {
                Ok((sender, conn)) => {
                    tokio::spawn(conn);
                    Sender::H2(sender)
                }
                Err(_) => Sender::Failed,
            }
        } else {
            match http1::handshake(io).await {
                Ok((sender, conn)) => {
                    tokio::spawn(conn);
                    Sender::H1(sender)
                }
                Err(_) => Sender::Failed,
            }
        }
    }

    /// Another handle on the same connection (HTTP/2 only; an HTTP/1.1
    /// connection has one worker, so this is never asked of it).
    fn share(&self) -> Self {
        match self {
            Sender::H2(h2) => Sender::H2(h2.clone()),
            Sender::H1(_) | Sender::Failed => Sender::Failed,
        }
    }
}

/// One request loop (one HTTP/1.1 connection or one HTTP/2 stream slot).
struct Worker {
    spec: LoadSpec,
    pool: Arc<Pool>,
    host: HeaderValue,
    next: Arc<AtomicUsize>,
    window: Window,
    pace: Option<Pace>,
}

/// A worker's records.
#[derive(Default)]
struct Part {
    latencies_ns: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    failures: BTreeMap<&'static str, u64>,
}

impl Worker {
    async fn run(self, mut sender: Sender) -> Part {
        let mut part = Part::default();
        let mut previous_done = Instant::now();
        let mut k = 0_u32;
        loop {
            let ready_at = match &self.pace {
                Some(pace) => {
                    let scheduled = pace.scheduled(k);
                    k += 1;
                    tokio::time::sleep_until(scheduled).await;
                    scheduled.max(previous_done)
                }
                None => Instant::now(),
            };
            if ready_at >= self.window.to {
                return part;
            }
            let result = self.send_one(&mut sender).await;
            let done = Instant::now();
            previous_done = done;
            if ready_at < self.window.from || done > self.window.to {
                continue;
            }
            match result {
                Ok(status) => {
                    *part.statuses.entry(status).or_default() += 1;
                    part.latencies_ns.push((done - ready_at).as_nanos() as u64);
                }
                Err(kind) => *part.failures.entry(kind).or_default() += 1,
            }
        }
    }

    /// Sends the next pooled request; the response status, or a failure kind.
    async fn send_one(&self, sender: &mut Sender) -> Result<u16, &'static str> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.pool.requests.len();
        let signed = &self.pool.requests[index];
        let mut request = Request::new(Full::new(signed.body.clone()));
        *request.method_mut() = Method::PUT;
        *request.uri_mut() = signed.uri.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(AUTHORIZATION, signed.authorization.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let exchange = async {
            let response = match sender {
                Sender::H2(h2) => h2.send_request(request).await.map_err(|_| "send")?,
                Sender::H1(h1) => {
                    h1.ready().await.map_err(|_| "connection_closed")?;
                    h1.send_request(request).await.map_err(|_| "send")?
                }
                Sender::Failed => return Err("connect"),
            };
            let status = response.status().as_u16();
            response
                .into_body()
                .collect()
                .await
                .map_err(|_| "response_body")?;
            Ok(status)
        };
        let result = match tokio::time::timeout(self.spec.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err("timeout"),
        };
        if result.is_err() {
            *sender = Sender::connect(&self.spec).await;
        }
        result
    }
}

fn merge(outcome: &mut Outcome, part: Part) {
    outcome.latencies_ns.extend(part.latencies_ns);
    for (status, n) in part.statuses {
        *outcome.statuses.entry(status).or_default() += n;
    }
    for (kind, n) in part.failures {
        *outcome.failures.entry(kind).or_default() += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_spreads_workers_over_one_interval() {
        let start = Instant::now();
        let pace = Pace::new(1000.0, 4, 2, start);
        assert_eq!(pace.interval, Duration::from_millis(4));
        assert_eq!(pace.scheduled(0) - start, Duration::from_millis(2));
        assert_eq!(pace.scheduled(3) - start, Duration::from_millis(14));
    }

    #[test]
    fn errors_count_non_2xx_and_failures() {
        let mut outcome = Outcome::default();
        outcome.statuses.insert(200, 10);
        outcome.statuses.insert(204, 1);
        outcome.statuses.insert(401, 2);
        outcome.failures.insert("timeout", 3);
        assert_eq!(outcome.errors(), 5);
        assert_eq!(outcome.ok(), 11);
        assert_eq!(outcome.total(), 16);
    }
}
