//! From the raw file to a typed [`Config`], collecting every problem.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;

use super::raw::{RawConfig, RawGateway, RawHomeserver, RawInbound, RawOutbound, RawRemote};
use super::read::quote_key;
use super::values::{parse_socket_addr, parse_verify_key};
use super::{
    Admin, Config, ConfigProblem, Discovery, Gateway, Homeserver, HostPort, Inbound, InboundLimits,
    Outbound, OutboundListen, ProblemKind, Remote, SpkiPin, TlsFiles, Upstream,
};
use crate::ids::{KeyId, ServerName};
use crate::policy::TierRights;

/// Validates every value of a well-shaped document.
pub(super) fn build(raw: RawConfig, base_dir: &Path) -> Result<Config, Vec<ConfigProblem>> {
    let mut cx = Ctx {
        base_dir,
        problems: Vec::new(),
    };
    let gateway = cx.gateway(raw.gateway);
    let inbound = cx.inbound(raw.inbound);
    let admin = raw
        .admin
        .and_then(|a| cx.socket_addr("admin.listen", &a.listen))
        .map(|listen| Admin { listen });
    cx.check_tiers(&raw.tiers);
    cx.check_unique_names(&raw.homeserver, &raw.remote);
    if raw.homeserver.is_empty() {
        cx.problems
            .push(ConfigProblem::new("homeserver", ProblemKind::NoHomeserver));
    }
    let homeservers: Vec<_> = raw
        .homeserver
        .into_iter()
        .enumerate()
        .filter_map(|(i, h)| cx.homeserver(i, h))
        .collect();
    let remotes: Vec<_> = raw
        .remote
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| cx.remote(i, r, &raw.tiers))
        .collect();
    let outbound = lift(raw.outbound.map(|o| cx.outbound(o)));
    Ok(match (gateway, inbound, outbound) {
        (Some(gateway), Some(inbound), Some(outbound)) if cx.problems.is_empty() => Config {
            gateway,
            inbound,
            admin,
            homeservers,
            remotes,
            outbound,
            tiers: raw.tiers,
            trust: raw.trust,
        },
        _ => return Err(cx.problems),
    })
}

/// Validation state: where relative paths start, and the problems so far.
struct Ctx<'a> {
    base_dir: &'a Path,
    problems: Vec<ConfigProblem>,
}

