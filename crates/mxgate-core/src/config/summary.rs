//! The human-readable summary printed at startup and by `check-config`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Config, Discovery, Mode, OutboundListen};

impl Config {
    /// A few lines describing what this configuration does: mode, listeners,
    /// fronted homeservers and trusted remotes grouped by tier.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let mode = match self.gateway.mode {
            Mode::Enforce => "enforce",
            Mode::Report => "report (log and count refusals, refuse nothing)",
        };
        let _ = writeln!(out, "mode: {mode}");
        if !self.gateway.verify {
            let _ = writeln!(
                out,
                "WARNING: verify = false: pass-through bench mode, never use in production"
            );
        }
        let _ = writeln!(out, "state_dir: {}", self.gateway.state_dir.display());
        self.write_listeners(&mut out);
        let _ = writeln!(out, "fronted homeservers ({}):", self.homeservers.len());
        for hs in &self.homeservers {
            let pinned = if hs.keys.is_empty() {
                String::new()
            } else {
                format!(", {} pinned key(s)", hs.keys.len())
            };
            let _ = writeln!(out, "  {} -> {}{pinned}", hs.server_name, hs.upstream);
        }
        self.write_remotes(&mut out);
        out
    }

    fn write_listeners(&self, out: &mut String) {
        let tls = match self.inbound.tls.len() {
            0 => "plain HTTP".to_owned(),
            n => format!("TLS, {n} certificate(s)"),
        };
        let _ = writeln!(out, "inbound: {} ({tls})", self.inbound.listen);
        if let Some(admin) = &self.admin {
            let _ = writeln!(out, "admin: {}", admin.listen);
        }
        match self.outbound.as_ref().map(|o| &o.listen) {
            Some(OutboundListen::Tcp(addr)) => {
                let _ = writeln!(out, "outbound proxy: {addr}");
            }
            Some(OutboundListen::Unix(path)) => {
                let _ = writeln!(out, "outbound proxy: unix:{}", path.display());
            }
            None => {
                let _ = writeln!(out, "outbound proxy: off");
            }
        }
    }

    fn write_remotes(&self, out: &mut String) {
        let mut by_tier: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for remote in &self.remotes {
            let address = match (remote.discovery, &remote.address) {
                (Discovery::Pinned, Some(address)) => address.to_string(),
                _ => "well-known discovery".to_owned(),
            };
            let keys = if remote.keys.is_empty() {
                "keys fetched"
            } else {
                "keys pinned"
            };
            by_tier
                .entry(&remote.tier)
                .or_default()
                .push(format!("{} at {address}, {keys}", remote.server_name));
        }
        let _ = writeln!(out, "trusted remotes ({}):", self.remotes.len());
        for (tier, remotes) in by_tier {
            let _ = writeln!(out, "  tier {tier}:");
            for remote in remotes {
                let _ = writeln!(out, "    {remote}");
            }
        }
    }
}
