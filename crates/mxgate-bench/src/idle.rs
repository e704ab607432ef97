//! `idle`: open N TCP connections to a target and hold them, doing nothing
//! (or after a partial request line), to measure what idle connections cost
//! the target and when it closes them.
//!
//! Prints one JSON line on stdout when every connection attempt has
//! finished (`"event":"held"`, the cue for a script to sample the target's
//! memory) and one at the end (`"event":"done"`). Loopback use only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Connection attempts in flight at once (keeps the accept queue sane).
const CONNECTS_IN_FLIGHT: usize = 256;

/// `mxgate-bench idle` options.
#[derive(Args, Debug, Clone)]
pub struct IdleArgs {
    /// Target address, e.g. 127.0.0.1:18448.
    pub target: SocketAddr,
    /// Connections to open and hold.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Seconds to hold them after the last one is opened.
    #[arg(long, default_value_t = 30.0)]
    pub hold: f64,
    /// Send a partial request line (no line end) right after connecting.
    #[arg(long)]
    pub partial: bool,
}

/// What the connections saw.
#[derive(Debug, Default, Clone, Serialize)]
pub struct HoldReport {
    /// `held` when every connection attempt has finished, `done` at the end.
    pub event: &'static str,
    /// Connections asked for.
    pub connections: usize,
    /// Connections established.
    pub connected: usize,
    /// Connection attempts that failed.
    pub connect_failed: usize,
    /// Connections the target closed (EOF, reset) before the end.
    pub closed_by_peer: usize,
    /// Seconds from connecting to the first close by the target.
    pub first_close_s: Option<f64>,
    /// Median seconds from connecting to a close by the target.
    pub median_close_s: Option<f64>,
    /// Bytes the target sent (e.g. a 408 before closing).
    pub bytes_received: u64,
}

/// How one held connection ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ended {
    /// Could not connect.
    ConnectFailed,
    /// Still open at the deadline.
    Open { received: u64 },
    /// Closed by the target after this long.
    Closed { after: Duration, received: u64 },
}

/// Opens and holds the connections; prints the `held` and `done` lines and
/// returns the final report.
pub async fn run(args: &IdleArgs) -> HoldReport {
    let partial: &'static [u8] = if args.partial {
        b"PUT /_matrix/federation/v1/send/idle HTT"
    } else {
        b""
    };
    let hold = Duration::from_secs_f64(args.hold.max(0.0));
    let target = args.target;
    hold_all(args.connections, hold, move |mut link| async move {
        let Ok(mut stream) = TcpStream::connect(target).await else {
            return Ended::ConnectFailed;
        };
        link.connected();
        let opened = Instant::now();
        if !partial.is_empty() && stream.write_all(partial).await.is_err() {
            return Ended::Closed {
                after: opened.elapsed(),
                received: 0,
            };
        }
        watch_until(&mut stream, opened, &link.deadline).await
    })
    .await
}

/// Runs `one` for `count` connections, at most [`CONNECTS_IN_FLIGHT`]
/// connecting at once. When every one has connected (or failed), prints the
/// `held` line and sets the shared deadline `hold` from now; returns the
/// tally once every `one` has ended.
pub(crate) async fn hold_all<F, Fut>(count: usize, hold: Duration, one: F) -> HoldReport
where
    F: Fn(Link) -> Fut,
    Fut: Future<Output = Ended> + Send + 'static,
{
    let deadline = Arc::new(Deadline::default());
    let connecting = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
    let mut tasks = JoinSet::new();
    let mut waiting = Vec::with_capacity(count);
    for _ in 0..count {
        let Ok(permit) = connecting.clone().acquire_owned().await else {
            break;
        };
        let (up, is_up) = oneshot::channel::<()>();
        tasks.spawn(one(Link {
            deadline: deadline.clone(),
            connecting: Some((up, permit)),
        }));
        waiting.push(is_up);
    }
    for is_up in waiting {
        let _ = is_up.await;
    }
    deadline.set(Instant::now() + hold);
    let mut report = HoldReport {
        event: "held",
        connections: count,
        ..HoldReport::default()
    };
    println!("{}", serde_json::to_string(&report).unwrap_or_default());
    let mut closes = Vec::new();
    while let Some(ended) = tasks.join_next().await {
        tally(
            &mut report,
            &mut closes,
            ended.unwrap_or(Ended::ConnectFailed),
        );
    }
    finish(report, closes)
}

/// A connection task's link to [`hold_all`].
pub(crate) struct Link {
    /// When to let go.
    pub(crate) deadline: Arc<Deadline>,
    /// Dropped once connected (or when the task ends): frees a connect slot
    /// and tells `hold_all` this attempt is over.
    connecting: Option<(oneshot::Sender<()>, OwnedSemaphorePermit)>,
}

impl Link {
    /// The connection is up.
    pub(crate) fn connected(&mut self) {
        self.connecting = None;
    }
}

/// When the connections are let go: unset until every connection is up.
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    at: std::sync::OnceLock<Instant>,
    set: tokio::sync::Notify,
}

impl Deadline {
    fn set(&self, at: Instant) {
        let _ = self.at.set(at);
        self.set.notify_waiters();
    }

    /// Resolves at the deadline (waits for it to be set first).
    pub(crate) async fn reached(&self) {
        let notified = self.set.notified();
        let at = match self.at.get() {
            Some(at) => *at,
            None => {
                notified.await;
                self.at.get().copied().unwrap_or_else(Instant::now)
            }
        };
        tokio::time::sleep_until(at).await;
    }
}

/// Reads (and counts) whatever the target sends until it closes or the
/// deadline passes.
pub(crate) async fn watch_until(
    stream: &mut (impl AsyncRead + Unpin),
    opened: Instant,
    deadline: &Deadline,
) -> Ended {
    let mut buf = [0u8; 1024];
    let mut received = 0u64;
    let reached = deadline.reached();
    let mut reached = std::pin::pin!(reached);
    loop {
        tokio::select! {
            () = &mut reached => return Ended::Open { received },
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Ended::Closed { after: opened.elapsed(), received },
                Ok(n) => received += n as u64,
            },
        }
    }
}

fn tally(report: &mut HoldReport, closes: &mut Vec<f64>, ended: Ended) {
    match ended {
        Ended::ConnectFailed => report.connect_failed += 1,
        Ended::Open { received } => {
            report.connected += 1;
            report.bytes_received += received;
        }
        Ended::Closed { after, received } => {
            report.connected += 1;
            report.closed_by_peer += 1;
            report.bytes_received += received;
            closes.push(after.as_secs_f64());
        }
    }
}

fn finish(mut report: HoldReport, mut closes: Vec<f64>) -> HoldReport {
    closes.sort_by(f64::total_cmp);
    report.event = "done";
    report.first_close_s = closes.first().copied();
    report.median_close_s = closes.get(closes.len() / 2).copied();
    report
}
