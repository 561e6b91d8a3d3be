//! TLS causes: how the CDN's hello ended, and every defect of the served chain.

use super::FinishFrom;
use crate::cdn::TlsVersion;
use crate::checks::{Handshake, OriginResults, Outcome, TlsReport};
use crate::diagnose::{merge_addresses, Cause, Finding};

/// The causes active on any of the addresses the check probed, each naming its addresses.
pub(super) fn findings(results: &OriginResults) -> Vec<Finding> {
    let Some(run) = results.get::<super::TlsCheck>() else {
        return Vec::new();
    };
    let report = match &run.outcome {
        Outcome::Completed(report) => report,
        Outcome::TimedOut => {
            return vec![Finding::new(
                Cause::TlsHandshakeFailed,
                "the TLS check did not finish within the timeout",
            )]
        }
        // A closed port or no address: the TCP or DNS cause already names the root.
        Outcome::NotRun(_) => return Vec::new(),
    };
    merge_addresses(
        report
            .all()
            .map(|r| (r.address.ip(), address_findings(r)))
            .collect(),
    )
}

/// The causes one address's report shows.
pub(super) fn address_findings(report: &TlsReport) -> Vec<Finding> {
    let mut out = Vec::new();
    match &report.handshake {
        Handshake::Accepted => {}
        Handshake::ProtocolMismatch { supported, allowed } if supported.is_empty() => {
            out.push(Finding::new(
                Cause::TlsProtocolMismatch,
                format!(
                    "{} refuses the CDN's hello as an unsupported version ({}): it speaks none of {}; no version's own hello succeeded either, so which one it speaks is unknown",
                    report.address,
                    report.cdn_reply.describe(),
                    names(allowed)
                ),
            ))
        }
        Handshake::ProtocolMismatch { supported, allowed } => out.push(Finding::new(
            Cause::TlsProtocolMismatch,
            format!(
                "{} accepts only {}; the CDN may use {}",
                report.address,
                names(supported),
                names(allowed)
            ),
        )),
        Handshake::CipherMismatch { versions } => out.push(Finding::new(
            Cause::TlsCipherMismatch,
            format!(
                "{} accepts {} but none of the CDN's cipher suites ({})",
                report.address,
                names(versions),
                report.cdn_reply.describe()
            ),
        )),
        Handshake::Failed(reply) => out.push(Finding::new(
            Cause::TlsHandshakeFailed,
            format!("{}: {}", report.address, reply.describe()),
        )),
        // The first certificate served is not the leaf (the handshake breaks on its key: a bad
        // ServerKeyExchange signature), or a served certificate does not parse (the client
        // stops at the Certificate message): echoes of cert_chain_order and cert_untrusted,
        // which name the root.
        Handshake::Unfinished(_)
            if report.chain.as_ref().is_some_and(|c| {
                (c.defects.out_of_order && c.leaf != Some(0)) || c.unparsable > 0
            }) => {}
        Handshake::Unfinished(finish) => out.push(Finding::new(
            Cause::TlsHandshakeFailed,
            format!(
                "{}: the hello was accepted, then the CDN-profile handshake failed: {}",
                report.address,
                finish.describe()
            ),
        )),
        Handshake::KeyMismatch { key } => out.push(Finding::new(
            Cause::TlsCipherMismatch,
            format!(
                "{}: the certificate's {key} key fits no signature scheme the CDN offers (RSA PKCS#1 and ECDSA only); serve an RSA or ECDSA certificate ({})",
                report.address,
                report.cdn_reply.describe()
            ),
        )),
        Handshake::ClientCertificateRequired { finish } => out.push(Finding::new(
            Cause::TlsClientCertificateRequired,
            format!(
                "{}: the origin sends a CertificateRequest and this origin has no client_certificate; without origin mTLS the CDN drops the request (handshake without a certificate: {})",
                report.address,
                finish.describe()
            ),
        )),
        // The CDN presents its origin mTLS certificate; the exporter, without a copy, cannot
        // tell what the origin makes of it (the evidence says so).
        Handshake::ClientCertificateUnchecked { .. } => {}
        Handshake::ClientCertificateRejected(how) => out.push(Finding::new(
            Cause::TlsClientCertificateRejected,
            format!(
                "{}: the origin refused the configured client_certificate: {}",
                report.address,
                how.describe()
            ),
        )),
    }
    if report.finish_from == FinishFrom::Later {
        for f in &mut out {
            f.detail.push_str(
                " (seen by a later check's own CDN-profile handshake this cycle, where the TLS check had reused an earlier finished handshake)",
            );
        }
    }
    let Some(chain) = &report.chain else {
        return out;
    };
    let d = &chain.defects;
    if d.hostname_mismatch {
        let wanted: Vec<&str> = chain.names.iter().map(|(n, _)| n.as_str()).collect();
        out.push(Finding::new(
            Cause::CertHostnameMismatch,
            format!("the certificate covers none of {}", wanted.join(", ")),
        ));
    }
    let leaf = chain
        .leaf
        .and_then(|p| chain.certs.iter().find(|c| c.position == p));
    let leaf_name = leaf.map_or("", |c| c.subject_cn.as_str());
    let flags = [
        (
            d.expired,
            Cause::CertExpired,
            "a served certificate is past its notAfter",
        ),
        (
            d.not_yet_valid,
            Cause::CertNotYetValid,
            "a served certificate is before its notBefore",
        ),
        (
            d.self_signed,
            Cause::CertSelfSigned,
            "the leaf is self-signed and not a trusted root",
        ),
        (
            d.incomplete,
            Cause::CertChainIncomplete,
            "the chain completes only with the issuer from the leaf's AIA caIssuers URL",
        ),
        (
            d.untrusted,
            Cause::CertUntrusted,
            "the chain does not reach a trusted root",
        ),
        (
            d.out_of_order,
            Cause::CertChainOrder,
            "the served certificates are not each issued by the next one",
        ),
        (
            d.expiring_soon,
            Cause::CertExpiringSoon,
            "a served certificate expires soon",
        ),
    ];
    for (active, cause, what) in flags {
        if active {
            let detail = match (&chain.trust, cause) {
                (crate::analysis::Trust::Rejected(why), Cause::CertUntrusted) => {
                    format!("{what}: {why}")
                }
                _ if cause == Cause::CertExpiringSoon => match chain.leaf_days_remaining {
                    Some(days) => format!("{what} (leaf {leaf_name}: {days:.1} days left)"),
                    None => what.to_string(),
                },
                _ => format!("{what} (leaf {leaf_name})"),
            };
            out.push(Finding::new(cause, detail));
        }
    }
    out
}

