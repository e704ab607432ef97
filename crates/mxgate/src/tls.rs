//! rustls configuration: the inbound server side (PEM certificate chains,
//! SNI-based certificate selection, certificates swappable at run time by
//! [`ReloadableCerts`], ALPN `h2` + `http/1.1`) and the client side's root
//! stores (pinned CA files, system roots).
//!
//! Only the `ring` crypto provider is used. Every error names the file it
//! came from, so an operator sees which path in the config is wrong.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock, RwLock},
};

use rustls::{
    RootCertStore, ServerConfig,
    crypto::CryptoProvider,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};

/// ALPN protocol ids offered and accepted, most preferred first.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A certificate chain and its private key, as PEM file paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertKeyPaths {
    /// PEM file holding the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file holding the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: rustls_pki_types::pem::Error,
    },
    /// A PEM file held no certificate.
    #[error("{0}: no certificate found")]
    NoCertificate(PathBuf),
    /// The private key does not suit the certificate or is unsupported.
    #[error("{path}: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// A CA certificate was rejected as a trust anchor.
    #[error("{path}: invalid CA certificate: {source}")]
    Anchor {
        /// The CA file.
        path: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// No server certificate was configured.
    #[error("no certificate/key pair configured")]
    NoPairs,
    /// The system trust store yielded no usable root.
    #[error("no usable system CA certificates found")]
    NoSystemRoots,
    /// rustls refused the protocol configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

impl TlsError {
    /// A stable snake_case label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Pem { .. } => "tls_pem",
            Self::NoCertificate(_) => "tls_no_certificate",
            Self::Key { .. } => "tls_key",
            Self::Anchor { .. } => "tls_ca",
            Self::NoPairs => "tls_no_pairs",
            Self::NoSystemRoots => "tls_no_system_roots",
            Self::Config(_) => "tls_config",
        }
    }
}

/// The process-wide crypto provider (`ring`).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Builds the inbound server configuration: one or more certificate/key
/// pairs chosen by SNI (the first pair when the client sends no SNI or an
/// unknown name), ALPN `h2` and `http/1.1`.
pub fn server_config(pairs: &[CertKeyPaths]) -> Result<ServerConfig, TlsError> {
    server_config_with(Arc::new(SniResolver::load(pairs)?))
}

/// Builds the inbound server configuration around a certificate resolver
/// (e.g. a [`ReloadableCerts`]), with ALPN `h2` and `http/1.1`.
pub fn server_config_with(resolver: Arc<dyn ResolvesServerCert>) -> Result<ServerConfig, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Loads one certificate chain and private key into a rustls [`CertifiedKey`].
pub fn load_certified_key(paths: &CertKeyPaths) -> Result<CertifiedKey, TlsError> {
    let chain = load_certs(&paths.cert)?;
    let key = PrivateKeyDer::from_pem_file(&paths.key).map_err(|source| TlsError::Pem {
        path: paths.key.clone(),
        source,
    })?;
    let key_error = |source| TlsError::Key {
        path: paths.key.clone(),
        source,
    };
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(key_error)?;
    Ok(certified)
}

/// Reads every certificate of a PEM file (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |source| TlsError::Pem {
        path: path.to_path_buf(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

/// A root store holding exactly the certificates of the given PEM files.
pub fn root_store_from_files(paths: &[PathBuf]) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for path in paths {
        for cert in load_certs(path)? {
            store.add(cert).map_err(|source| TlsError::Anchor {
                path: path.clone(),
                source,
            })?;
        }
    }
    Ok(store)
}

/// The operating system's trust store, loaded once per process.
///
/// Certificates the system store holds but rustls can't use are skipped.
pub fn system_root_store() -> Result<Arc<RootCertStore>, TlsError> {
    static SYSTEM: OnceLock<Option<Arc<RootCertStore>>> = OnceLock::new();
    SYSTEM
        .get_or_init(load_system_roots)
        .clone()
        .ok_or(TlsError::NoSystemRoots)
}

/// Selects the server certificate by SNI: the first pair whose leaf
/// certificate is valid for the requested name, else the first pair.
pub struct SniResolver {
    keys: Vec<Arc<CertifiedKey>>,
}

impl SniResolver {
    /// Loads every pair; the first one is the default.
    pub fn load(pairs: &[CertKeyPaths]) -> Result<Self, TlsError> {
        if pairs.is_empty() {
            return Err(TlsError::NoPairs);
        }
        let keys = pairs
            .iter()
            .map(|paths| load_certified_key(paths).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { keys })
    }

    /// The pair served for `sni` (`None`: the client sent no SNI).
    pub fn select(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let chosen = sni
            .and_then(|name| ServerName::try_from(name).ok())
            .and_then(|name| self.keys.iter().find(|key| leaf_matches(key, &name)));
        chosen.or_else(|| self.keys.first()).cloned()
    }
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SniResolver")
            .field("pairs", &self.keys.len())
            .finish()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.select(hello.server_name())
    }
}

/// The inbound certificates, replaceable while serving: each TLS handshake
/// uses the [`SniResolver`] current at that moment, so a reload (`SIGHUP`)
/// affects new connections only; established ones keep their session.
pub struct ReloadableCerts {
    current: RwLock<Arc<SniResolver>>,
}

