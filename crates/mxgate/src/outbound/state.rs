//! Per-config state of the outbound proxy, built once per (re)load, never
//! per request: who our homeservers are, where each destination goes, the
//! concurrency slots, the pinned client and the keyring.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use mxgate_core::{
    config::{Config, Mode},
    ids::ServerName,
};
use tokio::sync::Semaphore;

use super::{OutboundSetupError, Refusal, Secret};
use crate::{
    client::HttpClient,
    keyring::{Keyring, SystemClock},
};

/// Everything a request needs from the config, precomputed.
pub(super) struct State {
    /// Enforce or report.
    pub(super) mode: Mode,
    /// Verify signatures (false only in bench pass-through mode).
    pub(super) verify: bool,
    /// The proxy secret.
    pub(super) secret: Secret,
    /// Our homeservers: the only allowed origins.
    pub(super) homeservers: HashSet<ServerName>,
    /// `[[remote]]`s the client can't reach (no `address`, no discovery).
    unpinned: HashSet<ServerName>,
    /// Concurrency slots per reachable destination.
    pub(super) slots: HashMap<ServerName, Arc<Semaphore>>,
    /// Pooled client to every reachable destination (and nothing else).
    pub(super) client: HttpClient,
    /// Keys of our homeservers.
    pub(super) keyring: Keyring,
    /// Largest accepted request body.
    pub(super) max_body: usize,
    /// Time allowed to read a request's head and body.
    pub(super) request_timeout: Duration,
    /// Time a request waits for a concurrency slot.
    pub(super) slot_timeout: Duration,
}

impl State {
    /// Reads the secret file and builds a client and a keyring for `config`.
    pub(super) async fn from_config(config: &Config) -> Result<Self, OutboundSetupError> {
        let outbound = config
            .outbound
            .as_ref()
            .ok_or(OutboundSetupError::NotConfigured)?;
        let secret = Secret::from_file(&outbound.secret_file).await?;
        let client = HttpClient::from_config(config)?;
        // Key fetches share the pool and the well-known discovery cache.
        let keyring = Keyring::from_config(config, client.clone(), Arc::new(SystemClock));
        Self::new(config, secret, client, keyring)
    }

    /// Builds the routing tables from `config` and the given parts.
    pub(super) fn new(
        config: &Config,
        secret: Secret,
        client: HttpClient,
        keyring: Keyring,
    ) -> Result<Self, OutboundSetupError> {
        let outbound = config
            .outbound
            .as_ref()
            .ok_or(OutboundSetupError::NotConfigured)?;
        let per_destination = outbound.max_concurrency_per_destination.max(1);
        let homeservers = config.homeservers.iter().map(|hs| &hs.server_name);
        let remotes = config.remotes.iter().map(|r| &r.server_name);
        let slots = homeservers
            .clone()
            .chain(remotes.clone())
            .filter(|name| client.has_destination(name))
            .map(|name| (name.clone(), Arc::new(Semaphore::new(per_destination))))
            .collect();
        let unpinned = remotes
            .filter(|name| !client.has_destination(name))
            .cloned()
            .collect();
        Ok(Self {
            mode: config.gateway.mode,
            verify: config.gateway.verify,
            secret,
            homeservers: homeservers.cloned().collect(),
            unpinned,
            slots,
            client,
            keyring,
            max_body: config.inbound.limits.max_body_send,
            request_timeout: config.inbound.limits.request_timeout,
            slot_timeout: outbound.response_timeout,
        })
    }

    /// The configured destination named by a request-target's authority.
    pub(super) fn route(&self, authority: &str) -> Result<ServerName, Refusal> {
        let untrusted = || Refusal::UntrustedDestination(authority.to_owned());
        let name = ServerName::parse(authority).map_err(|_| untrusted())?;
        if self.client.has_destination(&name) {
            Ok(name)
        } else if self.unpinned.contains(&name) {
            Err(Refusal::NoPinnedAddress(name))
        } else {
            Err(untrusted())
        }
    }
}
