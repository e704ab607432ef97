//! High availability: two `mxgate serve` processes (the built binary) on one
//! configuration, behind a loopback layer-4 balancer that round-robins
//! connections and moves to the other instance when a connection is refused
//! (HAProxy's `retries` + `option redispatch`). Signed `PUT /send`
//! transactions flow through it on fresh and keep-alive connections while
//! one instance is stopped with `SIGTERM` (and restarted, as in a rolling
//! restart), then while the other is killed with `SIGKILL`. The client
//! retries a request only when its connection failed before any response
//! byte, as Synapse retries a transaction.
//!
//! Run `cargo test -p mxgate --test ha -- --nocapture` to see the figures.

mod common;
mod ha_support;

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use common::{FakeHs, Setup, dead_addr};
use ha_support::{
    balancer::{Backend, Balancer, Counts},
    instance::{Instance, killed},
    traffic::{self, MAX_ATTEMPTS, Mode, Record},
};

/// Time the fake homeserver takes per request, so that requests are in
/// flight in the gateways when a signal arrives.
const UPSTREAM_DELAY: Duration = Duration::from_millis(10);
/// Workers per connection mode.
const WORKERS: usize = 3;
/// Traffic per phase, and when in it the signal is sent.
const PHASE: Duration = Duration::from_millis(3000);
const SIGNAL_AFTER: Duration = Duration::from_millis(1000);
/// Source addresses the balancer uses towards gw1 and gw2.
const SOURCES: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 0, 0, 11), Ipv4Addr::new(127, 0, 0, 12)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_a_balancer_survive_sigterm_and_sigkill() {
    let begin = Instant::now();
    let hs = FakeHs::start(UPSTREAM_DELAY).await;
    let other = FakeHs::start(Duration::ZERO).await;
    let (template, dir) = config_template(hs.addr, other.addr);
    let dir = std::path::Path::new(&dir);
    let mut gws = [
        Instance::start("gw1", &template, dead_addr().await, dir),
        Instance::start("gw2", &template, dead_addr().await, dir),
    ];
    for gw in &gws {
        gw.wait_ready().await;
    }
    let backends = gws.iter().zip(SOURCES).map(|(gw, source)| Backend {
        addr: gw.addr,
        source: IpAddr::V4(source),
    });
    let balancer = Arc::new(Balancer::start(backends.collect()).await);
    let [gw1, gw2] = &mut gws;
    graceful_stop_phase(&balancer, &hs, gw1).await;
    crash_phase(&balancer, &hs, gw2).await;
    println!("ha test: total {:.1} s", begin.elapsed().as_secs_f64());
    assert!(begin.elapsed() < Duration::from_secs(20), "bounded run");
    drop(gws);
    // Kept when the test fails: the instances' configs and logs are there.
    let _ = std::fs::remove_dir_all(dir);
}

/// `SIGTERM` to gw1 mid-traffic: it stops accepting, finishes what it has in
/// flight and exits 0; the balancer sends new connections to gw2; then gw1
/// is started again and takes traffic. No request may see a refusal.
async fn graceful_stop_phase(balancer: &Arc<Balancer>, hs: &FakeHs, gw1: &mut Instance) {
    let traffic = Traffic::start(balancer, "term");
    tokio::time::sleep(SIGNAL_AFTER).await;
    let signalled = Instant::now();
    gw1.terminate();
    let status = gw1.wait_exit(Duration::from_secs(10)).await;
    let exited = Instant::now();
    assert!(
        status.success(),
        "gw1 after SIGTERM: {status}\n{}",
        gw1.log_text()
    );
    gw1.restart();
    gw1.wait_ready().await;
    let rejoined = Instant::now();
    let records = traffic.finish().await;
    let summary = Summary::of("term", &records, balancer.take_counts(), hs);
    let drained = answered_by(&records, 0, signalled, exited);
    let after_restart = answered_by(&records, 0, rejoined, Instant::now());
    summary.print("SIGTERM gw1, restart");
    println!(
        "  gw1: exited {} ms after SIGTERM, {drained} responses from it in that time; \
         back after {} ms, then answered {after_restart}",
        (exited - signalled).as_millis(),
        (rejoined - signalled).as_millis()
    );
    summary.assert_all_delivered();
    assert_eq!(summary.refused, 0, "no refusal during a graceful stop");
    assert!(summary.by_backend.iter().all(|&n| n > 0), "both served");
    assert!(
        after_restart > 0,
        "gw1 takes traffic again after its restart"
    );
}

/// `SIGKILL` to gw2 mid-traffic: its connections break; requests that got no
/// response byte are retried and answered by gw1, and the balancer redispatches
/// connections refused by the dead instance.
async fn crash_phase(balancer: &Arc<Balancer>, hs: &FakeHs, gw2: &mut Instance) {
    let traffic = Traffic::start(balancer, "kill");
    tokio::time::sleep(SIGNAL_AFTER).await;
    gw2.kill();
    let status = gw2.wait_exit(Duration::from_secs(5)).await;
    let dead = Instant::now();
    assert!(killed(status), "gw2 after SIGKILL: {status}");
    let records = traffic.finish().await;
    let summary = Summary::of("kill", &records, balancer.take_counts(), hs);
    summary.print("SIGKILL gw2");
    summary.assert_all_delivered();
    let late_gw2 = answered_by(&records, 1, dead, Instant::now());
    assert_eq!(late_gw2, 0, "nothing answered by a dead instance");
    assert!(
        summary.counts.redispatched > 0,
        "connections to the dead instance were redispatched: {:?}",
        summary.counts
    );
}

