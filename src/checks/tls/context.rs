//! What the TLS check shares across probes, built once per config: the CDN's roots (for rustls
//! and for OpenSSL), the recording rustls config, the AIA cache, the cache of analysed chains,
//! the CDN-profile clients.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm};
use rustls::{ClientConfig, RootCertStore};

use super::{aia, cdn_client, facts_cache, fallback};
use crate::analysis;
use crate::checks::ContextError;

/// What the TLS check shares across probes: parsed roots, the recording rustls config, the AIA
/// cache. Built once per config.
#[derive(Debug)]
pub struct TlsContext {
    /// The CDN's trust store: Mozilla's roots (webpki-roots) plus `global.ca_file`.
    pub roots: RootCertStore,
    /// The same roots for OpenSSL, whose chain building (first matching issuer, no
    /// backtracking) is the CDN's: it judges trust.
    pub cdn_store: CdnStore,
    pub provider: Arc<CryptoProvider>,
    pub recording: Arc<ClientConfig>,
    pub aia: aia::AiaCache,
    /// Analysed chains by content: most origins serve the same chain every cycle.
    pub(super) facts: facts_cache::FactsCache,
    /// The CDN-profile OpenSSL clients, per allowed versions and client certificate.
    pub clients: cdn_client::CdnClients,
}

impl TlsContext {
    /// The context with `ca_file` read now and a crypto provider of its own (see
    /// [`Self::from_pem`]).
    pub fn new(ca_file: Option<&Path>) -> Result<TlsContext, ContextError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        match ca_file {
            None => Self::from_pem(None, provider),
            Some(path) => {
                let pem = crate::checks::context::read_ca_file(path)?;
                Self::from_pem(Some((path, &pem)), provider)
            }
        }
    }

    /// The context with the roots of `ca_file`, given as the file's path and the content read
    /// from it (the content is what a reload compares).
    /// `provider` is the probe context's one crypto provider.
    pub fn from_pem(
        ca_file: Option<(&Path, &[u8])>,
        provider: Arc<CryptoProvider>,
    ) -> Result<TlsContext, ContextError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut whole: Vec<CertificateDer<'static>> =
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.to_vec();
        if let Some((path, pem)) = ca_file {
            let err = |reason: String| ContextError::CaFile {
                file: path.display().to_string(),
                reason,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|e| err(e.to_string()))?;
            if certs.is_empty() {
                return Err(err("no PEM certificate in the file".into()));
            }
            for cert in certs {
                roots.add(cert.clone()).map_err(|e| err(e.to_string()))?;
                whole.push(cert);
            }
        }
        let cdn_store = analysis::cdn_store(whole.iter().map(|c| c.as_ref()))
            .map(CdnStore)
            .map_err(|e| ContextError::Tls(rustls::Error::General(e.to_string())))?;
        let recording =
            fallback::recording_config(Arc::clone(&provider)).map_err(ContextError::Tls)?;
        Ok(TlsContext {
            roots,
            cdn_store,
            provider,
            recording: Arc::new(recording),
            aia: aia::AiaCache::default(),
            facts: facts_cache::FactsCache::default(),
            clients: cdn_client::CdnClients::default(),
        })
    }

    pub(super) fn algorithms(&self) -> &'static [&'static dyn SignatureVerificationAlgorithm] {
        self.provider.signature_verification_algorithms.all
    }

    pub(super) fn random(&self) -> [u8; 32] {
        let mut r = [0u8; 32];
        // The random only has to differ between hellos; a failing RNG leaves zeros, harmless
        // for a handshake that is never finished.
        let _ = self.provider.secure_random.fill(&mut r);
        r
    }
}

/// OpenSSL's trust store of the CDN's roots (a newtype: `X509Store` has no `Debug`).
pub struct CdnStore(pub openssl::x509::store::X509Store);

impl std::fmt::Debug for CdnStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CdnStore")
    }
}
