//! The TLS check as the registry sees it.

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{findings, mtls, series, Handshake, Reply};
use crate::checks::tcp::{open_addresses, TcpCheck};
use crate::checks::{
    timed, Check, CheckModule, CheckRun, CheckTypes, ContextError, Earlier, Memory, NotRun, Notes,
    OriginResults, Outcome, ProbeContext, Ran, Report, ThisCycle,
};
use crate::config::{Origin, Scheme};
use crate::diagnose::{Cause, Diagnosis, Finding};
use crate::exposition::Observed;

/// The CDN's own ClientHello, the protocol matrix, and every served certificate.
pub struct TlsCheck;

impl CheckTypes for TlsCheck {
    const ID: Check = Check::Tls;
    type Report = super::TlsReport;
    type Memory = super::TlsMemory;
    type Context = super::TlsContext;
    /// It takes the TCP check's handover; it leaves none.
    type Handover = ();

    /// The CDN's roots (with `global.ca_file`, as read), the recording rustls config, the AIA
    /// cache (host names through the shared resolver, addresses where the policy allows), the
    /// cache of analysed chains, the CDN-profile clients.
    fn context(shared: &ProbeContext) -> Result<super::TlsContext, ContextError> {
        let global = &shared.global;
        let ca_file = global
            .ca_file
            .as_deref()
            .zip(shared.files.ca_file.as_deref());
        let mut tls =
            super::TlsContext::from_pem(ca_file, std::sync::Arc::clone(&shared.provider))?;
        tls.aia = super::aia::AiaCache::new(super::aia::AiaPolicy {
            resolver: Some(shared.resolver.clone()),
            allowed: global.aia_allowed_networks.clone(),
            adhoc: global.adhoc.clone(),
        });
        Ok(tls)
    }
}

/// Lets the check, whose every connection is bounded by the timeout itself, report what it
/// found instead of being cut off.
const MARGIN: Duration = Duration::from_millis(250);

impl CheckModule for TlsCheck {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn per_address(&self) -> bool {
        true
    }

