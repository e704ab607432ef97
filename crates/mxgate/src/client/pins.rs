//! SPKI pinning: the usual WebPKI verification (roots, name, validity), then
//! the leaf's SubjectPublicKeyInfo SHA-256 must be one of the pins.

use std::sync::Arc;

use mxgate_core::config::SpkiPin;
use rustls::{
    CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

use super::ClientError;
use crate::tls::{self, TlsError};

/// Wraps the WebPKI verifier and adds the SPKI pin check.
#[derive(Debug)]
pub(crate) struct SpkiPinVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<[u8; 32]>,
}

impl SpkiPinVerifier {
    pub(crate) fn new(roots: Arc<RootCertStore>, pins: &[SpkiPin]) -> Result<Self, ClientError> {
        let inner = WebPkiServerVerifier::builder_with_provider(roots, tls::provider())
            .build()
            .map_err(|e| TlsError::Config(Error::General(e.to_string())))?;
        Ok(Self {
            inner,
            pins: pins.iter().map(|pin| pin.0).collect(),
        })
    }
}

impl ServerCertVerifier for SpkiPinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let digest: [u8; 32] = Sha256::digest(cert.subject_public_key_info().as_ref()).into();
        if self.pins.contains(&digest) {
            Ok(verified)
        } else {
            Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
