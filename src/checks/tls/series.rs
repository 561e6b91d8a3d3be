//! The TLS check's series: the CDN handshake, the protocol matrix, every served certificate.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use crate::cdn::TlsVersion;
use crate::exposition::{detail_family, family, lookup, push_label, Observed, Rendered};

pub(super) fn encode(enc: &mut DescriptorEncoder, rows: &[Observed]) -> fmt::Result {
    use crate::checks::{Handshake, Outcome, TlsReport};
    fn report<'a>(s: &Observed<'a>) -> Option<&'a TlsReport> {
        s.results
            .get::<super::TlsCheck>()
            .and_then(|r| r.completed())
    }
    fn chain<'a>(s: &Observed<'a>) -> Option<&'a crate::analysis::ChainReport> {
        report(s).and_then(|r| r.chain.as_ref())
    }
    family(
        enc,
        "origin_tls_handshake_success",
        "1 when the origin answered the CDN's own ClientHello with a protocol and cipher the CDN offered.",
        rows,
        |o, s, e| match s.results.get::<super::TlsCheck>().map(|r| &r.outcome) {
            None => Ok(()),
            // A hello the origin accepted, asking for the CDN's origin mTLS certificate of which
            // the exporter has no copy, is no failure the exporter saw.
            Some(Outcome::Completed(r)) => e.gauge(
                o,
                &[],
                i64::from(matches!(
                    r.handshake,
                    Handshake::Accepted | Handshake::ClientCertificateUnchecked { .. }
                )),
            ),
            Some(_) => e.gauge(o, &[], 0),
        },
    )?;
    family(
        enc,
        "origin_tls_version_info",
        "Negotiated protocol version; value 1.",
        rows,
        |o, s, e| match report(s).and_then(|r| r.negotiated.as_ref()) {
            Some(n) => e.gauge(o, &[("version", n.version.name())], 1),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "origin_tls_cipher_info",
        "Negotiated cipher suite (OpenSSL name; IANA name for TLS 1.3 suites); value 1.",
        rows,
        |o, s, e| match report(s).and_then(|r| r.negotiated.as_ref()) {
            Some(n) => e.gauge(o, &[("cipher", &n.cipher)], 1),
            None => Ok(()),
        },
    )?;
    detail_family(
        enc,
        "origin_tls_protocol_supported",
        "1 when the origin accepts a ClientHello offering only that version.",
        rows,
        |o, s, e| {
            for (v, ok) in report(s).map_or(&[][..], |r| r.protocols.as_slice()) {
                e.gauge_rendered(o, version_labels(*v), i64::from(*ok))?;
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "origin_tls_cert_days_remaining",
        "Days until the leaf certificate expires (negative once expired).",
        rows,
        |o, s, e| match chain(s).and_then(|c| c.leaf_days_remaining) {
            Some(days) => e.gauge(o, &[], days),
            None => Ok(()),
        },
    )?;
    for (name, help, not_after) in [
        (
            "origin_tls_cert_not_after_timestamp_seconds",
            "notAfter of every certificate the origin served; position 0 is the first one sent.",
            true,
        ),
        (
            "origin_tls_cert_not_before_timestamp_seconds",
            "notBefore of every certificate the origin served; position 0 is the first one sent.",
            false,
        ),
    ] {
        detail_family(enc, name, help, rows, |o, s, e| {
            for c in chain(s).map_or(&[][..], |c| &c.certs[..]) {
                let position = c.position.to_string();
                let labels = [
                    ("position", position.as_str()),
                    ("subject_cn", c.subject_cn.as_str()),
                    ("issuer_cn", c.issuer_cn.as_str()),
                    ("serial", c.serial.as_str()),
                ];
                let t = if not_after { c.not_after } else { c.not_before };
                e.gauge(o, &labels, t)?;
            }
            Ok(())
        })?;
    }
    family(
        enc,
        "origin_tls_chain_valid",
        "1 when the served chain is in order, complete, within validity, and reaches a trusted root.",
        rows,
        |o, s, e| match chain(s) {
            Some(c) => e.gauge(o, &[], i64::from(c.chain_valid())),
            None => Ok(()),
        },
    )?;
    family(
        enc,
        "origin_cdn_client_certificate_not_after_timestamp_seconds",
        "When the client certificate the CDN presents to the origin (origin mTLS) expires: from ACM for a discovered origin with origin mTLS, else from client_certificate.",
        rows,
        |o, _, e| match super::mtls::presented(o) {
            Some(p) => e.gauge(o, &[], p.not_after),
            None => Ok(()),
        },
    )?;
    detail_family(
        enc,
        "origin_tls_san_match",
        "1 when the leaf certificate covers the name (domain, and host_header if set).",
        rows,
        |o, s, e| {
            for (name, ok) in chain(s).map_or(&[][..], |c| c.names.as_slice()) {
                e.gauge(o, &[("name", name)], i64::from(*ok))?;
            }
            Ok(())
        },
    )
}

fn version_labels(version: TlsVersion) -> &'static str {
    static TABLE: Rendered<TlsVersion> = Rendered::new();
    lookup(&TABLE, &TlsVersion::ALL, version, |v| {
        let mut s = String::new();
        push_label(&mut s, "version", v.name());
        s
    })
}
