//! The client certificate the CDN presents to the origin (origin mTLS), as the origin's settings
//! know it: from ACM for a discovered origin whose distribution has origin mTLS
//! (`OriginMtlsConfig`), else from the `client_certificate` file. When it expires the origin
//! refuses the CDN and viewers get 502; ACM does not renew a certificate imported or issued for
//! origin mTLS by itself. No probe can see that certificate: its expiry is read from the settings,
//! and the TLS check owns the causes because they are about the CDN's TLS client.
//!
//! Pure: the time is given.

use std::path::Path;

use super::Handshake;
use crate::config::Origin;
use crate::diagnose::{Cause, Finding};

/// What the checks can present when the origin asks for a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdnIdentity {
    /// The CDN presents none (no origin mTLS).
    None,
    /// The CDN's certificate, in a local copy the checks present.
    Local,
    /// The CDN presents one (the distribution's origin mTLS) that the exporter has no copy of:
    /// the checks present none, and cannot tell what the origin would say to the CDN's.
    Unavailable,
}

impl CdnIdentity {
    pub fn of(origin: &Origin) -> Self {
        if origin.client_certificate.is_some() {
            CdnIdentity::Local
        } else if origin.cdn_client_certificate.is_some() {
            CdnIdentity::Unavailable
        } else {
            CdnIdentity::None
        }
    }
}

/// The handshake's verdict once it is known what the CDN presents: an origin that asks for a
/// client certificate is `tls_client_certificate_required` only when the CDN presents none.
/// When the CDN presents one the checks have no copy of, the handshake (made without one) says
/// nothing of what the origin would make of the CDN's.
pub fn without_copy(handshake: Handshake, identity: CdnIdentity) -> Handshake {
    match handshake {
        Handshake::ClientCertificateRequired { finish } if identity == CdnIdentity::Unavailable => {
            Handshake::ClientCertificateUnchecked { finish }
        }
        other => other,
    }
}

/// Where the expiry of the presented certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    Acm {
        arn: &'a str,
        status: Option<&'a str>,
        kind: Option<&'a str>,
    },
    File(&'a Path),
}

/// The certificate the CDN presents, and when it expires (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    pub source: Source<'a>,
    pub not_after: i64,
}

/// ACM's word when the distribution has origin mTLS and ACM answered with a `NotAfter`; else the
/// local `client_certificate`'s leaf (the hand-configured one, or the local copy of the ACM one).
pub fn presented(origin: &Origin) -> Option<Presented<'_>> {
    let acm = origin.cdn_client_certificate.as_deref().and_then(|c| {
        let facts = c.acm.as_ref().ok()?;
        Some(Presented {
            source: Source::Acm {
                arn: &c.arn,
                status: facts.status.as_deref(),
                kind: facts.kind.as_deref(),
            },
            not_after: facts.not_after?,
        })
    });
    acm.or_else(|| {
        let c = origin.client_certificate.as_deref()?;
        Some(Presented {
            source: Source::File(&c.cert_file),
            not_after: c.not_after?,
        })
    })
}

/// Whether the causes can apply: the CDN presents a client certificate to this origin.
pub fn presents_one(origin: &Origin) -> bool {
    origin.client_certificate.is_some() || origin.cdn_client_certificate.is_some()
}

/// `cdn_client_certificate_expired` or `cdn_client_certificate_expiring_soon`, at `now`.
pub fn findings(origin: &Origin, now: i64) -> Vec<Finding> {
    let Some(p) = presented(origin) else {
        return Vec::new();
    };
    let left = p.not_after - now;
    let warn = i64::from(origin.expiry_warning_days) * 86_400;
    let (cause, when) = if left < 0 {
        (
            Cause::CdnClientCertificateExpired,
            format!("expired on {}, {} ago", date(p.not_after), days(-left)),
        )
    } else if left < warn {
        (
            Cause::CdnClientCertificateExpiringSoon,
            format!(
                "expires on {}, in {} (expiry_warning_days {})",
                date(p.not_after),
                days(left),
                origin.expiry_warning_days
            ),
        )
    } else {
        return Vec::new();
    };
    vec![Finding::new(
        cause,
        format!("{} {when}: {}", describe(p.source), todo(p.source)),
    )]
}

/// One evidence line: which certificate the CDN presents, until when, and whether the checks
/// present it too.
pub fn evidence(origin: &Origin, now: i64) -> Option<String> {
    if !presents_one(origin) {
        return None;
    }
    let mut line = match presented(origin) {
        Some(p) => format!(
            "mtls: {} valid to {}, {} left",
            describe(p.source),
            date(p.not_after),
            days(p.not_after - now)
        ),
        None => match &origin.cdn_client_certificate {
            Some(c) => format!(
                "mtls: the CDN presents ACM certificate {}; {}",
                c.arn,
                match &c.acm {
                    Err(why) => format!("ACM DescribeCertificate failed: {why}"),
                    Ok(_) => "ACM tells no NotAfter".to_string(),
                }
            ),
            None => "mtls: the CDN presents client_certificate (its notAfter does not parse)"
                .to_string(),
        },
    };
    match (&origin.cdn_client_certificate, &origin.client_certificate) {
        (Some(_), Some(copy)) => line.push_str(&format!(
            "; the checks present the local copy {}",
            copy.cert_file.display()
        )),
        (Some(_), None) => line.push_str(
            "; no local copy (discovery.cloudfront.client_certificates): the checks present none",
        ),
        _ => {}
    }
    Some(line)
}

