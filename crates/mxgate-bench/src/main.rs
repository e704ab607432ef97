//! `mxgate-bench`: a load generator for mxgate and a fake upstream homeserver.
//!
//! # Layout
//! - `main.rs`: the command line (`run`, `sign`, `upstream`, `print-key`,
//!   `verify-cost`) and the wiring of each command.
//! - [`requests`]: test origins with fixed-seed keys; pre-signed `/send`
//!   requests (realistic PDUs, distinct transaction ids) and pool files.
//! - [`load`]: N keep-alive connections (HTTP/1.1 or HTTP/2), closed-loop or
//!   at a fixed rate, recording latencies and statuses in a measured window.
//! - [`report`]: percentiles, the target's CPU µs per request from
//!   `/proc/PID/stat`, the table and the JSON line.
//! - [`upstream`]: the fake homeserver (200 `{"pdus":{}}` to `/send`).
//! - [`idle`], [`slowloris`]: connections held open idle, or trickling
//!   header bytes, for the reliability soak (`bench/soak.sh`).
//! - [`tools`]: printing the origins' keys as config; bare verify cost.
//!
//! See `bench/README.md` for how the pieces are used by `bench/compare.sh`.

#![forbid(unsafe_code)]

mod idle;
mod load;
mod report;
mod requests;
mod slowloris;
mod tools;
mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use hyper::Uri;
use mxgate_core::ids::ServerName;

use crate::load::LoadSpec;
use crate::report::{CpuWindow, Report, RunInfo};
use crate::requests::{Origin, Pool, PoolSpec};

/// Load generator and fake upstream homeserver for benchmarking mxgate.
#[derive(Parser, Debug)]
#[command(name = "mxgate-bench", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  mxgate-bench upstream --listen 127.0.0.1:18008
  mxgate-bench print-key --toml external >> bench.toml
  mxgate-bench sign --pdus 10 --count 50000 --out /tmp/p10.pool
  mxgate-bench run --target http://127.0.0.1:18448 --requests /tmp/p10.pool \\
      --connections 32 --duration 5 --target-pid $(pgrep -n mxgate)
  mxgate-bench run --target http://127.0.0.1:18448 --rate 2000 --json
  mxgate-bench idle 127.0.0.1:18448 --connections 10000 --hold 20
  mxgate-bench slowloris 127.0.0.1:18448 --connections 1000 --duration 60";