impl Ctx<'_> {
    fn gateway(&mut self, raw: RawGateway) -> Option<Gateway> {
        let state_dir = self.path("gateway.state_dir", raw.state_dir);
        let audit_log = raw.audit_log.map(|p| self.path("gateway.audit_log", p));
        Some(Gateway {
            mode: raw.mode,
            state_dir: state_dir?,
            audit_log: lift(audit_log)?,
            verify: raw.verify,
            batch_verify: raw.batch_verify,
        })
    }

    fn inbound(&mut self, raw: RawInbound) -> Option<Inbound> {
        let listen = self.socket_addr("inbound.listen", &raw.listen);
        let limits = self.limits(&raw);
        let mut tls = Vec::new();
        for (i, pair) in raw.tls.into_iter().enumerate() {
            let cert = self.path(format!("inbound.tls[{i}].cert"), pair.cert);
            let key = self.path(format!("inbound.tls[{i}].key"), pair.key);
            if let (Some(cert), Some(key)) = (cert, key) {
                tls.push(TlsFiles { cert, key });
            }
        }
        Some(Inbound {
            listen: listen?,
            tls,
            well_known: raw.well_known,
            limits: limits?,
        })
    }

    fn limits(&mut self, raw: &RawInbound) -> Option<InboundLimits> {
        let min_send = InboundLimits::MIN_BODY_SEND as u64;
        let max_header_bytes = self.count("inbound.max_header_bytes", raw.max_header_bytes, 1);
        let max_headers = self.count("inbound.max_headers", raw.max_headers, 1);
        let max_body_send = self.count("inbound.max_body_send", raw.max_body_send, min_send);
        let max_body_other = self.count("inbound.max_body_other", raw.max_body_other, 1);
        let request_timeout = self.secs("inbound.request_timeout_secs", raw.request_timeout_secs);
        let idle_timeout = self.secs("inbound.idle_timeout_secs", raw.idle_timeout_secs);
        let max_connections = self.count("inbound.max_connections", raw.max_connections, 1);
        let rate = raw.rate_limit_per_origin_per_sec;
        let rate_limit_per_origin_per_sec =
            self.count("inbound.rate_limit_per_origin_per_sec", rate, 1);
        let rate_limit_burst = self.count("inbound.rate_limit_burst", raw.rate_limit_burst, 1);
        Some(InboundLimits {
            max_header_bytes: max_header_bytes?,
            max_headers: max_headers?,
            max_body_send: max_body_send?,
            max_body_other: max_body_other?,
            request_timeout: request_timeout?,
            idle_timeout: idle_timeout?,
            max_connections: max_connections?,
            rate_limit_per_origin_per_sec: rate_limit_per_origin_per_sec?,
            rate_limit_burst: rate_limit_burst?,
        })
    }

    fn homeserver(&mut self, i: usize, raw: RawHomeserver) -> Option<Homeserver> {
        let at = format!("homeserver[{i}]");
        let server_name = self.check(
            format!("{at}.server_name"),
            "server name",
            ServerName::parse(&raw.server_name),
        );
        let upstream = self.check(
            format!("{at}.upstream"),
            "upstream URL",
            Upstream::parse(&raw.upstream),
        );
        let keys = self.keys(&at, raw.keys);
        let ca = raw.ca.map(|p| self.path(format!("{at}.ca"), p));
        let well_known_server = raw.well_known_server.map(|s| {
            self.check(
                format!("{at}.well_known_server"),
                "server name",
                ServerName::parse(&s),
            )
        });
        Some(Homeserver {
            server_name: server_name?,
            upstream: upstream?,
            keys: keys?,
            ca: lift(ca)?,
            well_known_server: lift(well_known_server)?,
        })
    }

    fn remote(
        &mut self,
        i: usize,
        raw: RawRemote,
        tiers: &BTreeMap<String, TierRights>,
    ) -> Option<Remote> {
        let at = format!("remote[{i}]");
        let server_name = self.check(
            format!("{at}.server_name"),
            "server name",
            ServerName::parse(&raw.server_name),
        );
        let tier_known = TierRights::builtin(&raw.tier).is_some() || tiers.contains_key(&raw.tier);
        if !tier_known {
            self.problems.push(ConfigProblem::new(
                format!("{at}.tier"),
                ProblemKind::UnknownTier(raw.tier.clone()),
            ));
        }
        let address = self.address(&at, raw.discovery, raw.address.as_deref());
        let keys = self.keys(&at, raw.keys);
        let ca = raw.ca.map(|p| self.path(format!("{at}.ca"), p));
        let mut spki_pins = Vec::new();
        for (j, pin) in raw.spki_pins.iter().enumerate() {
            spki_pins.extend(self.check(
                format!("{at}.spki_pins[{j}]"),
                "SPKI pin",
                SpkiPin::parse(pin),
            ));
        }
        let pins_ok = spki_pins.len() == raw.spki_pins.len();
        Some(Remote {
            server_name: server_name?,
            tier: tier_known.then_some(raw.tier)?,
            address: address?,
            keys: keys?,
            ca: lift(ca)?,
            spki_pins: pins_ok.then_some(spki_pins)?,
            discovery: raw.discovery,
        })
    }

    /// A remote's `address`: required with pinned discovery, refused with well-known.
    fn address(
        &mut self,
        at: &str,
        discovery: Discovery,
        raw: Option<&str>,
    ) -> Option<Option<HostPort>> {
        let path = format!("{at}.address");
        match (discovery, raw) {
            (Discovery::Pinned, Some(text)) => self
                .check(path, "host:port address", HostPort::parse(text))
                .map(Some),
            (Discovery::WellKnown, None) => Some(None),
            (Discovery::Pinned, None) => {
                self.problems.push(ConfigProblem::new(
                    path,
                    ProblemKind::Missing("unless discovery = \"well-known\""),
                ));
                None
            }
            (Discovery::WellKnown, Some(_)) => {
                self.problems.push(ConfigProblem::new(
                    path,
                    ProblemKind::Conflict("with discovery = \"well-known\""),
                ));
                None
            }
        }
    }

    fn outbound(&mut self, raw: RawOutbound) -> Option<Outbound> {
        let listen = match raw.listen.strip_prefix("unix:") {
            Some(path) => self
                .path("outbound.listen", PathBuf::from(path))
                .map(OutboundListen::Unix),
            None => self
                .socket_addr("outbound.listen", &raw.listen)
                .map(OutboundListen::Tcp),
        };
        let secret_file = match raw.secret_file {
            Some(p) => self.path("outbound.secret_file", p),
            None => {
                let kind = ProblemKind::Missing("when [outbound] is present");
                self.problems
                    .push(ConfigProblem::new("outbound.secret_file", kind));
                None
            }
        };
        let ca = raw.ca.map(|p| self.path("outbound.ca", p));
        let connect_timeout = self.secs("outbound.connect_timeout_secs", raw.connect_timeout_secs);
        let response_timeout =
            self.secs("outbound.response_timeout_secs", raw.response_timeout_secs);
        let max_concurrency = self.count(
            "outbound.max_concurrency_per_destination",
            raw.max_concurrency_per_destination,
            1,
        );
        Some(Outbound {
            listen: listen?,
            secret_file: secret_file?,
            ca: lift(ca)?,
            connect_timeout: connect_timeout?,
            response_timeout: response_timeout?,
            max_concurrency_per_destination: max_concurrency?,
        })
    }

    fn check_tiers(&mut self, tiers: &BTreeMap<String, TierRights>) {
        for name in tiers
            .keys()
            .filter(|name| TierRights::builtin(name).is_some())
        {
            let path = format!("tiers.{}", quote_key(name));
            self.problems.push(ConfigProblem::new(
                path,
                ProblemKind::BuiltinTier(name.clone()),
            ));
        }
    }

    /// Server names must be unique across `[[homeserver]]` and `[[remote]]`
    /// (compared case-insensitively, as DNS names are).
    fn check_unique_names(&mut self, homeservers: &[RawHomeserver], remotes: &[RawRemote]) {
        let hs = homeservers
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("homeserver[{i}].server_name"), &h.server_name));
        let rs = remotes
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("remote[{i}].server_name"), &r.server_name));
        let mut first_seen: BTreeMap<String, String> = BTreeMap::new();
        for (path, name) in hs.chain(rs) {
            match first_seen.get(&name.to_ascii_lowercase()) {
                Some(first) => {
                    let kind = ProblemKind::DuplicateServer {
                        name: name.clone(),
                        first: first.clone(),
                    };
                    self.problems.push(ConfigProblem::new(path, kind));
                }
                None => {
                    first_seen.insert(name.to_ascii_lowercase(), path);
                }
            }
        }
    }

    /// Pinned keys: a table of key id to base64 public key.
    fn keys(
        &mut self,
        at: &str,
        raw: BTreeMap<String, String>,
    ) -> Option<BTreeMap<KeyId, VerifyingKey>> {
        let mut keys = BTreeMap::new();
        let mut all_ok = true;
        for (id, b64) in raw {
            let path = format!("{at}.keys.{}", quote_key(&id));
            let key_id = self.check(path.clone(), "key id", KeyId::parse(&id));
            let key = self.check(path, "base64 ed25519 public key", parse_verify_key(&b64));
            match (key_id, key) {
                (Some(key_id), Some(key)) => {
                    keys.insert(key_id, key);
                }
                _ => all_ok = false,
            }
        }
        all_ok.then_some(keys)
    }

    fn check<T, E: Display>(
        &mut self,
        path: String,
        expected: &'static str,
        r: Result<T, E>,
    ) -> Option<T> {
        r.map_err(|e| {
            self.problems
                .push(ConfigProblem::invalid(path, expected, e))
        })
        .ok()
    }

    fn socket_addr(&mut self, path: &str, text: &str) -> Option<std::net::SocketAddr> {
        self.check(path.to_owned(), "listen address", parse_socket_addr(text))
    }

    /// A path made absolute against the configuration file's directory.
    fn path(&mut self, path: impl Into<String>, value: PathBuf) -> Option<PathBuf> {
        if value.as_os_str().is_empty() {
            self.problems
                .push(ConfigProblem::invalid(path, "path", "empty"));
            return None;
        }
        Some(self.base_dir.join(value))
    }

    /// A count of at least `min` that fits the target integer type.
    fn count<T: TryFrom<u64>>(&mut self, path: &str, value: u64, min: u64) -> Option<T> {
        let fitted = T::try_from(value).ok().filter(|_| value >= min);
        if fitted.is_none() {
            let kind = ProblemKind::OutOfRange(format!(
                "at least {min} (and fit in {})",
                std::any::type_name::<T>()
            ));
            self.problems.push(ConfigProblem::new(path, kind));
        }
        fitted
    }

    fn secs(&mut self, path: &str, value: u64) -> Option<Duration> {
        self.count::<u64>(path, value, 1).map(Duration::from_secs)
    }
}

/// An optional value that failed (`Some(None)`) becomes `None`; an absent one
/// (`None`) becomes `Some(None)`.
fn lift<T>(value: Option<Option<T>>) -> Option<Option<T>> {
    match value {
        None => Some(None),
        Some(inner) => inner.map(Some),
    }
}
