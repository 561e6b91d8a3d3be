//! The TLS check as the registry sees it.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use prometheus_client::encoding::DescriptorEncoder;

use super::{findings, series, Handshake, Reply};
use crate::checks::{
    reachable_address, timed, Check, CheckModule, CheckRun, Memory, OriginResults, Outcome,
    ProbeContext, Ran, Report,
};
use crate::config::{Origin, Scheme};
use crate::diagnose::{Cause, Finding};
use crate::exposition::Observed;

/// The CDN's own ClientHello, the protocol matrix, and every served certificate.
pub struct TlsCheck;

/// Lets the check, whose every connection is bounded by the timeout itself, report what it
/// found instead of being cut off.
const MARGIN: Duration = Duration::from_millis(250);

impl CheckModule for TlsCheck {
    fn id(&self) -> Check {
        Check::Tls
    }

    fn name(&self) -> &'static str {
        "tls"
    }

    fn causes(&self) -> &'static [Cause] {
        use Cause::*;
        &[
            TlsHandshakeFailed,
            TlsProtocolMismatch,
            TlsCipherMismatch,
            CertHostnameMismatch,
            CertExpired,
            CertNotYetValid,
            CertSelfSigned,
            CertChainIncomplete,
            CertUntrusted,
            CertChainOrder,
            CertExpiringSoon,
            TlsClientCertificateRequired,
            TlsClientCertificateRejected,
        ]
    }

    fn run<'a>(
        &'a self,
        origin: &'a Origin,
        ctx: &'a ProbeContext,
        earlier: &'a OriginResults,
        memory: &'a mut Memory,
    ) -> BoxFuture<'a, Report> {
        async move {
            Report::Tls(match reachable_address(origin, earlier, Scheme::Https) {
                Err(why) => CheckRun::not_run(why),
                Ok((ip, port)) => {
                    let address = SocketAddr::new(ip, port);
                    let check =
                        super::probe_with(origin, ctx.cdn, &ctx.tls, address, &mut memory.tls);
                    timed(origin.timeout.saturating_add(MARGIN), check).await
                }
            })
        }
        .boxed()
    }

    fn ran(&self, results: &OriginResults) -> Option<Ran> {
        // A CDN hello that got no answer in time is a timeout, not a refusal.
        Some(results.tls.as_ref()?.ran(|t| match t.handshake {
            Handshake::Failed(Reply::TimedOut)
            | Handshake::Unfinished(super::cdn_client::Finish::TimedOut) => Ran::TimedOut,
            _ => Ran::Completed,
        }))
    }

    fn duration(&self, results: &OriginResults) -> Option<Duration> {
        results.tls.as_ref().map(|r| r.duration)
    }

    fn findings(&self, _origin: &Origin, results: &OriginResults) -> Vec<Finding> {
        findings::findings(results)
    }

    fn encode(&self, enc: &mut DescriptorEncoder, origins: &[Observed]) -> fmt::Result {
        series::encode(enc, origins)
    }

    fn evidence(&self, _origin: &Origin, results: &OriginResults) -> Vec<String> {
        results.tls.as_ref().map(evidence).unwrap_or_default()
    }

    fn confirm(&self, _cause: Cause, origin: &Origin, results: &OriginResults) -> String {
        let target = reachable_address(origin, results, Scheme::Https)
            .map(|(ip, port)| SocketAddr::new(ip, port).to_string())
            .unwrap_or_else(|_| format!("{}:{}", origin.domain, origin.https_port));
        format!(
            "openssl s_client -connect {target} -servername {} -showcerts </dev/null",
            origin.sni()
        )
    }
}

/// The CDN's handshake, the versions the origin speaks, the leaf, then every served certificate
/// in the order the origin sent it.
fn evidence(run: &CheckRun<super::TlsReport>) -> Vec<String> {
    let Some(t) = run.completed() else {
        return vec![match run.outcome {
            Outcome::TimedOut => "tls:  no answer in time".to_string(),
            _ => "tls:  not run (an earlier check failed)".to_string(),
        }];
    };
    let hello = match (&t.handshake, &t.negotiated) {
        (Handshake::Accepted, Some(n)) => format!("{} {}", n.version, n.cipher),
        (_, Some(n)) if t.cdn_reply.hello().is_some() => format!(
            "accepted ({} {}), then {}",
            n.version,
            n.cipher,
            t.finish
                .as_ref()
                .map_or_else(|| t.cdn_reply.describe(), |f| f.describe())
        ),
        _ => format!("refused: {}", t.cdn_reply.describe()),
    };
    let hello = if t.cert_request {
        format!("{hello}; asks for a client certificate")
    } else {
        hello
    };
    let versions: Vec<&str> = t
        .protocols
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(v, _)| v.name())
        .collect();
    let mut line = format!(
        "tls:  {} CDN hello: {hello}; speaks: {}",
        t.address,
        if versions.is_empty() {
            "nothing".to_string()
        } else {
            versions.join(", ")
        }
    );
    if let Some(chain) = &t.chain {
        let leaf = chain
            .leaf
            .and_then(|p| chain.certs.iter().find(|c| c.position == p));
        if let (Some(leaf), Some(days)) = (leaf, chain.leaf_days_remaining) {
            line.push_str(&format!(
                "; leaf {} from {}, {days:.0} days left; {} certificate(s) served",
                leaf.subject_cn,
                leaf.issuer_cn,
                chain.certs.len()
            ));
        }
    }
    let mut lines = vec![line];
    for c in t.chain.iter().flat_map(|chain| chain.certs.iter()) {
        lines.push(format!(
            "      #{} {} issued by {}, valid {} to {}, serial {}",
            c.position,
            c.subject_cn,
            c.issuer_cn,
            date(c.not_before),
            date(c.not_after),
            c.serial
        ));
    }
    lines
}

/// A certificate time the way `openssl x509 -dates` shows it.
fn date(unix: i64) -> String {
    x509_parser::time::ASN1Time::from_timestamp(unix)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| format!("@{unix}"))
}