fn names(versions: &[TlsVersion]) -> String {
    versions
        .iter()
        .map(|v| v.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::analysis::{ChainReport, Defects, Trust};
    use crate::cdn::TlsVersion::*;
    use crate::checks::tls::{Negotiated, Rejection, Reply};
    use crate::checks::{CheckRun, Handshake, NotRun, OriginResults, Outcome, TlsReport};
    use crate::config::Check;
    use crate::diagnose::diagnose;
    use crate::diagnose::test_support::origin;

    fn chain(defects: Defects) -> ChainReport {
        ChainReport {
            certs: Vec::new().into(),
            leaf: Some(0),
            leaf_days_remaining: Some(5.0),
            names: vec![("origin.shop.example.com".into(), !defects.hostname_mismatch)],
            trust: if defects.untrusted || defects.self_signed {
                Trust::UnknownIssuer { aia: None }
            } else {
                Trust::Trusted
            },
            defects,
            unparsable: 0,
            peer: None,
        }
    }

    fn report(handshake: Handshake, chain: Option<ChainReport>) -> Outcome<TlsReport> {
        Outcome::Completed(TlsReport {
            address: "192.0.2.1:443".parse().unwrap(),
            cdn_reply: Reply::Alert(40),
            handshake,
            negotiated: Some(Negotiated {
                version: Tls1_2,
                cipher: "ECDHE-RSA-AES128-GCM-SHA256".into(),
            }),
            protocols: Vec::new(),
            chain,
            cert_request: false,
            finish: None,
            finish_from: Default::default(),
            after: None,
            more: Vec::new(),
        })
    }

    fn results(tls: Outcome<TlsReport>) -> OriginResults {
        OriginResults::default().with::<crate::checks::tls::TlsCheck>(CheckRun {
            duration: Duration::from_millis(5),
            outcome: tls,
        })
    }

    #[test]
    fn table() {
        let ok = || Some(chain(Defects::default()));
        let with = |d: Defects| Some(chain(d));
        // (name, outcome, active causes, cdn_ready, tls check success)
        type Case = (
            &'static str,
            Outcome<TlsReport>,
            &'static [&'static str],
            bool,
            bool,
        );
        let cases: Vec<Case> = vec![
            (
                "healthy",
                report(Handshake::Accepted, ok()),
                &[],
                true,
                true,
            ),
            (
                "protocol mismatch",
                report(
                    Handshake::ProtocolMismatch {
                        supported: vec![Tls1_0],
                        allowed: vec![Tls1_2],
                    },
                    ok(),
                ),
                &["tls_protocol_mismatch"],
                false,
                false,
            ),
            (
                "cipher mismatch",
                report(
                    Handshake::CipherMismatch {
                        versions: vec![Tls1_2],
                    },
                    ok(),
                ),
                &["tls_cipher_mismatch"],
                false,
                false,
            ),
            (
                "client certificate asked for, none configured",
                report(
                    Handshake::ClientCertificateRequired {
                        finish: crate::checks::tls::cdn_client::Finish::AlertReceived {
                            alert: 116,
                            step: "SSLv3/TLS read finished".into(),
                        },
                    },
                    ok(),
                ),
                &["tls_client_certificate_required"],
                false,
                false,
            ),
            (
                "client certificate refused",
                report(
                    Handshake::ClientCertificateRejected(Rejection::Handshake(
                        crate::checks::tls::cdn_client::Finish::AlertReceived {
                            alert: 48,
                            step: "SSLv3/TLS read finished".into(),
                        },
                    )),
                    ok(),
                ),
                &["tls_client_certificate_rejected"],
                false,
                false,
            ),
            (
                "an Ed25519 certificate",
                report(
                    Handshake::KeyMismatch {
                        key: "Ed25519".into(),
                    },
                    ok(),
                ),
                &["tls_cipher_mismatch"],
                false,
                false,
            ),
            (
                "a later handshake step fails",
                report(
                    Handshake::Unfinished(crate::checks::tls::cdn_client::Finish::AlertReceived {
                        alert: 80,
                        step: "SSLv3/TLS read server key exchange".into(),
                    }),
                    ok(),
                ),
                &["tls_handshake_failed"],
                false,
                false,
            ),
            (
                "not TLS",
                report(Handshake::Failed(Reply::NotTls), None),
                &["tls_handshake_failed"],
                false,
                false,
            ),
            (
                "whole check timed out",
                Outcome::TimedOut,
                &["tls_handshake_failed"],
                false,
                false,
            ),
            (
                "port closed: the TCP cause is the root",
                Outcome::NotRun(NotRun::PortClosed),
                &[],
                true,
                false,
            ),
            (
                "expired and out of order: both",
                report(
                    Handshake::Accepted,
                    with(Defects {
                        expired: true,
                        out_of_order: true,
                        ..Defects::default()
                    }),
                ),
                &["cert_expired", "cert_chain_order"],
                false,
                false,
            ),
            (
                "self-signed",
                report(
                    Handshake::Accepted,
                    with(Defects {
                        self_signed: true,
                        ..Defects::default()
                    }),
                ),
                &["cert_self_signed"],
                false,
                false,
            ),
            (
                "wrong name",
                report(
                    Handshake::Accepted,
                    with(Defects {
                        hostname_mismatch: true,
                        ..Defects::default()
                    }),
                ),
                &["cert_hostname_mismatch"],
                false,
                false,
            ),
            (
                "incomplete",
                report(
                    Handshake::Accepted,
                    with(Defects {
                        incomplete: true,
                        ..Defects::default()
                    }),
                ),
                &["cert_chain_incomplete"],
                false,
                false,
            ),
            (
                "untrusted",
                report(
                    Handshake::Accepted,
                    with(Defects {
                        untrusted: true,
                        ..Defects::default()
                    }),
                ),
                &["cert_untrusted"],
                false,
                false,
            ),
            (
                "not yet valid",
                report(
                    Handshake::Accepted,
                    with(Defects {
                        not_yet_valid: true,
                        ..Defects::default()
                    }),
                ),
                &["cert_not_yet_valid"],
                false,
                false,
            ),
            (
                "expiring soon is a warning: still ready",
                report(
                    Handshake::Accepted,
                    with(Defects {
                        expiring_soon: true,
                        ..Defects::default()
                    }),
                ),
                &["cert_expiring_soon"],
                true,
                true,
            ),
            (
                "a cipher mismatch still shows certificate defects",
                report(
                    Handshake::CipherMismatch {
                        versions: vec![Tls1_2],
                    },
                    with(Defects {
                        expired: true,
                        ..Defects::default()
                    }),
                ),
                &["tls_cipher_mismatch", "cert_expired"],
                false,
                false,
            ),
        ];
        let o = origin(&[Check::Tls]);
        for (name, outcome, causes, ready, tls_ok) in cases {
            let d = diagnose(&o, &results(outcome));
            let active: Vec<_> = d.findings.iter().map(|f| f.cause.name()).collect();
            assert_eq!(active, causes, "{name}");
            assert_eq!(d.cdn_ready, ready, "{name}");
            let success: Vec<_> = d.checks.iter().map(|c| (c.check, c.success)).collect();
            assert_eq!(success, vec![(Check::Tls, tls_ok)], "{name}");
        }
    }

    #[test]
    fn evidence_says_what_the_origin_speaks() {
        let r = results(report(
            Handshake::ProtocolMismatch {
                supported: vec![Tls1_3],
                allowed: vec![Tls1_2],
            },
            None,
        ));
        let d = diagnose(&origin(&[Check::Tls]), &r);
        assert_eq!(
            d.findings[0].detail,
            "192.0.2.1:443 accepts only TLSv1.3; the CDN may use TLSv1.2"
        );
        // Every hello refused as protocol_version: no version to name.
        let mut refused = report(
            Handshake::ProtocolMismatch {
                supported: vec![],
                allowed: vec![Tls1_2],
            },
            None,
        );
        if let Outcome::Completed(r) = &mut refused {
            r.cdn_reply = Reply::Alert(70);
        }
        let d = diagnose(&origin(&[Check::Tls]), &results(refused));
        assert_eq!(d.findings[0].cause.name(), "tls_protocol_mismatch");
        assert_eq!(
            d.findings[0].detail,
            "192.0.2.1:443 refuses the CDN's hello as an unsupported version (alert 70 (protocol_version)): it speaks none of TLSv1.2; no version's own hello succeeded either, so which one it speaks is unknown"
        );
    }

    fn unfinished() -> Handshake {
        Handshake::Unfinished(crate::checks::tls::cdn_client::Finish::Refused {
            reason: "bad signature".into(),
            step: "SSLv3/TLS read server key exchange".into(),
        })
    }

    fn causes(outcome: Outcome<TlsReport>) -> Vec<&'static str> {
        super::findings(&results(outcome))
            .iter()
            .map(|f| f.cause.name())
            .collect()
    }

    /// A later handshake step that fails is its own cause only when no chain defect explains
    /// it: a leaf served after its issuer, or a certificate that does not parse.
    #[test]
    fn an_unfinished_handshake_defers_to_the_chain_defect_that_explains_it() {
        let out_of_order = |leaf| ChainReport {
            leaf,
            ..chain(Defects {
                out_of_order: true,
                ..Defects::default()
            })
        };
        assert_eq!(
            causes(report(unfinished(), Some(out_of_order(Some(1))))),
            ["cert_chain_order"]
        );
        // In the wrong order but with the leaf first: the order does not break the handshake.
        assert_eq!(
            causes(report(unfinished(), Some(out_of_order(Some(0))))),
            ["tls_handshake_failed", "cert_chain_order"]
        );
        let unparsable = ChainReport {
            unparsable: 1,
            ..chain(Defects::default())
        };
        assert_eq!(
            causes(report(unfinished(), Some(unparsable))),
            Vec::<&str>::new()
        );
        assert_eq!(
            causes(report(unfinished(), Some(chain(Defects::default())))),
            ["tls_handshake_failed"]
        );
        assert_eq!(causes(report(unfinished(), None)), ["tls_handshake_failed"]);
    }

    #[test]
    fn chain_evidence_names_the_leaf_the_reason_and_the_days_left() {
        let cert = |position: usize, cn: &str| crate::analysis::CertSummary {
            position,
            subject_cn: cn.into(),
            issuer_cn: "Lab CA".into(),
            serial: "01".into(),
            not_before: 0,
            not_after: 1,
        };
        // The leaf is the certificate served at position 2 (the one at 1 did not parse).
        let c = ChainReport {
            certs: vec![
                cert(0, "Lab Intermediate"),
                cert(2, "origin.shop.example.com"),
            ]
            .into(),
            leaf: Some(2),
            leaf_days_remaining: Some(3.25),
            trust: Trust::Rejected("invalid signature".into()),
            ..chain(Defects {
                expired: true,
                untrusted: true,
                expiring_soon: true,
                ..Defects::default()
            })
        };
        let details: Vec<(&str, String)> =
            super::findings(&results(report(Handshake::Accepted, Some(c.clone()))))
                .into_iter()
                .map(|f| (f.cause.name(), f.detail))
                .collect();
        assert_eq!(
            details,
            [
                (
                    "cert_expired",
                    "a served certificate is past its notAfter (leaf origin.shop.example.com)"
                        .to_string()
                ),
                (
                    "cert_untrusted",
                    "the chain does not reach a trusted root: invalid signature".to_string()
                ),
                (
                    "cert_expiring_soon",
                    "a served certificate expires soon (leaf origin.shop.example.com: 3.2 days left)"
                        .to_string()
                ),
            ]
        );
        // An unknown issuer has no reason to add; no leaf, no name and no days.
        let c = ChainReport {
            leaf: None,
            leaf_days_remaining: None,
            trust: Trust::UnknownIssuer { aia: None },
            ..c
        };
        let details: Vec<String> = super::findings(&results(report(Handshake::Accepted, Some(c))))
            .into_iter()
            .map(|f| f.detail)
            .collect();
        assert_eq!(
            details,
            [
                "a served certificate is past its notAfter (leaf )",
                "the chain does not reach a trusted root (leaf )",
                "a served certificate expires soon",
            ]
        );
    }
}