#[derive(Subcommand, Debug)]
enum Command {
    /// Drive a target with signed `PUT /send` requests and report the figures.
    Run(Box<RunArgs>),
    /// Sign a pool of requests and write it to a file (for many runs).
    Sign {
        #[command(flatten)]
        pool: PoolArgs,
        /// The pool file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve as a fake upstream homeserver.
    Upstream {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:18008")]
        listen: SocketAddr,
        /// The server name of its key document.
        #[arg(long, default_value = "hs.bench.example")]
        server_name: ServerName,
        /// Runtime worker threads (1 = a single-threaded runtime).
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Print the origins' public keys (base64), or `[[remote]]` blocks with `--toml TIER`.
    PrintKey {
        /// How many origins (`o0.bench.example`, ...).
        #[arg(long, default_value_t = 1)]
        origins: u8,
        /// Print mxgate `[[remote]]` blocks with this tier.
        #[arg(long, value_name = "TIER")]
        toml: Option<String>,
    },
    /// Open N connections and hold them idle (memory per idle connection).
    Idle(idle::IdleArgs),
    /// N connections trickling header bytes (slowloris), reporting closes.
    Slowloris(slowloris::SlowlorisArgs),
    /// Time one bare ed25519-dalek `verify_strict` (900-byte message), and
    /// with `--batch N` mxgate's batch check per signature.
    VerifyCost {
        /// Print one JSON line.
        #[arg(long)]
        json: bool,
        /// Length of the signed message (900: about a 1-PDU request's
        /// signed bytes; a 10-PDU request signs about 7 500).
        #[arg(long, default_value_t = 900)]
        bytes: usize,
        /// Also time mxgate's batch check (`xmatrix::verify_batch`) over
        /// batches of this many signatures, per signature.
        #[arg(long)]
        batch: Option<usize>,
        /// Distinct signing keys in each batch, used in turn (1: every
        /// request from one server; the batch adds up one key's terms).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
        keys: u8,
    },
}

/// What requests to sign.
#[derive(Args, Debug, Clone)]
struct PoolArgs {
    /// PDUs per transaction (1..=50).
    #[arg(long, default_value_t = 1)]
    pdus: usize,
    /// Extra bytes of message text per PDU.
    #[arg(long, default_value_t = 0)]
    pad_bytes: usize,
    /// Number of sending servers (`o0.bench.example`, ...), used in turn.
    #[arg(long, default_value_t = 1)]
    origins: u8,
    /// The receiving server (X-Matrix destination, Host header).
    #[arg(long, default_value = "hs.bench.example")]
    destination: ServerName,
    /// Requests to sign (distinct transaction ids; reused in turn when exhausted).
    #[arg(long, default_value_t = 20_000)]
    count: usize,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Target base URL (plain HTTP), e.g. http://127.0.0.1:18448.
    #[arg(long)]
    target: Uri,
    /// Load a pool written by `sign` instead of signing one now.
    #[arg(long, value_name = "FILE")]
    requests: Option<PathBuf>,
    #[command(flatten)]
    pool: PoolArgs,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Concurrent streams per connection with --http2.
    #[arg(long, default_value_t = 1)]
    streams: usize,
    /// Use HTTP/2 with prior knowledge.
    #[arg(long)]
    http2: bool,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Unmeasured seconds before the window.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Total requests per second (default: closed loop, as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// The target's PID(s), comma-separated (CPU time and RSS are summed).
    #[arg(long, value_delimiter = ',')]
    target_pid: Vec<String>,
    /// Generator runtime threads (1 = a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Report even if some responses were not 2xx (a rejection test).
    #[arg(long)]
    expect_rejections: bool,
    /// Print one JSON line on stdout (the table goes to stderr).
    #[arg(long)]
    json: bool,
    /// A label copied into the report.
    #[arg(long, default_value = "")]
    label: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(*args),
        Command::Sign { pool, out } => sign(&pool, &out),
        Command::Upstream {
            listen,
            server_name,
            threads,
        } => match runtime(threads).map(|rt| rt.block_on(upstream::serve(listen, &server_name))) {
            Ok(Ok(())) => ExitCode::SUCCESS,
            Ok(Err(error)) | Err(error) => fail(&format!("upstream: {error}")),
        },
        Command::PrintKey { origins, toml } => match tools::print_keys(origins, toml.as_deref()) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error.to_string()),
        },
        Command::VerifyCost {
            json,
            bytes,
            batch,
            keys,
        } => verify_cost(json, bytes, batch, keys),
        Command::Idle(args) => hold(idle::run(&args)),
        Command::Slowloris(args) => hold(slowloris::run(&args)),
    }
}

fn run(args: RunArgs) -> ExitCode {
    let Some(target) = target_addr(&args.target) else {
        return fail("--target must be http://IP:PORT");
    };
    let pool = match &args.requests {
        Some(path) => Pool::load(path),
        None => pool_spec(&args.pool).and_then(|spec| Pool::sign(&spec)),
    };
    let pool = match pool {
        Ok(pool) => Arc::new(pool),
        Err(error) => return fail(&format!("{} ({})", error, error.reason())),
    };
    let spec = LoadSpec {
        target,
        connections: args.connections.max(1),
        streams: if args.http2 { args.streams.max(1) } else { 1 },
        http2: args.http2,
        warmup: Duration::from_secs_f64(args.warmup.max(0.0)),
        duration: Duration::from_secs_f64(args.duration.max(0.1)),
        rate: args.rate.filter(|r| *r > 0.0),
        timeout: Duration::from_secs_f64(args.timeout.max(0.001)),
    };
    let rt = match runtime(args.threads) {
        Ok(rt) => rt,
        Err(error) => return fail(&format!("runtime: {error}")),
    };
    let me = vec![std::process::id().to_string()];
    let mut cpu = CpuWindow::default();
    let outcome = rt.block_on(load::run(&spec, pool.clone(), || {
        cpu.target.push(report::cpu_ticks(&args.target_pid));
        cpu.generator.push(report::cpu_ticks(&me));
    }));
    let info = RunInfo {
        label: args.label.clone(),
        target: args.target.to_string(),
        http2: args.http2,
        pdus: pool_pdus(&pool),
        body_bytes: pool.mean_body_bytes(),
        connections: spec.connections,
        rate: spec.rate,
        target_rss_kib: report::rss_kib(&args.target_pid),
        clk_tck: report::clk_tck(),
    };
    let report = Report::new(info, outcome, &cpu);
    publish(&report, &args)
}