    /// The ports the TCP check found open, and the connections it left open to send the CDN's
    /// hello on.
    fn needs(&self) -> &'static [Check] {
        &[Check::Tcp]
    }

    fn takes(&self) -> &'static [Check] {
        &[Check::Tcp]
    }

    /// The certificate the CDN presents (origin mTLS) can expire only where it presents one.
    fn detects(&self, cause: Cause, origin: &Origin) -> bool {
        match cause {
            Cause::CdnClientCertificateExpired | Cause::CdnClientCertificateExpiringSoon => {
                mtls::presents_one(origin)
            }
            _ => true,
        }
    }

    fn register_startup(&self, registry: &mut Registry) {
        // The CDN-profile TLS client speaks every suite of the built-in profiles; a build that
        // could not (a system OpenSSL without RC4) says so here rather than failing those origins
        // silently.
        let unspeakable = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        for profile in crate::cdn::PROFILES {
            for name in super::cdn_client::unspeakable(profile) {
                tracing::warn!(
                    cdn = profile.name,
                    cipher = name,
                    "the CDN-profile TLS client cannot speak this suite"
                );
                unspeakable.get_or_create(&[("cipher", name)]).set(1);
            }
        }
        registry.register(
            "origin_exporter_cdn_suite_unspeakable",
            "1 for each cipher suite of the CDN profile the exporter's TLS client cannot speak (an origin offering only such suites gets no HTTP status); none with the vendored OpenSSL build",
            unspeakable,
        );
    }

    fn columns(&self) -> &'static [&'static str] {
        &["Certificate", "TLS (CDN handshake)"]
    }

    fn cells(
        &self,
        _origin: &Origin,
        results: &OriginResults,
        diagnosis: &Diagnosis,
    ) -> Vec<String> {
        let report = results.get::<TlsCheck>().and_then(|t| t.completed());
        vec![
            super::landing::certificate(report, diagnosis),
            super::landing::negotiated(report),
        ]
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
            CdnClientCertificateExpired,
            CdnClientCertificateExpiringSoon,
        ]
    }

    fn run<'a>(
        &'a self,
        origin: &'a Origin,
        ctx: &'a ProbeContext,
        earlier: Earlier<'a>,
        memory: &'a mut Memory,
        cycle: &'a mut ThisCycle,
    ) -> BoxFuture<'a, Report> {
        async move {
            Report::of::<TlsCheck>(match open_addresses(origin, &earlier, Scheme::Https) {
                Err(why) => CheckRun::not_run(why),
                Ok(addresses) => {
                    let spread = memory.is_scheduled();
                    let tls = memory.of::<TlsCheck>(|| super::TlsMemory::new(spread));
                    let handoff = cycle.handover::<TcpCheck>();
                    let check = super::probe_all(
                        origin,
                        ctx.cdn,
                        ctx.part::<TlsCheck>(),
                        &addresses,
                        tls,
                        handoff,
                    );
                    timed(origin.timeout.saturating_add(MARGIN), check)
                        .await
                        .or_not_run(NotRun::NoAddress)
                }
            })
        }
        .boxed()
    }

    fn ran(&self, results: &OriginResults) -> Option<Ran> {
        // A CDN hello that got no answer in time is a timeout, not a refusal.
        // On any address.
        Some(results.get::<TlsCheck>()?.ran(|report| {
            let timed_out = report.all().any(|t| {
                matches!(
                    t.handshake,
                    Handshake::Failed(Reply::TimedOut)
                        | Handshake::Unfinished(super::cdn_client::Finish::TimedOut)
                )
            });
            if timed_out {
                Ran::TimedOut
            } else {
                Ran::Completed
            }
        }))
    }

    fn duration(&self, results: &OriginResults) -> Option<Duration> {
        results.get::<TlsCheck>().map(|r| r.duration)
    }

    fn findings(&self, origin: &Origin, results: &OriginResults) -> Vec<Finding> {
        // The certificate the CDN presents expires whatever the probes saw: from the settings.
        let mut out = findings::findings(results);
        out.extend(mtls::findings(origin, now()));
        out
    }

    fn revise(
        &self,
        origin: &Origin,
        results: &mut OriginResults,
        memory: &mut Memory,
        notes: &Notes,
    ) {
        let Some(Outcome::Completed(tls)) = results.get_mut::<TlsCheck>().map(|r| &mut r.outcome)
        else {
            return;
        };
        let later: Vec<&super::Contradiction> = notes.of::<super::Contradiction>().collect();
        if later.is_empty() {
            return;
        }
        let identity = mtls::CdnIdentity::of(origin);
        let mut contradicted: Vec<_> = revise(tls, &later, identity).into_iter().collect();
        for t in &mut tls.more {
            contradicted.extend(revise(t, &later, identity));
        }
        if !contradicted.is_empty() {
            let spread = memory.is_scheduled();
            let tls = memory.of::<TlsCheck>(|| super::TlsMemory::new(spread));
            super::forget_contradicted(tls, |a| contradicted.contains(&a));
        }
    }

    fn encode(&self, enc: &mut DescriptorEncoder, origins: &[Observed]) -> fmt::Result {
        series::encode(enc, origins)
    }

    fn evidence(&self, origin: &Origin, results: &OriginResults) -> Vec<String> {
        let mut lines = results.get::<TlsCheck>().map(evidence).unwrap_or_default();
        lines.extend(mtls::evidence(origin, now()));
        lines
    }

    fn confirm(&self, cause: Cause, origin: &Origin, results: &OriginResults) -> String {
        if matches!(
            cause,
            Cause::CdnClientCertificateExpired | Cause::CdnClientCertificateExpiringSoon
        ) {
            return match mtls::presented(origin).map(|p| p.source) {
                Some(mtls::Source::Acm { arn, .. }) => format!(
                    "aws acm describe-certificate --region us-east-1 --certificate-arn {arn} --query 'Certificate.[NotAfter,Status,Type]'"
                ),
                Some(mtls::Source::File(path)) => {
                    format!("openssl x509 -noout -enddate -in {}", path.display())
                }
                None => String::new(),
            };
        }
        // The first address the cause is active on.
        let report = results.get::<TlsCheck>().and_then(|r| r.completed());
        let target = report
            .and_then(|r| {
                r.all().find(|t| {
                    findings::address_findings(t)
                        .iter()
                        .any(|f| f.cause == cause)
                })
            })
            .or(report)
            .map(|t| t.address.to_string())
            .unwrap_or_else(|| format!("{}:{}", origin.domain, origin.https_port));
        format!(
            "openssl s_client -connect {target} -servername {} -showcerts </dev/null",
            origin.sni()
        )
    }
}