impl ReloadableCerts {
    /// Starts with these loaded certificates.
    pub fn new(resolver: SniResolver) -> Self {
        Self {
            current: RwLock::new(Arc::new(resolver)),
        }
    }

    /// Loads every pair (see [`SniResolver::load`]).
    pub fn load(pairs: &[CertKeyPaths]) -> Result<Self, TlsError> {
        Ok(Self::new(SniResolver::load(pairs)?))
    }

    /// Loads the pairs and, only if all of them load, serves them from the
    /// next handshake on. On error the current certificates stay.
    pub fn reload(&self, pairs: &[CertKeyPaths]) -> Result<(), TlsError> {
        self.replace(SniResolver::load(pairs)?);
        Ok(())
    }

    /// Serves `resolver` from the next handshake on.
    pub fn replace(&self, resolver: SniResolver) {
        let resolver = Arc::new(resolver);
        match self.current.write() {
            Ok(mut guard) => *guard = resolver,
            Err(poisoned) => *poisoned.into_inner() = resolver,
        }
    }

    /// The certificates served now.
    pub fn current(&self) -> Arc<SniResolver> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl fmt::Debug for ReloadableCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReloadableCerts")
            .field(&self.current())
            .finish()
    }
}

impl ResolvesServerCert for ReloadableCerts {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current().select(hello.server_name())
    }
}

fn leaf_matches(key: &CertifiedKey, name: &ServerName<'_>) -> bool {
    let Some(leaf) = key.cert.first() else {
        return false;
    };
    webpki::EndEntityCert::try_from(leaf)
        .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(name).is_ok())
}

fn load_system_roots() -> Option<Arc<RootCertStore>> {
    let loaded = rustls_native_certs::load_native_certs();
    for error in &loaded.errors {
        tracing::warn!(%error, "skipping part of the system trust store");
    }
    let mut store = RootCertStore::empty();
    let (added, ignored) = store.add_parsable_certificates(loaded.certs);
    if ignored > 0 {
        tracing::debug!(added, ignored, "unusable system CA certificates skipped");
    }
    (added > 0).then(|| Arc::new(store))
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, KeyPair};

    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mxgate-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn self_signed(dir: &Path, name: &str) -> CertKeyPaths {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let paths = CertKeyPaths {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&paths.cert, cert.pem()).unwrap();
        std::fs::write(&paths.key, key.serialize_pem()).unwrap();
        paths
    }

    fn leaf_of(key: &CertifiedKey) -> &[u8] {
        key.cert[0].as_ref()
    }

    #[test]
    fn sni_selects_the_matching_pair_and_defaults_to_the_first() {
        let dir = temp_dir("sni");
        let pairs = [self_signed(&dir, "a.test"), self_signed(&dir, "b.test")];
        let resolver = SniResolver::load(&pairs).unwrap();
        let a = load_certified_key(&pairs[0]).unwrap();
        let b = load_certified_key(&pairs[1]).unwrap();
        let pick = |sni| resolver.select(sni).unwrap();
        assert_eq!(leaf_of(&pick(Some("b.test"))), leaf_of(&b));
        assert_eq!(leaf_of(&pick(Some("a.test"))), leaf_of(&a));
        assert_eq!(leaf_of(&pick(None)), leaf_of(&a));
        assert_eq!(leaf_of(&pick(Some("other.test"))), leaf_of(&a));
        let config = server_config(&pairs).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = temp_dir("errors");
        let missing = dir.join("missing.pem");
        let err = load_certs(&missing).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        assert_eq!(err.reason(), "tls_pem");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no PEM here\n").unwrap();
        assert!(matches!(load_certs(&empty), Err(TlsError::NoCertificate(p)) if p == empty));
        assert!(matches!(SniResolver::load(&[]), Err(TlsError::NoPairs)));
        let a = self_signed(&dir, "a.test");
        let b = self_signed(&dir, "b.test");
        let mismatched = CertKeyPaths {
            cert: a.cert,
            key: b.key.clone(),
        };
        let err = load_certified_key(&mismatched).unwrap_err();
        assert_eq!(err.reason(), "tls_key", "{err}");
        assert!(err.to_string().contains("b.test.key"), "{err}");
    }

    #[test]
    fn reload_swaps_only_after_a_complete_load() {
        let dir = temp_dir("reload");
        let a = self_signed(&dir, "a.test");
        let b = self_signed(&dir, "b.test");
        let certs = ReloadableCerts::load(std::slice::from_ref(&a)).unwrap();
        let served = || certs.current().select(None).unwrap();
        let leaf_a = load_certified_key(&a).unwrap();
        assert_eq!(leaf_of(&served()), leaf_of(&leaf_a));
        let broken = CertKeyPaths {
            cert: b.cert.clone(),
            key: dir.join("missing.key"),
        };
        let err = certs.reload(&[b.clone(), broken]).unwrap_err();
        assert_eq!(err.reason(), "tls_pem", "{err}");
        assert_eq!(leaf_of(&served()), leaf_of(&leaf_a), "old pair kept");
        assert!(matches!(certs.reload(&[]), Err(TlsError::NoPairs)));
        certs.reload(std::slice::from_ref(&b)).unwrap();
        let leaf_b = load_certified_key(&b).unwrap();
        assert_eq!(leaf_of(&served()), leaf_of(&leaf_b));
    }
}
