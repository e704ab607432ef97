//! Turning an [`Outcome`] into figures: throughput, latency percentiles,
//! statuses, and the target's CPU time per request from `/proc/PID/stat`.

use std::collections::BTreeMap;
use std::process::Command;

use serde::Serialize;

use crate::load::Outcome;

/// Clock ticks per second used when `getconf CLK_TCK` can't be run (the
/// Linux value on every common architecture).
const DEFAULT_CLK_TCK: u64 = 100;

/// The figures of one run, printed as a table or one JSON line.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Free-form label given with `--label`.
    pub label: String,
    /// The target URL.
    pub target: String,
    /// `http1` or `http2`.
    pub protocol: &'static str,
    /// PDUs per transaction.
    pub pdus: usize,
    /// Mean request body size.
    pub body_bytes: usize,
    /// Connections opened.
    pub connections: usize,
    /// Requested total rate, if paced.
    pub rate: Option<f64>,
    /// Length of the measured window, seconds.
    pub seconds: f64,
    /// Requests answered (any status) or failed in the window.
    pub requests: u64,
    /// Requests answered 2xx in the window.
    pub ok: u64,
    /// Non-2xx responses plus failures without a response.
    pub errors: u64,
    /// Responses (any status) per second; all 2xx unless `--expect-rejections`.
    pub rps: f64,
    /// Latency percentiles of responses (any status), microseconds.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Maximum.
    pub max_us: f64,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Failures without a response, by kind.
    pub failures: BTreeMap<&'static str, u64>,
    /// The target's CPU time (utime + stime) per response, µs.
    pub target_cpu_us_per_req: Option<f64>,
    /// The target's CPU use over the window, in cores.
    pub target_cores: Option<f64>,
    /// The target's resident set size at the end, KiB.
    pub target_rss_kib: Option<u64>,
    /// The generator's own CPU time per request, µs.
    pub generator_cpu_us_per_req: Option<f64>,
    /// Clock ticks per second used to convert `/proc` times.
    pub clk_tck: u64,
}

/// CPU time of a set of processes, in clock ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTicks(pub u64);

/// Reads utime + stime (fields 14 and 15 of `/proc/PID/stat`) summed over
/// `pids` (all threads of each process are included). `None` if any is unreadable.
pub fn cpu_ticks(pids: &[String]) -> Option<CpuTicks> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the command name, which is in parentheses and may hold spaces.
            let after = &stat[stat.rfind(')')? + 1..];
            let mut fields = after.split_whitespace().skip(11);
            let utime: u64 = fields.next()?.parse().ok()?;
            let stime: u64 = fields.next()?.parse().ok()?;
            Some(utime + stime)
        })
        .sum::<Option<u64>>()
        .map(CpuTicks)
}

/// `VmRSS` of the processes in KiB, summed.
pub fn rss_kib(pids: &[String]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

/// Clock ticks per second from `getconf CLK_TCK`, or 100.
pub fn clk_tck() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(DEFAULT_CLK_TCK)
}

/// CPU snapshots taken at the start and end of the measured window.
#[derive(Debug, Default)]
pub struct CpuWindow {
    /// Target ticks at start and end.
    pub target: Vec<Option<CpuTicks>>,
    /// Generator ticks at start and end.
    pub generator: Vec<Option<CpuTicks>>,
}

impl CpuWindow {
    /// Ticks spent between the two snapshots.
    fn spent(snapshots: &[Option<CpuTicks>]) -> Option<u64> {
        match snapshots {
            [Some(a), Some(b)] => Some(b.0.saturating_sub(a.0)),
            _ => None,
        }
    }
}

/// Everything [`Report::new`] needs besides the outcome.
#[derive(Debug)]
pub struct RunInfo {
    /// `--label`.
    pub label: String,
    /// The target URL.
    pub target: String,
    /// Whether HTTP/2 was used.
    pub http2: bool,
    /// PDUs per transaction (of the pool).
    pub pdus: usize,
    /// Mean body size.
    pub body_bytes: usize,
    /// Connections.
    pub connections: usize,
    /// Paced rate, if any.
    pub rate: Option<f64>,
    /// Target RSS at the end.
    pub target_rss_kib: Option<u64>,
    /// Clock ticks per second.
    pub clk_tck: u64,
}