/// One address's report with what a later check's own handshake contradicts of it (see
/// [`super::contradiction`]); the address when it did.
fn revise(
    t: &mut super::TlsReport,
    later: &[&super::Contradiction],
    identity: mtls::CdnIdentity,
) -> Option<std::net::SocketAddr> {
    let (contradicted, finish) =
        super::contradiction(t, later, identity == mtls::CdnIdentity::Local)?;
    t.handshake = mtls::without_copy(contradicted, identity);
    t.finish = Some(finish);
    t.finish_from = super::FinishFrom::Later;
    Some(t.address)
}

/// Per address: the CDN's handshake, the versions the origin speaks, the leaf, then every
/// served certificate in the order the origin sent it (once for addresses serving the same
/// chain).
fn evidence(run: &CheckRun<super::TlsReport>) -> Vec<String> {
    let Some(report) = run.completed() else {
        return vec![match run.outcome {
            Outcome::TimedOut => "tls:  no answer in time".to_string(),
            _ => "tls:  not run (an earlier check failed)".to_string(),
        }];
    };
    let mut lines = Vec::new();
    let mut shown: Vec<Vec<&str>> = Vec::new();
    for t in report.all() {
        let serials: Vec<&str> = t
            .chain
            .iter()
            .flat_map(|c| c.certs.iter().map(|c| c.serial.as_str()))
            .collect();
        let new_chain = !shown.contains(&serials);
        lines.extend(address_evidence(t, new_chain));
        shown.push(serials);
    }
    lines
}

/// One address's lines; its certificates only when `with_certificates`.
fn address_evidence(t: &super::TlsReport, with_certificates: bool) -> Vec<String> {
    let hello = match (&t.handshake, &t.negotiated) {
        (Handshake::Accepted, Some(n)) => format!("{} {}", n.version, n.cipher),
        (Handshake::ClientCertificateRejected(r), Some(n)) => {
            format!(
                "accepted ({} {}), then {}",
                n.version,
                n.cipher,
                r.describe()
            )
        }
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
    let mut hello = match &t.handshake {
        Handshake::ClientCertificateUnchecked { .. } => format!(
            "{hello}; asks for a client certificate: the CDN presents its origin mTLS certificate, which this handshake could not (no local copy), so the origin's verdict on it cannot be checked"
        ),
        _ if t.cert_request => format!("{hello}; asks for a client certificate"),
        _ => hello,
    };
    if let (Some(after), Handshake::Accepted) = (&t.after, &t.handshake) {
        hello.push_str(&format!("; {}", after.describe()));
    }
    match t.finish_from {
        super::FinishFrom::ThisCycle => {}
        super::FinishFrom::Reused => hello.push_str(
            "; the finished handshake of an earlier cycle reused (this cycle's first flight proves it)",
        ),
        super::FinishFrom::Later => hello.push_str(
            " (a later check's own CDN-profile handshake this cycle, where an earlier finished one was reused; the next cycle makes its own)",
        ),
    }
    let versions: Vec<&str> = t
        .protocols
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(v, _)| v.name())
        .collect();
    let mut line = format!(
        "tls:  {} CDN hello: {hello}; speaks: {}",
        t.address,
        if t.protocols.is_empty() {
            // A scheduled origin whose CDN hello was accepted probes its versions later.
            "(versions not probed yet)".to_string()
        } else if versions.is_empty() {
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
    let certificates = t
        .chain
        .iter()
        .flat_map(|chain| chain.certs.iter())
        .filter(|_| with_certificates);
    for c in certificates {
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

/// Unix seconds now: when the certificate the CDN presents is judged.
fn now() -> i64 {
    crate::checks::unix_seconds(std::time::SystemTime::now()) as i64
}

/// A certificate time the way `openssl x509 -dates` shows it.
fn date(unix: i64) -> String {
    x509_parser::time::ASN1Time::from_timestamp(unix)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| format!("@{unix}"))
}