/// What the CDN presents, in words: ACM's ARN with its type and status, or the file.
fn describe(source: Source) -> String {
    match source {
        Source::Acm { arn, status, kind } => {
            let facts: Vec<&str> = [kind, status].into_iter().flatten().collect();
            if facts.is_empty() {
                format!("the client certificate the CDN presents (ACM {arn})")
            } else {
                format!(
                    "the client certificate the CDN presents (ACM {arn}, {})",
                    facts.join(", ")
                )
            }
        }
        Source::File(path) => format!(
            "the client certificate the CDN presents (client_certificate {})",
            path.display()
        ),
    }
}

/// What to do, for that source.
fn todo(source: Source) -> String {
    match source {
        Source::Acm { .. } => "re-import (imported) or re-issue (private CA) it in ACM, then update the distribution's origin mTLS setting if its ARN changes; ACM does not renew it automatically".into(),
        Source::File(_) => "renew it, import it into ACM and point the distribution's origin mTLS setting at it, and replace client_certificate's files".into(),
    }
}

/// `2026-09-01 12:00:00 UTC`.
pub fn date(unix: i64) -> String {
    match x509_parser::time::ASN1Time::from_timestamp(unix) {
        Ok(t) => {
            let t = t.to_datetime();
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
        Err(_) => format!("@{unix}"),
    }
}

/// `5 days`, `1 day`, `0 days`: to the nearest whole day (the date says the rest).
fn days(seconds: i64) -> String {
    match (seconds + 43_200).div_euclid(86_400) {
        1 => "1 day".into(),
        n => format!("{n} days"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AcmCertificate, CdnClientCertificate, ClientCertificate};
    use std::sync::Arc;

    const NOW: i64 = 1_788_264_000; // 2026-09-01 12:00:00 UTC
    const DAY: i64 = 86_400;
    const ARN: &str = "arn:aws:acm:us-east-1:111122223333:certificate/abc";

    fn origin(
        acm: Option<Result<AcmCertificate, String>>,
        file_not_after: Option<Option<i64>>,
    ) -> Origin {
        let mut o = (*crate::diagnose::test_support::origin(&[crate::checks::Check::Tls])).clone();
        o.expiry_warning_days = 21;
        o.cdn_client_certificate = acm.map(|acm| {
            Arc::new(CdnClientCertificate {
                arn: ARN.into(),
                acm,
            })
        });
        o.client_certificate = file_not_after.map(|not_after| {
            Box::new(ClientCertificate {
                cert_file: "/etc/oe/client.pem".into(),
                key_file: "/etc/oe/client.key".into(),
                cert_pem: Arc::from(&b""[..]),
                key_pem: Arc::from(&b""[..]),
                not_after,
            })
        });
        o
    }

    fn acm(not_after: Option<i64>) -> Option<Result<AcmCertificate, String>> {
        Some(Ok(AcmCertificate {
            not_after,
            status: Some("ISSUED".into()),
            kind: Some("IMPORTED".into()),
        }))
    }

    #[test]
    fn the_cause_follows_the_presented_certificates_expiry() {
        // (ACM, local file, cause)
        let cases: [(_, _, Option<Cause>); 10] = [
            // No origin mTLS, no client_certificate: nothing.
            (None, None, None),
            // ACM: expired, within the warning days, outside them, at the boundaries.
            (
                acm(Some(NOW - 1)),
                None,
                Some(Cause::CdnClientCertificateExpired),
            ),
            (
                acm(Some(NOW)),
                None,
                Some(Cause::CdnClientCertificateExpiringSoon),
            ),
            (
                acm(Some(NOW + 5 * DAY)),
                None,
                Some(Cause::CdnClientCertificateExpiringSoon),
            ),
            (
                acm(Some(NOW + 21 * DAY - 1)),
                None,
                Some(Cause::CdnClientCertificateExpiringSoon),
            ),
            (acm(Some(NOW + 21 * DAY)), None, None),
            // ACM wins over the local copy; without its NotAfter, or when it failed, the copy.
            (acm(Some(NOW + 90 * DAY)), Some(Some(NOW - DAY)), None),
            (
                acm(None),
                Some(Some(NOW - DAY)),
                Some(Cause::CdnClientCertificateExpired),
            ),
            (
                Some(Err("AccessDenied".into())),
                Some(Some(NOW + DAY)),
                Some(Cause::CdnClientCertificateExpiringSoon),
            ),
            // A hand-given certificate whose notAfter did not parse: nothing to say.
            (None, Some(None), None),
        ];
        for (i, (acm, file, want)) in cases.into_iter().enumerate() {
            let o = origin(acm, file);
            let got: Vec<Cause> = findings(&o, NOW).iter().map(|f| f.cause).collect();
            assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "case {i}");
        }
    }

    #[test]
    fn the_evidence_names_the_arn_the_date_and_what_to_do() {
        let f = findings(&origin(acm(Some(NOW + 5 * DAY)), None), NOW);
        assert_eq!(
            f[0].detail,
            format!("the client certificate the CDN presents (ACM {ARN}, IMPORTED, ISSUED) expires on 2026-09-06 12:00:00 UTC, in 5 days (expiry_warning_days 21): re-import (imported) or re-issue (private CA) it in ACM, then update the distribution's origin mTLS setting if its ARN changes; ACM does not renew it automatically")
        );
        let f = findings(&origin(None, Some(Some(NOW - 2 * DAY - 5))), NOW);
        assert_eq!(
            f[0].detail,
            "the client certificate the CDN presents (client_certificate /etc/oe/client.pem) expired on 2026-08-30 11:59:55 UTC, 2 days ago: renew it, import it into ACM and point the distribution's origin mTLS setting at it, and replace client_certificate's files"
        );
    }

    #[test]
    fn evidence_says_whether_the_checks_present_the_cdns_certificate() {
        assert_eq!(evidence(&origin(None, None), NOW), None);
        assert_eq!(
            evidence(&origin(acm(Some(NOW + 30 * DAY)), None), NOW).as_deref(),
            Some(format!("mtls: the client certificate the CDN presents (ACM {ARN}, IMPORTED, ISSUED) valid to 2026-10-01 12:00:00 UTC, 30 days left; no local copy (discovery.cloudfront.client_certificates): the checks present none").as_str())
        );
        assert_eq!(
            evidence(&origin(acm(Some(NOW + 30 * DAY)), Some(Some(NOW))), NOW).as_deref(),
            Some(format!("mtls: the client certificate the CDN presents (ACM {ARN}, IMPORTED, ISSUED) valid to 2026-10-01 12:00:00 UTC, 30 days left; the checks present the local copy /etc/oe/client.pem").as_str())
        );
        assert_eq!(
            evidence(&origin(Some(Err("AccessDenied: no acm:DescribeCertificate".into())), None), NOW).as_deref(),
            Some(format!("mtls: the CDN presents ACM certificate {ARN}; ACM DescribeCertificate failed: AccessDenied: no acm:DescribeCertificate; no local copy (discovery.cloudfront.client_certificates): the checks present none").as_str())
        );
        assert_eq!(
            CdnIdentity::of(&origin(acm(None), None)),
            CdnIdentity::Unavailable
        );
        assert_eq!(
            CdnIdentity::of(&origin(acm(None), Some(None))),
            CdnIdentity::Local
        );
        assert_eq!(CdnIdentity::of(&origin(None, None)), CdnIdentity::None);
    }

    #[test]
    fn an_origin_asking_for_the_cdns_certificate_is_required_only_when_the_cdn_has_none() {
        use super::super::cdn_client::Finish;
        use super::super::Rejection;
        let done = Finish::Done {
            version: "TLSv1.2",
            cipher: "ECDHE-RSA-AES128-GCM-SHA256",
        };
        let alert = Finish::AlertReceived {
            alert: 116,
            step: "SSLv3/TLS read finished".into(),
        };
        let required = |finish: &Finish| Handshake::ClientCertificateRequired {
            finish: finish.clone(),
        };
        let unchecked = |finish: &Finish| Handshake::ClientCertificateUnchecked {
            finish: finish.clone(),
        };
        // (verdict without a certificate, what the CDN presents, verdict)
        let cases = [
            (required(&alert), CdnIdentity::None, required(&alert)),
            (required(&done), CdnIdentity::None, required(&done)),
            (
                required(&alert),
                CdnIdentity::Unavailable,
                unchecked(&alert),
            ),
            (required(&done), CdnIdentity::Unavailable, unchecked(&done)),
            // With a local copy the handshake presented it: its verdict stands.
            (
                Handshake::ClientCertificateRejected(Rejection::Handshake(alert.clone())),
                CdnIdentity::Local,
                Handshake::ClientCertificateRejected(Rejection::Handshake(alert.clone())),
            ),
            (
                Handshake::Accepted,
                CdnIdentity::Unavailable,
                Handshake::Accepted,
            ),
            (
                Handshake::Unfinished(Finish::TimedOut),
                CdnIdentity::Unavailable,
                Handshake::Unfinished(Finish::TimedOut),
            ),
        ];
        for (given, identity, want) in cases {
            assert_eq!(
                without_copy(given.clone(), identity),
                want,
                "{given:?} {identity:?}"
            );
        }
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(date(NOW), "2026-09-01 12:00:00 UTC");
        assert_eq!(days(DAY / 2 - 1), "0 days");
        assert_eq!(days(DAY - 1), "1 day");
        assert_eq!(days(5 * DAY - 3), "5 days");
    }
}
