//! The served chain of origins that show it only encrypted (TLS 1.3): a real rustls handshake
//! whose verifier accepts anything, so that a broken chain is still seen, never hidden. The chain
//! is analysed separately ([`crate::analysis`]); this handshake proves nothing about trust.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::analysis::MAX_CHAIN;
use crate::cdn::TlsVersion;
use crate::checks::dial;

/// Accepts every certificate; handshake signatures are still checked, so the chain recorded is
/// the one the server holds the key for. Shared by every handshake that must not be stopped by
/// a certificate the chain analysis judges anyway (this one, and the HTTP check's).
#[derive(Debug)]
pub struct AcceptAnyCertificate(pub Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The client config of the chain-recording handshake: built once per probe context.
pub fn recording_config(provider: Arc<CryptoProvider>) -> Result<ClientConfig, rustls::Error> {
    let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    // A resumed session sends no certificates: every probe must see the chain.
    config.resumption = Resumption::disabled();
    Ok(config)
}

/// What the recording handshake saw.
#[derive(Debug)]
pub struct Recorded {
    pub chain: Vec<CertificateDer<'static>>,
    pub version: Option<TlsVersion>,
    pub suite: Option<u16>,
}

/// Handshakes with `addr` by `sni` until `deadline`; `None` when it fails in any way.
pub async fn record_chain(
    config: &Arc<ClientConfig>,
    addr: SocketAddr,
    sni: &str,
    deadline: Instant,
) -> Option<Recorded> {
    let name = ServerName::try_from(sni.to_string()).ok()?;
    let work = async {
        let tcp = dial::connect(addr).await.ok()?;
        let tls = TlsConnector::from(Arc::clone(config))
            .connect(name, tcp)
            .await
            .ok()?;
        let conn = tls.get_ref().1;
        Some(Recorded {
            chain: conn
                .peer_certificates()
                .unwrap_or_default()
                .iter()
                .take(MAX_CHAIN)
                .map(|c| c.clone().into_owned())
                .collect(),
            version: conn
                .protocol_version()
                .and_then(|v| TlsVersion::from_wire(u16::from(v))),
            suite: conn.negotiated_cipher_suite().map(|s| u16::from(s.suite())),
        })
    };
    tokio::time::timeout_at(deadline, work).await.ok().flatten()
}
