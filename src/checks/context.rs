//! What the checks share across origins and cycles: built once per `global` settings, never per
//! probe.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::cdn::CdnProfile;
use crate::config::{Global, Origin};
use crate::netpolicy::Reach;

use super::dns::DnsContext;
use super::http;
use super::tls::aia::{AiaCache, AiaPolicy};
use super::tls::TlsContext;

#[derive(Debug)]
pub struct ProbeContext {
    pub cdn: &'static CdnProfile,
    pub global: Global,
    /// Trust store, rustls config and AIA cache of the TLS check.
    pub tls: TlsContext,
    /// TLS client of the HTTP check (any certificate; the TLS check judges certificates).
    pub http_tls: Arc<rustls::ClientConfig>,
    /// The recursive resolver and the zone-discovery cache.
    pub dns: DnsContext,
    /// Where the exporter serves HTTP, when it does: an ad-hoc probe may not connect to it.
    pub listen: Option<SocketAddr>,
}

impl ProbeContext {
    pub fn new(global: &Global) -> Result<Self, ContextError> {
        let mut tls = TlsContext::new(global.ca_file.as_deref())?;
        let http_tls = http::tls_client(Arc::clone(&tls.provider)).map_err(ContextError::Tls)?;
        let dns = DnsContext::new(global)?;
        // AIA host names resolve through the checks' resolver, and go where the policy says.
        tls.aia = AiaCache::new(AiaPolicy {
            resolver: Some(dns.resolver.clone()),
            allowed: global.aia_allowed_networks.clone(),
            adhoc: global.adhoc.clone(),
        });
        Ok(ProbeContext {
            cdn: global.cdn,
            global: global.clone(),
            tls,
            http_tls,
            dns,
            listen: None,
        })
    }

    /// The context of an exporter serving on `listen`.
    pub fn serving(self, listen: SocketAddr) -> Self {
        ProbeContext {
            listen: Some(listen),
            ..self
        }
    }

    /// Where `origin`'s connections may go ([`super::dial`]): anywhere for a configured or
    /// discovered origin, where the ad-hoc policy allows for a `/probe?target=` one.
    pub fn reach(&self, origin: &Origin) -> Reach {
        match origin.adhoc {
            false => Reach::Configured,
            true => Reach::Adhoc {
                policy: self.global.adhoc.clone(),
                own: self.listen,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{file}: {reason}")]
    CaFile { file: String, reason: String },
    #[error("cannot set up the TLS client: {0}")]
    Tls(#[source] rustls::Error),
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
}

impl ContextError {
    /// The config field the error is about, for `config check`.
    pub fn field(&self) -> &'static str {
        match self {
            ContextError::CaFile { .. } => "global.ca_file",
            ContextError::Tls(_) => "global",
            ContextError::Resolver(_) => "global.resolvers",
        }
    }
}
