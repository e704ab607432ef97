//! Test harness of the outbound proxy: fake remotes (TLS with certificates
//! from test CAs made by rcgen) and fake upstreams (plain HTTP) that record
//! what reaches them and count connections, a gateway on `127.0.0.1:0` or a
//! UNIX socket, request signing, and raw HTTP/1.1 exchanges.
#![allow(dead_code)]

mod fake;
mod raw;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use ed25519_dalek::SigningKey;
use mxgate::{
    audit::Audit,
    metrics::Metrics,
    outbound::{OutboundGateway, OutboundListener, run_outbound},
};
use mxgate_core::{
    config::Config,
    ids::{KeyId, ServerName},
    json,
};
use tokio::{net::TcpListener, sync::oneshot};

pub use fake::{FakeServer, TestCa, temp_dir};
pub use raw::{proxied, proxy_request, send, send_unix, x_matrix};

/// Our homeserver with a pinned key.
pub const HS: &str = "hs.test";
/// Its key id.
pub const HS_KEY: &str = "ed25519:hs1";
/// Our second homeserver, whose key is fetched from its upstream.
pub const OTHER_HS: &str = "other.test";
/// Its key id.
pub const OTHER_KEY: &str = "ed25519:o1";
/// The trusted remote.
pub const REMOTE: &str = "remote.test";
/// A trusted remote whose pinned CA did not issue its certificate.
pub const WRONG_CA: &str = "wrongca.test";
/// A trusted remote without a pinned address.
/// A remote found by well-known discovery; an explicit port means it is
/// reached at itself (no well-known fetch, no DNS: localhost is in /etc/hosts),
/// and nothing listens on port 1.
pub const UNPINNED: &str = "localhost:1";
/// A trusted remote that answers too slowly.
pub const SLOW: &str = "slow.test";
/// The proxy secret.
pub const SECRET: &str = "s3cret-proxy-token";

pub fn hs_key() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

pub fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[2; 32])
}

/// The fake world: two upstreams of our homeservers, three TLS remotes.
pub struct World {
    pub dir: PathBuf,
    pub hs_upstream: Arc<FakeServer>,
    pub other_upstream: Arc<FakeServer>,
    pub remote: Arc<FakeServer>,
    pub wrong_ca: Arc<FakeServer>,
    pub slow: Arc<FakeServer>,
}

impl World {
    pub async fn start(tag: &str) -> World {
        let dir = temp_dir(tag);
        let pinned = TestCa::new("pinned test CA");
        let rogue = TestCa::new("rogue test CA");
        pinned.write_root(&dir, "ca.pem");
        let other_name = ServerName::parse(OTHER_HS).unwrap();
        let key_body = mxgate_core::keys::build_key_response(
            &other_name,
            &KeyId::parse(OTHER_KEY).unwrap(),
            &other_key(),
            u64::MAX >> 12,
        );
        let remote_cert = pinned.leaf(&dir, REMOTE);
        let slow_cert = pinned.leaf(&dir, SLOW);
        let rogue_cert = rogue.leaf(&dir, WRONG_CA);
        World {
            hs_upstream: FakeServer::start("hs-upstream", None, Duration::ZERO, None).await,
            other_upstream: FakeServer::start(
                "other-upstream",
                None,
                Duration::ZERO,
                Some(key_body),
            )
            .await,
            remote: FakeServer::start("remote", Some(&remote_cert), Duration::ZERO, None).await,
            wrong_ca: FakeServer::start("wrong-ca", Some(&rogue_cert), Duration::ZERO, None).await,
            slow: FakeServer::start("slow", Some(&slow_cert), Duration::from_secs(3), None).await,
            dir,
        }
    }

    /// The gateway's config: `mode`, `listen` for `[outbound]`.
    pub fn config_text(&self, mode: &str, listen: &str) -> String {
        let hs_public = json::encode_base64(hs_key().verifying_key().as_bytes());
        format!(
            r#"
[gateway]
mode = "{mode}"
state_dir = "state"

[inbound]
listen = "127.0.0.1:0"
request_timeout_secs = 2

[outbound]
listen = "{listen}"
secret_file = "secret"
connect_timeout_secs = 2
response_timeout_secs = 1
max_concurrency_per_destination = 4

[[homeserver]]
server_name = "{HS}"
upstream = "http://{hs_up}"
keys = {{ "{HS_KEY}" = "{hs_public}" }}

[[homeserver]]
server_name = "{OTHER_HS}"
upstream = "http://{other_up}"

[[remote]]
server_name = "{REMOTE}"
tier = "external"
address = "{remote}"
ca = "ca.pem"

[[remote]]
server_name = "{WRONG_CA}"
tier = "external"
address = "{wrong}"
ca = "ca.pem"

[[remote]]
server_name = "{UNPINNED}"
tier = "external"
discovery = "well-known"

[[remote]]
server_name = "{SLOW}"
tier = "external"
address = "{slow}"
ca = "ca.pem"
"#,
            hs_up = self.hs_upstream.addr,
            other_up = self.other_upstream.addr,
            remote = self.remote.addr,
            wrong = self.wrong_ca.addr,
            slow = self.slow.addr,
        )
    }

    /// The parsed config (writes the secret file with surrounding whitespace).
    pub fn config(&self, mode: &str) -> Config {
        std::fs::write(self.dir.join("secret"), format!("  {SECRET}\n")).unwrap();
        let text = self.config_text(mode, "127.0.0.1:9100");
        Config::from_toml_str(&text, &self.dir).unwrap()
    }

    /// Starts a gateway on `listener`; it stops when the result is dropped.
    pub async fn gateway(&self, mode: &str, listener: OutboundListener) -> Running {
        let config = self.config(mode);
        let audit_path = self.dir.join("audit.jsonl");
        let (audit, _task) = Audit::start(Some(audit_path.clone())).await.unwrap();
        let metrics = Arc::new(Metrics::new());
        let gateway = OutboundGateway::from_config(&config, metrics.clone(), Arc::new(audit))
            .await
            .unwrap();
        let gateway = Arc::new(gateway);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run_outbound(listener, gateway.clone(), async move {
            let _ = stopped.await;
        }));
        Running {
            gateway,
            metrics,
            audit_path,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A gateway on a fresh TCP port.
    pub async fn tcp_gateway(&self, mode: &str) -> (SocketAddr, Running) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (
            addr,
            self.gateway(mode, OutboundListener::Tcp(listener)).await,
        )
    }
}

/// A running gateway; stops when dropped.
pub struct Running {
    pub gateway: Arc<OutboundGateway>,
    pub metrics: Arc<Metrics>,
    pub audit_path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops the gateway and waits until it has finished.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// The audit lines written so far (waits briefly for the writer).
    pub async fn audit_lines(&self) -> Vec<serde_json::Value> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        std::fs::read_to_string(&self.audit_path)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
