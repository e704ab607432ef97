//! Worker lanes: one single-threaded tokio runtime per CPU, each serving
//! the connections handed to it from start to end ("thread per core").
//!
//! A connection's task, the hyper tasks of its upstream connections (each
//! lane has its own upstream pool, see [`pool_index`]) and their timers all
//! run on one thread, so forwarding a request wakes no other thread: no
//! futex wake-ups, no inter-processor interrupts, no work stealing, and
//! each lane allocates from its own malloc arena. On the 2-core bench
//! machine this took 2–6 µs of CPU off every proxied request compared with
//! tokio's multi-threaded scheduler, and 14 % more verified requests per
//! second (docs/performance.md, fourth pass).
//!
//! The inbound listener accepts on the main runtime and hands each accepted
//! socket to the lane with the fewest open connections. (The outbound proxy
//! listener stays on the main runtime, see `outbound::run_outbound`.)

use std::{
    cell::Cell,
    future::Future,
    io,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{runtime, sync::oneshot};

thread_local! {
    /// The lane number of this thread (1-based); 0 outside lanes.
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

/// How many lanes a server starts: one per CPU this process may use
/// (affinity and cgroup quotas included), at least 1, at most 64.
pub fn count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
            .clamp(1, 64)
    })
}

/// Whether this thread is a lane's.
pub fn on_lane() -> bool {
    CURRENT.with(Cell::get) != 0
}

/// Which of `pools` per-lane resources (`count() + 1` of them) this thread
/// uses: its lane number, or 0 (a shared one) outside lanes.
pub fn pool_index(pools: usize) -> usize {
    CURRENT.with(Cell::get).min(pools.saturating_sub(1))
}

/// A set of running lanes. Dropping it stops them: tasks still running on
/// a lane are dropped at their next await point.
pub struct Lanes {
    lanes: Vec<Lane>,
}

struct Lane {
    handle: runtime::Handle,
    open: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
}

impl Lanes {
    /// Starts `count` lanes, each a thread named `mxgate-{name}-{n}`. If a
    /// thread or runtime cannot be made, says so and serves on the calling
    /// runtime instead (slower, never wrong).
    pub fn start(name: &str, count: usize) -> Self {
        let mut lanes = Vec::with_capacity(count);
        for number in 1..=count.max(1) {
            match Lane::start(name, number) {
                Ok(lane) => lanes.push(lane),
                Err(error) => {
                    tracing::error!(%error, "cannot start worker lane {name}-{number}: serving on the main runtime");
                    lanes.clear();
                    break;
                }
            }
        }
        Self { lanes }
    }

    /// Runs `task` on the lane with the fewest tasks given to it and still
    /// running (on the calling runtime if there are no lanes). The task
    /// must make its sockets inside itself (e.g. `TcpStream::from_std`), so
    /// that they register with its lane.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(lane) = self
            .lanes
            .iter()
            .min_by_key(|lane| lane.open.load(Ordering::Relaxed))
        else {
            tokio::spawn(task);
            return;
        };
        lane.open.fetch_add(1, Ordering::Relaxed);
        let open = OpenGuard(lane.open.clone());
        lane.handle.spawn(async move {
            let _open = open;
            task.await;
        });
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        for lane in &mut self.lanes {
            if let Some(stop) = lane.stop.take() {
                let _ = stop.send(());
            }
        }
    }
}

impl Lane {
    fn start(name: &str, number: usize) -> io::Result<Self> {
        let runtime = runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("mxgate-{name}-{number}"))
            .spawn(move || {
                CURRENT.with(|current| current.set(number));
                runtime.block_on(async {
                    tokio::select! {
                        _ = stopped => {}
                        () = timer_anchor() => {}
                    }
                });
            })?;
        Ok(Self {
            handle,
            open: Arc::new(AtomicUsize::new(0)),
            stop: Some(stop),
        })
    }
}

/// How often a lane's [`timer_anchor`] ticks: no more than the shortest
/// timeout that is armed for every request (the inbound header read timeout,
/// whole seconds).
const ANCHOR_PERIOD: Duration = Duration::from_secs(1);

/// Keeps a timer due within [`ANCHOR_PERIOD`] armed on the lane, so that
/// arming a request's timeouts never interrupts the lane's own sleep.
///
/// tokio's time driver notes, when its thread goes to sleep, when its next
/// timer is due; a timer armed later with an earlier deadline makes it write
/// to its eventfd so the sleep is cut short, even when the writer is the
/// lane itself and the lane is not asleep. Each request arms hyper's 30 s
/// header read timeout, shorter than anything else pending when the lane
/// last slept (60 s response timeouts, 120 s idle timeouts): one `write`
/// syscall for about every five requests, and ≈ 1 µs of CPU per request at
/// 10 PDUs (docs/performance.md, seventh pass). With a timer always due
/// within a second, no request timeout is ever the earliest.
async fn timer_anchor() {
    let mut ticks = tokio::time::interval(ANCHOR_PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
    }
}

/// Counts a task as open until dropped.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_lane_threads_spread_by_open_count() {
        let lanes = Lanes::start("test", 2);
        let (seen, results) = std::sync::mpsc::channel();
        let (release, hold) = tokio::sync::watch::channel(false);
        for _ in 0..4 {
            let (seen, mut hold) = (seen.clone(), hold.clone());
            lanes.spawn(async move {
                let _ = seen.send(CURRENT.with(Cell::get));
                let _ = hold.wait_for(|go| *go).await;
            });
        }
        let mut numbers: Vec<usize> = (0..4).map(|_| results.recv().expect("ran")).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, [1, 1, 2, 2], "two held tasks per lane");
        assert_eq!(pool_index(3), 0, "the test thread is no lane");
        assert!(!on_lane());
        let _ = release.send(true);
    }

    #[test]
    fn pool_index_is_clamped_to_the_pools() {
        CURRENT.with(|current| current.set(5));
        assert_eq!(pool_index(3), 2);
        assert_eq!(pool_index(0), 0);
        CURRENT.with(|current| current.set(0));
    }
}
