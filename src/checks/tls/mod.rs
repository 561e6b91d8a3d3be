//! TLS check: the origin as the CDN sees it. The CDN's own ClientHello, one hello per protocol
//! version (the matrix), all at once on separate connections, read without finishing any
//! handshake; then the served chain (from the plaintext Certificate message, or from a
//! recording rustls handshake for TLS 1.3-only origins) analysed by [`crate::analysis`].

pub mod aia;
pub mod cdn_client;
mod check;
mod classify;
mod context;
pub mod facts_cache;
pub mod fallback;
mod findings;
#[cfg(test)]
mod finish_reuse_tests;
pub mod hello;
mod hellos;
mod landing;
pub mod mtls;
mod probe;
pub mod proof;
pub mod refusal;
pub mod reply;
mod reuse;
mod series;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;

pub use check::TlsCheck;

/// The check's id: its place in the registry.
pub const ID: super::Check = super::Check::at(2);
pub use classify::{after_classify, classify, finish_classify};
pub use context::{CdnStore, TlsContext};
pub use hello::{client_hello, HelloSpec};
pub use probe::{probe, probe_all};
pub use reply::{Reply, ServerHello};
pub use reuse::{
    contradiction, forget_contradicted, reuse_cycles, AddressMemory, TlsMemory, REFRESH_AFTER,
};

use crate::analysis::ChainReport;
use crate::cdn::TlsVersion;

/// What one TLS check found.
#[derive(Debug, Clone)]
pub struct TlsReport {
    /// Where the hellos went.
    pub address: SocketAddr,
    /// The origin's answer to the CDN's own hello.
    pub cdn_reply: Reply,
    pub handshake: Handshake,
    /// Version and suite to export: the CDN's handshake when it worked, else the recording
    /// handshake's (a TLS 1.3-only origin shows what it speaks).
    pub negotiated: Option<Negotiated>,
    /// Each version, probed alone.
    pub protocols: Vec<(TlsVersion, bool)>,
    /// The served chain, analysed; `None` when no certificate could be obtained.
    pub chain: Option<ChainReport>,
    /// The origin's first flight asked for a client certificate (CertificateRequest).
    pub cert_request: bool,
    /// How the CDN-profile handshake (OpenSSL) ended; `None` when it was not attempted (the
    /// CDN's hello already failed).
    pub finish: Option<cdn_client::Finish>,
    /// Which handshake `finish` is.
    pub finish_from: FinishFrom,
    /// What the CDN's request sent over the finished handshake got, when the origin asked for a
    /// client certificate and one was presented.
    pub after: Option<refusal::After>,
    /// The same check on the origin's other open addresses, in order (each with `more` empty):
    /// the CDN connects to any of them. This report is the first address's, whose series are
    /// exported.
    pub more: Vec<TlsReport>,
}

impl TlsReport {
    /// This address's report, then the other addresses'.
    pub fn all(&self) -> impl Iterator<Item = &TlsReport> {
        std::iter::once(self).chain(self.more.iter())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub version: TlsVersion,
    pub cipher: String,
}

/// How the CDN's hello ended, in the terms of SPEC.md's causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    Accepted,
    /// The origin speaks TLS, but none of the versions in `ssl_protocols`. `supported` is empty
    /// when the origin refused the CDN's hello as `protocol_version` and no version's own hello
    /// succeeded either (a server whose minimum version its library cannot speak).
    ProtocolMismatch {
        supported: Vec<TlsVersion>,
        allowed: Vec<TlsVersion>,
    },
    /// The origin accepts an allowed version, but none of the CDN's suites for it.
    CipherMismatch {
        versions: Vec<TlsVersion>,
    },
    /// Not TLS, reset, timeout, or an alert that no other hello explains.
    Failed(Reply),
    /// The hello was accepted, but the CDN-profile handshake broke at a later step.
    Unfinished(cdn_client::Finish),
    /// The certificate's key fits none of the signature schemes the CDN offers (Ed25519...).
    KeyMismatch {
        key: String,
    },
    /// The origin asks for a client certificate and the origin has no `client_certificate`.
    ClientCertificateRequired {
        finish: cdn_client::Finish,
    },
    /// The origin refused the configured client certificate.
    ClientCertificateRejected(Rejection),
    /// The origin asks for a client certificate and the CDN presents one (the distribution's
    /// origin mTLS) that the exporter has no copy of: the handshake went without one, so what
    /// the origin would say to the CDN's is unknown. No cause.
    ClientCertificateUnchecked {
        finish: cdn_client::Finish,
    },
}

/// Which handshake a report's `finish` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinishFrom {
    /// Made by this check this cycle (or none was made).
    #[default]
    ThisCycle,
    /// One of an earlier cycle, reused because this cycle's first flight proves it would end the
    /// same (see `reuse::KnownFinish`).
    Reused,
    /// A later check's own CDN-profile handshake this cycle (the HTTP check's), which failed
    /// where this check reused one: it contradicts the reuse ([`contradiction`]), and the next
    /// cycle makes a new one.
    Later,
}

/// What a later check of the cycle tells the TLS check (as a note: see
/// [`crate::checks::Notes`]): its own CDN-profile handshake with `address` failed, as `finish`
/// says. The TLS check's `revise` judges whether it contradicts a reused handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contradiction {
    pub address: SocketAddr,
    pub finish: cdn_client::Finish,
}

/// How an origin refused the configured client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// In the handshake: an alert about the certificate, or the connection ended.
    Handshake(cdn_client::Finish),
    /// The handshake finished, then the origin closed the connection before answering the
    /// CDN's request, or answered that it refuses the certificate.
    After(refusal::After),
}

impl Rejection {
    pub fn describe(&self) -> String {
        match self {
            Rejection::Handshake(finish) => finish.describe(),
            Rejection::After(after) => after.describe(),
        }
    }
}

/// Reports for other modules' tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// An address whose CDN hello was accepted (TLS 1.2) and whose handshake finished, no chain.
    pub fn report(address: SocketAddr) -> TlsReport {
        let hello = ServerHello {
            version: 0x0303,
            suite: 0xC02F,
            retry: false,
        };
        TlsReport {
            address,
            cdn_reply: Reply::Hello(hello),
            handshake: Handshake::Accepted,
            negotiated: Some(Negotiated {
                version: TlsVersion::Tls1_2,
                cipher: "ECDHE-RSA-AES128-GCM-SHA256".into(),
            }),
            protocols: Vec::new(),
            chain: None,
            cert_request: false,
            finish: Some(cdn_client::Finish::Done {
                version: "TLSv1.2",
                cipher: "ECDHE-RSA-AES128-GCM-SHA256",
            }),
            finish_from: FinishFrom::ThisCycle,
            after: None,
            more: Vec::new(),
        }
    }
}
