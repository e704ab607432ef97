//! The servers an [`HttpClient`](super::HttpClient) may talk to: how each is
//! reached (fixed route or well-known discovery), its TLS roots, and its
//! `scheme://authority`, parsed once.

use std::{path::PathBuf, sync::Arc};

use hyper::{
    Uri,
    http::uri::{self, Authority, PathAndQuery},
};
use mxgate_core::{
    config::{Homeserver, HostPort, Scheme, SpkiPin, Upstream},
    ids::ServerName,
};
use rustls::{ClientConfig, RootCertStore};

use super::{
    ClientError, connector,
    connector::Route,
    discovery::{self, DiscoveryOptions, WellKnownSpec},
    pins,
};
use crate::tls::{self, TlsError};

/// TLS settings for one destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM files whose certificates are the only trusted roots; empty = the
    /// system trust store.
    pub ca_files: Vec<PathBuf>,
    /// Accepted SHA-256 digests of the leaf's SubjectPublicKeyInfo; empty =
    /// no pinning.
    pub spki_pins: Vec<SpkiPin>,
}

/// A server the client may talk to, and how.
#[derive(Clone)]
pub struct Destination {
    pub(super) server: ServerName,
    pub(super) base: String,
    pub(super) via: Via,
}

/// A destination's `scheme://authority`, parsed once.
#[derive(Clone)]
pub(super) struct Base {
    scheme: uri::Scheme,
    authority: Authority,
}

impl Base {
    pub(super) fn parse(base: &str) -> Result<Self, ClientError> {
        let invalid = || ClientError::InvalidUri(base.to_owned());
        let uri: Uri = base.parse().map_err(|_| invalid())?;
        let parts = uri.into_parts();
        Ok(Self {
            scheme: parts.scheme.ok_or_else(invalid)?,
            authority: parts.authority.ok_or_else(invalid)?,
        })
    }

    pub(super) fn uri(&self, path_and_query: PathAndQuery) -> Result<Uri, ClientError> {
        let mut parts = uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).map_err(|error| ClientError::InvalidUri(error.to_string()))
    }
}

/// How a destination is reached.
#[derive(Clone)]
pub(super) enum Via {
    /// A fixed route.
    Route(Arc<Route>),
    /// A route resolved through `/.well-known/matrix/server`.
    WellKnown(Arc<WellKnownSpec>),
}

impl Destination {
    /// A configured `[[homeserver]]`: its upstream URL, trusting its `ca`
    /// file when set (else the system roots, for an `https` upstream).
    pub fn homeserver(hs: &Homeserver) -> Result<Self, ClientError> {
        let tls = TlsSettings {
            ca_files: hs.ca.iter().cloned().collect(),
            spki_pins: Vec::new(),
        };
        Self::upstream(hs.server_name.clone(), &hs.upstream, &tls)
    }

    /// An internal homeserver reached at its upstream URL.
    pub fn upstream(
        server: ServerName,
        upstream: &Upstream,
        tls: &TlsSettings,
    ) -> Result<Self, ClientError> {
        let tls = match upstream.scheme {
            Scheme::Http => None,
            Scheme::Https => Some(connector::TlsTarget::new(
                &upstream.host,
                client_config(tls)?,
            )?),
        };
        let route = Route::new(&upstream.host, upstream.port, tls);
        Ok(Self {
            base: upstream.to_string(),
            server,
            via: Via::Route(Arc::new(route)),
        })
    }

    /// A remote server reached over TLS at `address`, with the server name's
    /// host as TLS name. Without `address`: the server name's host and port
    /// (default 8448).
    pub fn remote(
        server: ServerName,
        address: Option<&HostPort>,
        tls: &TlsSettings,
    ) -> Result<Self, ClientError> {
        let target = connector::TlsTarget::new(server.host(), client_config(tls)?)?;
        let route = match address {
            Some(address) => Route::new(&address.host, address.port, Some(target)),
            None => Route::new(
                server.host(),
                server.port().unwrap_or(discovery::DEFAULT_PORT),
                Some(target),
            ),
        };
        Ok(Self {
            base: format!("https://{server}"),
            server,
            via: Via::Route(Arc::new(route)),
        })
    }

    /// A remote server found by the spec's server-name resolution (see
    /// [`discovery`]): an IP literal or a name with an explicit port is
    /// reached at itself at once; any other name through its
    /// `/.well-known/matrix/server` delegation, resolved on first use.
    pub fn well_known(
        server: ServerName,
        tls: &TlsSettings,
        options: DiscoveryOptions,
    ) -> Result<Self, ClientError> {
        if server.is_ip_literal() || server.port().is_some() {
            return Self::remote(server, None, tls);
        }
        let config = client_config(tls)?;
        let mut fetch_tls = (*config).clone();
        fetch_tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let spec = WellKnownSpec {
            tls: config,
            fetch_tls: Arc::new(fetch_tls),
            options,
        };
        Ok(Self {
            base: format!("https://{server}"),
            server,
            via: Via::WellKnown(Arc::new(spec)),
        })
    }

    /// The server name.
    pub fn server(&self) -> &ServerName {
        &self.server
    }

    /// `scheme://authority` of the URIs sent to this destination.
    pub fn base(&self) -> &str {
        &self.base
    }
}

fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, ClientError> {
    let roots: Arc<RootCertStore> = if settings.ca_files.is_empty() {
        tls::system_root_store()?
    } else {
        Arc::new(tls::root_store_from_files(&settings.ca_files)?)
    };
    let builder = ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::from)?;
    let mut config = if settings.spki_pins.is_empty() {
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let verifier = pins::SpkiPinVerifier::new(roots, &settings.spki_pins)?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    };
    config.alpn_protocols = tls::ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