/// Prints the report, or refuses to when some responses were not 2xx.
fn publish(report: &Report, args: &RunArgs) -> ExitCode {
    if report.errors > 0 && !args.expect_rejections {
        eprint!("{}", report.table());
        return fail(&format!(
            "{} of {} requests were not answered 2xx (statuses {:?}, failures {:?}); \
             not reporting this run (pass --expect-rejections for a rejection test)",
            report.errors, report.requests, report.statuses, report.failures
        ));
    }
    if report.ok == 0 && !args.expect_rejections {
        eprint!("{}", report.table());
        return fail("no request completed in the measured window");
    }
    if args.json {
        eprint!("{}", report.table());
        match serde_json::to_string(report) {
            Ok(line) => println!("{line}"),
            Err(error) => return fail(&format!("json: {error}")),
        }
    } else {
        print!("{}", report.table());
    }
    ExitCode::SUCCESS
}

/// Runs `idle` or `slowloris` and prints its final JSON line.
fn hold(task: impl Future<Output = idle::HoldReport>) -> ExitCode {
    match runtime(1) {
        Ok(rt) => {
            let report = rt.block_on(task);
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(error) => fail(&format!("runtime: {error}")),
    }
}

fn sign(args: &PoolArgs, out: &std::path::Path) -> ExitCode {
    let result = pool_spec(args)
        .and_then(|spec| Pool::sign(&spec))
        .and_then(|pool| pool.save(out).map(|()| pool));
    match result {
        Ok(pool) => {
            eprintln!(
                "mxgate-bench: wrote {} requests ({} PDUs, mean body {} B) to {}",
                pool.requests.len(),
                args.pdus,
                pool.mean_body_bytes(),
                out.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(&format!("{} ({})", error, error.reason())),
    }
}

fn verify_cost(json: bool, bytes: usize, batch: Option<usize>, keys: u8) -> ExitCode {
    let alone = match tools::verify_cost(bytes, 15, Duration::from_millis(60)) {
        Ok(cost) => cost,
        Err(error) => return fail(&error.to_string()),
    };
    let batched = match batch {
        Some(n) => match tools::batch_verify_cost(bytes, n, keys, 15, Duration::from_millis(60)) {
            Ok(cost) => Some((n, cost)),
            Err(error) => return fail(&error.to_string()),
        },
        None => None,
    };
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (min_us, median_us) = (us(alone.0), us(alone.1));
    if json {
        let batch_fields = batched.map_or(String::new(), |(n, (min, median))| {
            format!(
                r#","batch":{n},"batch_keys":{keys},"batch_us_per_signature_min":{:.2},"batch_us_per_signature_median":{:.2}"#,
                us(min),
                us(median)
            )
        });
        println!(
            r#"{{"verify_strict_us_min":{min_us:.2},"verify_strict_us_median":{median_us:.2},"message_bytes":{bytes}{batch_fields}}}"#
        );
    } else {
        println!(
            "ed25519 verify_strict, {bytes}-byte message: min {min_us:.2} µs, median {median_us:.2} µs"
        );
        if let Some((n, (min, median))) = batched {
            println!(
                "mxgate verify_batch, batches of {n} ({keys} key(s)): min {:.2} µs, median {:.2} µs per signature \
                 ({:.2}× fewer than alone)",
                us(min),
                us(median),
                min_us / us(min)
            );
        }
    }
    ExitCode::SUCCESS
}

fn pool_spec(args: &PoolArgs) -> Result<PoolSpec, requests::PoolError> {
    Ok(PoolSpec {
        destination: args.destination.clone(),
        origins: Origin::first(args.origins.max(1))?,
        pdus: args.pdus,
        pad_bytes: args.pad_bytes,
        count: args.count,
    })
}

/// PDUs per transaction of the pool's first request.
fn pool_pdus(pool: &Pool) -> usize {
    pool.requests
        .first()
        .and_then(|r| mxgate_core::json::parse_strict(&r.body).ok())
        .and_then(|body| match body {
            mxgate_core::json::CanonicalJsonValue::Object(mut object) => object.remove("pdus"),
            _ => None,
        })
        .map_or(0, |pdus| match pdus {
            mxgate_core::json::CanonicalJsonValue::Array(list) => list.len(),
            _ => 0,
        })
}

fn target_addr(target: &Uri) -> Option<SocketAddr> {
    if target.scheme_str() != Some("http") {
        return None;
    }
    let authority = target.authority()?;
    format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    )
    .parse()
    .ok()
}

fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("mxgate-bench: {message}");
    ExitCode::FAILURE
}
