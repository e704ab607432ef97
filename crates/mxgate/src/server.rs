//! Listeners and connection serving: TLS accept, HTTP/1.1 + HTTP/2, limits,
//! graceful shutdown, `SIGHUP` reload.
//!
//! [`run`] takes a bound listener and a shutdown future (so tests serve on
//! `127.0.0.1:0`); [`serve`] is what `mxgate serve` calls: it binds the
//! configured listeners, installs the signal handlers and runs until
//! `SIGTERM`/ctrl-c.

mod conn;

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use mxgate_core::config::Config;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Semaphore, watch},
};
use tokio_rustls::TlsAcceptor;

use crate::{
    audit::{Audit, AuditError, now_ms},
    client::ClientOptions,
    inbound::{Gateway, StateError},
    lanes::{self, Lanes},
    metrics::{self, Metrics, Readiness},
    outbound::{OutboundGateway, OutboundListener, OutboundSetupError, run_outbound},
    tls::{self, CertKeyPaths, ReloadableCerts, SniResolver, TlsError},
};

/// How long shutdown waits for in-flight connections to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The inbound TLS certificates could not be loaded.
    #[error("inbound TLS: {0}")]
    Tls(#[from] TlsError),
    /// The gateway state could not be built.
    #[error(transparent)]
    State(#[from] StateError),
    /// The audit log could not be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The outbound gateway could not be set up.
    #[error("outbound: {0}")]
    Outbound(#[from] OutboundSetupError),
    /// A signal handler could not be installed.
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
}

impl ServeError {
    /// Stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Bind { .. } => "bind",
            Self::Tls(error) => error.reason(),
            Self::State(error) => error.reason(),
            Self::Audit(error) => error.reason(),
            Self::Outbound(error) => error.reason(),
            Self::Signal(_) => "signal",
        }
    }
}

/// Serves inbound federation traffic on `listener` until `shutdown`
/// completes, then stops accepting and drains open connections (up to 30 s).
/// Connections are accepted here and served on [`lanes`], one thread per CPU.
/// TLS is used when the gateway's config has `[[inbound.tls]]`. The
/// connection limits are read once, here: a reload changes routing, trust,
/// keys, rate and body limits, not these.
pub async fn run(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let certs = inbound_certs(&gateway.config())?;
    run_with_certs(listener, gateway, certs, shutdown).await
}

/// [`run`] with the inbound certificates given (`None`: plain HTTP), so
/// that the caller can replace them while serving ([`serve`] does on
/// `SIGHUP`).
pub async fn run_with_certs(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    certs: Option<Arc<ReloadableCerts>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let config = gateway.config();
    let acceptor = certs.map(tls_acceptor).transpose()?;
    let limits = config.inbound.limits;
    let builder = Arc::new(conn::builder(&limits));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let lanes = Lanes::start("inbound", lanes::count());
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection limit reached; closing");
            continue;
        };
        let connection = conn::Connection {
            gateway: gateway.clone(),
            builder: builder.clone(),
            acceptor: acceptor.clone(),
            limits,
            stopped: stopped.clone(),
        };
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(%peer, %error, "cannot hand the connection to a lane");
                continue;
            }
        };
        lanes.spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => connection.serve(stream, peer).await,
                Err(error) => tracing::debug!(%peer, %error, "cannot register the connection"),
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN_TIMEOUT, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("shutdown: connections still open after the drain timeout");
    }
    Ok(())
}

