//! One `mxgate serve` process (the built binary) on its own config file,
//! killed when dropped so that a failing test leaves no process behind.

use std::{
    net::SocketAddr,
    os::unix::process::ExitStatusExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use tokio::net::TcpStream;

use crate::common::{send_raw, signed};

/// A gateway process.
pub struct Instance {
    /// Its name in the figures (`gw1`, `gw2`).
    pub name: &'static str,
    /// Its inbound listener.
    pub addr: SocketAddr,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Instance {
    /// Writes `template` with this instance's `listen` and `state_dir` into
    /// `dir/<name>/mxgate.toml` and starts `mxgate serve` on it.
    pub fn start(name: &'static str, template: &str, addr: SocketAddr, dir: &Path) -> Instance {
        let home = dir.join(name);
        let state = home.join("state");
        std::fs::create_dir_all(&state).unwrap();
        let text = template
            .replace("@LISTEN@", &addr.to_string())
            .replace("@STATE_DIR@", &state.display().to_string());
        let config = home.join("mxgate.toml");
        std::fs::write(&config, text).unwrap();
        let mut instance = Instance {
            name,
            addr,
            config,
            log: home.join("stderr.log"),
            child: None,
        };
        instance.spawn();
        instance
    }

    /// Starts the process again on the same config (a rolling restart).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "{} still running", self.name);
        self.spawn();
    }

    /// Waits until a signed request sent straight to it answers 200.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                Instant::now() < deadline,
                "{} not ready within 10 s; its log:\n{}",
                self.name,
                self.log_text()
            );
            if TcpStream::connect(self.addr).await.is_ok() {
                let target = format!("/_matrix/federation/v1/version?ready={}", self.name);
                if send_raw(self.addr, &signed("GET", &target, None))
                    .await
                    .status
                    == 200
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sends `SIGTERM` with the `kill` command (a graceful stop).
    pub fn terminate(&self) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Sends `SIGKILL` (a crash: nothing is drained).
    pub fn kill(&mut self) {
        self.child.as_mut().expect("running").kill().unwrap();
    }

    /// Waits for the process to end, at most `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still running after {within:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// What the process wrote to stderr.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mxgate"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether `status` is the end of a process killed by `SIGKILL`.
pub fn killed(status: ExitStatus) -> bool {
    status.signal() == Some(9)
}