/// The shared configuration with `@LISTEN@` and `@STATE_DIR@` left for each
/// instance, and a directory for the instances' files.
fn config_template(upstream: SocketAddr, other: SocketAddr) -> (String, String) {
    let mut setup = Setup::new(upstream, other);
    let dir = std::mem::replace(&mut setup.state_dir, "@STATE_DIR@".to_owned());
    // Far above this test's rate: the default 200/s per origin would refuse
    // (429) once one instance carries all the traffic.
    setup.extra_inbound = "rate_limit_per_origin_per_sec = 100000\nrate_limit_burst = 100000";
    let text = setup.config_text().replace("127.0.0.1:0", "@LISTEN@");
    assert!(text.contains("listen = \"@LISTEN@\""), "{text}");
    (text, dir)
}

/// Responses from `backend` that arrived between `from` and `to`.
fn answered_by(records: &[Record], backend: usize, from: Instant, to: Instant) -> usize {
    records
        .iter()
        .filter(|r| r.backend == Some(backend) && r.done >= from && r.done <= to)
        .count()
}

/// The workers of one phase.
struct Traffic {
    workers: Vec<tokio::task::JoinHandle<Vec<Record>>>,
}

impl Traffic {
    fn start(balancer: &Arc<Balancer>, phase: &str) -> Traffic {
        let until = Instant::now() + PHASE;
        let modes = [(Mode::Fresh, "f"), (Mode::KeepAlive, "k")];
        let workers = modes
            .iter()
            .flat_map(|&(mode, tag)| (0..WORKERS).map(move |i| (mode, format!("{tag}{i}"))))
            .map(|(mode, name)| {
                let label = format!("{phase}-{name}");
                tokio::spawn(traffic::worker(balancer.clone(), mode, label, until))
            })
            .collect();
        Traffic { workers }
    }

    async fn finish(self) -> Vec<Record> {
        let mut records = Vec::new();
        for worker in self.workers {
            records.extend(worker.await.unwrap());
        }
        records
    }
}

/// The figures of one phase, from the client, the balancer and the upstream.
struct Summary {
    records: Vec<Record>,
    counts: Counts,
    refused: usize,
    by_backend: [usize; 2],
    retried: usize,
    /// Transactions the upstream received, per instance (from `X-Forwarded-For`).
    upstream_by_instance: [usize; 2],
    /// Transaction ids the upstream received, with how many times.
    delivered: BTreeMap<String, usize>,
}

impl Summary {
    fn of(phase: &str, records: &[Record], counts: Counts, hs: &FakeHs) -> Summary {
        let prefix = format!("/_matrix/federation/v1/send/{phase}-");
        let mut delivered = BTreeMap::new();
        let mut upstream_by_instance = [0; 2];
        for seen in hs.seen() {
            let Some(txn) = seen.target.strip_prefix(&prefix) else {
                continue;
            };
            *delivered.entry(format!("{phase}-{txn}")).or_insert(0) += 1;
            let source = seen
                .headers
                .get("x-forwarded-for")
                .unwrap()
                .to_str()
                .unwrap();
            let index = SOURCES.iter().position(|ip| ip.to_string() == source);
            upstream_by_instance[index.expect("a balancer source address")] += 1;
        }
        let mut by_backend = [0; 2];
        for index in records.iter().filter_map(|r| r.backend) {
            by_backend[index] += 1;
        }
        Summary {
            refused: records.iter().filter(|r| r.status >= 400).count(),
            retried: records.iter().filter(|r| r.attempts > 1).count(),
            records: records.to_vec(),
            counts,
            by_backend,
            upstream_by_instance,
            delivered,
        }
    }

    fn print(&self, title: &str) {
        let count = |mode| self.records.iter().filter(|r| r.mode == mode).count();
        let twice = self.delivered.values().filter(|&&n| n > 1).count();
        println!(
            "ha phase [{title}]: {} requests ({} fresh-connection, {} keep-alive), \
             {} answered 200, {} refused (4xx/5xx)",
            self.records.len(),
            count(Mode::Fresh),
            count(Mode::KeepAlive),
            self.records.iter().filter(|r| r.status == 200).count(),
            self.refused
        );
        println!(
            "  answered by gw1/gw2: {}/{}; upstream received via gw1/gw2: {}/{} \
             ({twice} transactions twice)",
            self.by_backend[0],
            self.by_backend[1],
            self.upstream_by_instance[0],
            self.upstream_by_instance[1]
        );
        println!(
            "  balancer: connections to gw1/gw2 {:?}, redispatched {}, dropped {}; \
             client: {} requests retried (max {} attempts)",
            self.counts.connections,
            self.counts.redispatched,
            self.counts.dropped,
            self.retried,
            self.records.iter().map(|r| r.attempts).max().unwrap_or(0)
        );
        let mut causes = BTreeMap::<String, usize>::new();
        for record in &self.records {
            for error in &record.errors {
                *causes
                    .entry(format!("{:?}: {error}", record.mode))
                    .or_default() += 1;
            }
        }
        if !causes.is_empty() {
            println!("  failed attempts by cause: {causes:?}");
        }
    }

    /// Every request got 200 from the upstream (within the retries), and the
    /// upstream received every transaction that was answered.
    fn assert_all_delivered(&self) {
        assert!(
            self.records.len() > 50,
            "enough traffic: {}",
            self.records.len()
        );
        for record in &self.records {
            assert_eq!(record.status, 200, "{record:?}");
            assert!(record.attempts <= MAX_ATTEMPTS, "{record:?}");
            assert!(self.delivered.contains_key(&record.txn), "{record:?}");
        }
        let ids: BTreeSet<&String> = self.records.iter().map(|r| &r.txn).collect();
        assert_eq!(ids.len(), self.records.len(), "distinct transaction ids");
    }
}