/// Runs the gateway for `config` (read from `config_path`, re-read on
/// `SIGHUP`) until `SIGTERM` or ctrl-c: the inbound listener, the outbound
/// federation-proxy listener when `[outbound]` is set, the admin listener
/// when `[admin]` is set, the audit writer and the readiness probes.
pub async fn serve(config: Config, config_path: PathBuf) -> Result<(), ServeError> {
    let metrics = Arc::new(Metrics::new());
    let (audit, _audit_writer) = Audit::start(config.gateway.audit_log.clone()).await?;
    let audit = Arc::new(audit);
    let (inbound_addr, admin_addr) = (
        config.inbound.listen,
        config.admin.as_ref().map(|a| a.listen),
    );
    let outbound = match &config.outbound {
        Some(settings) => {
            let gateway =
                OutboundGateway::from_config(&config, metrics.clone(), audit.clone()).await?;
            Some((
                Arc::new(gateway),
                OutboundListener::bind(&settings.listen).await?,
            ))
        }
        None => None,
    };
    let certs = inbound_certs(&config)?;
    let options = client_options(&config);
    let gateway = Arc::new(Gateway::new(config, options, metrics.clone(), audit)?);
    let listener = bind(inbound_addr).await?;
    let (stop, stopped) = watch::channel(false);
    let readiness = Arc::new(Readiness::new(gateway.config().homeservers.len()));
    tokio::spawn(probe_upstreams(gateway.clone(), readiness.clone()));
    if let Some(addr) = admin_addr {
        let admin = bind(addr).await?;
        tokio::spawn(metrics::serve_admin(
            admin,
            metrics,
            readiness,
            gateway.status().clone(),
            wait_stop(stopped.clone()),
        ));
    }
    let outbound_gateway = outbound.as_ref().map(|(gateway, _)| gateway.clone());
    if let Some((gateway, listener)) = outbound {
        tokio::spawn(run_outbound(listener, gateway, wait_stop(stopped.clone())));
    }
    let hangups = signal(SignalKind::hangup()).map_err(ServeError::Signal)?;
    tokio::spawn(reload_on_sighup(
        hangups,
        Reloadable {
            gateway: gateway.clone(),
            outbound: outbound_gateway,
            certs: certs.clone(),
        },
        config_path,
    ));
    let signals = terminate_signal().await?;
    tokio::spawn(async move {
        signals.await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    tracing::info!(listen = %inbound_addr, "inbound gateway listening");
    run_with_certs(listener, gateway, certs, wait_stop(stopped)).await
}

/// The upstream client options: `[outbound]` timeouts when configured.
pub fn client_options(config: &Config) -> ClientOptions {
    let mut options = ClientOptions::default();
    if let Some(outbound) = &config.outbound {
        options.connect_timeout = outbound.connect_timeout;
        options.response_timeout = outbound.response_timeout;
    }
    options
}

/// Marks readiness as each upstream answers `GET /_matrix/federation/v1/version`
/// (any HTTP response counts), retrying every second.
pub async fn probe_upstreams(gateway: Arc<Gateway>, readiness: Arc<Readiness>) {
    let mut probes = tokio::task::JoinSet::new();
    for server in gateway
        .config()
        .homeservers
        .iter()
        .map(|hs| hs.server_name.clone())
    {
        let (gateway, readiness) = (gateway.clone(), readiness.clone());
        probes.spawn(async move {
            while !gateway.probe_upstream(&server).await {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            tracing::info!(%server, "upstream answered");
            gateway
                .status()
                .upstream(server.as_str(), true, None, now_ms());
            readiness.upstream_answered();
        });
    }
    while probes.join_next().await.is_some() {}
}

/// The certificates of `config`'s `[[inbound.tls]]` (`None`: plain HTTP).
pub fn inbound_certs(config: &Config) -> Result<Option<Arc<ReloadableCerts>>, TlsError> {
    if config.inbound.tls.is_empty() {
        return Ok(None);
    }
    Ok(Some(Arc::new(ReloadableCerts::load(&cert_pairs(config))?)))
}

fn cert_pairs(config: &Config) -> Vec<CertKeyPaths> {
    config
        .inbound
        .tls
        .iter()
        .map(|files| CertKeyPaths {
            cert: files.cert.clone(),
            key: files.key.clone(),
        })
        .collect()
}

fn tls_acceptor(certs: Arc<ReloadableCerts>) -> Result<TlsAcceptor, TlsError> {
    Ok(TlsAcceptor::from(Arc::new(tls::server_config_with(certs)?)))
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

async fn wait_stop(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// What a `SIGHUP` reloads.
struct Reloadable {
    gateway: Arc<Gateway>,
    outbound: Option<Arc<OutboundGateway>>,
    certs: Option<Arc<ReloadableCerts>>,
}

/// Re-reads and validates the config on every `SIGHUP`; a valid config is
/// swapped in for new requests (outbound, inbound, then the inbound TLS
/// certificates for new connections), an invalid one — including
/// certificate files that do not load — is logged and ignored. Listeners
/// are not rebound.
async fn reload_on_sighup(mut hangups: Signal, parts: Reloadable, path: PathBuf) {
    while hangups.recv().await.is_some() {
        let result = match crate::cli::load_config(&path) {
            Ok(config) => reload(&parts, config).await,
            Err(error) => Err(error.to_string()),
        };
        match result {
            Ok(()) => tracing::info!(config = %path.display(), "configuration reloaded"),
            Err(error) => tracing::error!(
                config = %path.display(),
                %error,
                "reload refused; keeping the old configuration"
            ),
        }
    }
}

async fn reload(parts: &Reloadable, config: Config) -> Result<(), String> {
    // Certificates load first: a bad file refuses the whole reload.
    let resolver = match &parts.certs {
        Some(_) => {
            Some(SniResolver::load(&cert_pairs(&config)).map_err(|e| format!("inbound TLS: {e}"))?)
        }
        None if !config.inbound.tls.is_empty() => {
            tracing::warn!("[[inbound.tls]] added: TLS starts only after a restart");
            None
        }
        None => None,
    };
    if let Some(outbound) = &parts.outbound {
        outbound.reload(&config).await.map_err(|e| e.to_string())?;
    }
    parts.gateway.reload(config).map_err(|e| e.to_string())?;
    if let (Some(certs), Some(resolver)) = (&parts.certs, resolver) {
        certs.replace(resolver);
        tracing::info!("inbound TLS certificates reloaded");
    }
    Ok(())
}

/// Resolves on `SIGTERM` or ctrl-c.
async fn terminate_signal() -> Result<impl Future<Output = ()>, ServeError> {
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Signal)?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    })
}