impl Report {
    /// The figures of `outcome`; sorts its latencies.
    pub fn new(info: RunInfo, mut outcome: Outcome, cpu: &CpuWindow) -> Self {
        outcome.latencies_ns.sort_unstable();
        let seconds = outcome.window.as_secs_f64();
        let answered = outcome.latencies_ns.len() as u64;
        let per_request = |ticks: Option<u64>| {
            ticks
                .filter(|_| answered > 0)
                .map(|t| t as f64 * 1e6 / info.clk_tck as f64 / answered as f64)
        };
        let target_ticks = CpuWindow::spent(&cpu.target);
        let quantile = |q: f64| quantile_us(&outcome.latencies_ns, q);
        Self {
            protocol: if info.http2 { "http2" } else { "http1" },
            requests: outcome.total(),
            errors: outcome.errors(),
            ok: outcome.ok(),
            rps: answered as f64 / seconds.max(1e-9),
            p50_us: quantile(0.50),
            p90_us: quantile(0.90),
            p99_us: quantile(0.99),
            max_us: quantile(1.0),
            target_cpu_us_per_req: per_request(target_ticks),
            target_cores: target_ticks.map(|t| t as f64 / info.clk_tck as f64 / seconds),
            generator_cpu_us_per_req: per_request(CpuWindow::spent(&cpu.generator)),
            statuses: outcome.statuses,
            failures: outcome.failures,
            label: info.label,
            target: info.target,
            pdus: info.pdus,
            body_bytes: info.body_bytes,
            connections: info.connections,
            rate: info.rate,
            seconds,
            target_rss_kib: info.target_rss_kib,
            clk_tck: info.clk_tck,
        }
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        let mut rows = vec![
            ("target", format!("{} ({})", self.target, self.protocol)),
            ("label", self.label.clone()),
            (
                "pdus / body",
                format!("{} / {} B", self.pdus, self.body_bytes),
            ),
            ("connections", self.connections.to_string()),
            ("rate asked", opt(self.rate)),
            ("window", format!("{:.2} s", self.seconds)),
            (
                "requests",
                format!("{} ({} ok, {} errors)", self.requests, self.ok, self.errors),
            ),
            ("responses/s", format!("{:.0}", self.rps)),
            (
                "latency p50/p90",
                format!("{:.0} / {:.0} µs", self.p50_us, self.p90_us),
            ),
            (
                "latency p99/max",
                format!("{:.0} / {:.0} µs", self.p99_us, self.max_us),
            ),
            ("statuses", format!("{:?}", self.statuses)),
            (
                "target CPU/req",
                format!("{} µs", opt(self.target_cpu_us_per_req)),
            ),
            ("target cores", opt(self.target_cores)),
            (
                "target RSS",
                self.target_rss_kib
                    .map_or("-".into(), |k| format!("{k} KiB")),
            ),
            (
                "generator CPU/req",
                format!("{} µs", opt(self.generator_cpu_us_per_req)),
            ),
        ];
        if !self.failures.is_empty() {
            rows.push(("failures", format!("{:?}", self.failures)));
        }
        rows.iter()
            .map(|(name, value)| format!("{name:>18}  {value}\n"))
            .collect()
    }
}

/// The `q` quantile (nearest rank) of sorted nanosecond values, in µs.
fn quantile_us(sorted_ns: &[u64], q: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted_ns.len() as f64).ceil() as usize;
    sorted_ns[rank.clamp(1, sorted_ns.len()) - 1] as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let ns: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(quantile_us(&ns, 0.5), 50.0);
        assert_eq!(quantile_us(&ns, 0.99), 99.0);
        assert_eq!(quantile_us(&ns, 1.0), 100.0);
        assert_eq!(quantile_us(&[], 0.5), 0.0);
    }

    #[test]
    fn own_cpu_and_rss_are_readable() {
        let me = vec![std::process::id().to_string()];
        assert!(cpu_ticks(&me).is_some());
        assert!(rss_kib(&me).unwrap() > 0);
        assert!(cpu_ticks(&["999999999".to_owned()]).is_none());
        assert!(cpu_ticks(&[]).is_none());
        assert!(rss_kib(&[]).is_none());
    }

    #[test]
    fn cpu_per_request_uses_window_ticks() {
        let outcome = Outcome {
            latencies_ns: vec![1_000; 1000],
            window: std::time::Duration::from_secs(1),
            ..Outcome::default()
        };
        let cpu = CpuWindow {
            target: vec![Some(CpuTicks(10)), Some(CpuTicks(60))],
            generator: vec![None, None],
        };
        let info = RunInfo {
            label: String::new(),
            target: String::new(),
            http2: false,
            pdus: 1,
            body_bytes: 800,
            connections: 1,
            rate: None,
            target_rss_kib: None,
            clk_tck: 100,
        };
        let report = Report::new(info, outcome, &cpu);
        // 50 ticks = 0.5 s over 1000 requests = 500 µs each.
        assert_eq!(report.target_cpu_us_per_req, Some(500.0));
        assert_eq!(report.target_cores, Some(0.5));
        assert_eq!(report.generator_cpu_us_per_req, None);
        assert_eq!(report.rps, 1000.0);
    }
}
