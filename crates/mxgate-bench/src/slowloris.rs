//! `slowloris`: N connections that each send a request line and then
//! trickle header bytes, one byte every few seconds, never finishing the
//! header section. Run it next to `mxgate-bench run` to see whether real
//! requests are starved, and read from its report how long the target let
//! each connection live (its header read timeout).
//!
//! Same output as `idle`: a `held` JSON line once connected, a `done` line
//! at the end. Loopback use only.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::idle::{Ended, HoldReport, hold_all, watch_until};

/// The bytes trickled after the request line, over and over.
const TRICKLE: &[u8] = b"X-Slow-Header: aaaaaaaaaaaaaaaaaaaa\r\n";

/// `mxgate-bench slowloris` options.
#[derive(Args, Debug, Clone)]
pub struct SlowlorisArgs {
    /// Target address, e.g. 127.0.0.1:18448.
    pub target: SocketAddr,
    /// Connections.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Seconds between two header bytes on one connection.
    #[arg(long, default_value_t = 3.0)]
    pub interval: f64,
    /// Seconds to keep trickling after the last connection is opened.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// The Host header.
    #[arg(long, default_value = "hs.bench.example")]
    pub host: String,
}

/// Runs the slow connections; prints the `held` and `done` lines and
/// returns the final report.
pub async fn run(args: &SlowlorisArgs) -> HoldReport {
    let target = args.target;
    let interval = Duration::from_secs_f64(args.interval.max(0.01));
    let hold = Duration::from_secs_f64(args.duration.max(0.0));
    let start = format!(
        "PUT /_matrix/federation/v1/send/slowloris HTTP/1.1\r\nHost: {}\r\n",
        args.host
    );
    hold_all(args.connections, hold, move |mut link| {
        let start = start.clone();
        async move {
            let Ok(mut stream) = TcpStream::connect(target).await else {
                return Ended::ConnectFailed;
            };
            link.connected();
            let opened = Instant::now();
            if stream.write_all(start.as_bytes()).await.is_err() {
                return closed(opened);
            }
            let (mut read, mut write) = stream.into_split();
            let trickle = async move {
                for byte in TRICKLE.iter().cycle() {
                    tokio::time::sleep(interval).await;
                    if write.write_all(&[*byte]).await.is_err() {
                        return;
                    }
                }
            };
            let watch = watch_until(&mut read, opened, &link.deadline);
            tokio::select! {
                ended = watch => ended,
                () = trickle => closed(opened),
            }
        }
    })
    .await
}

fn closed(opened: Instant) -> Ended {
    Ended::Closed {
        after: opened.elapsed(),
        received: 0,
    }
}
