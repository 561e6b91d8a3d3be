//! The causes of a CDN 502 that the exporter can tell apart, with fixed severities (SPEC.md).

use crate::config::{Check, Origin};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Critical,
    Warning,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}

/// Every cause of SPEC.md, in its table's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    DnsResolutionFailed,
    DnsAllNameserversDown,
    DnsNameserverDown,
    DnsLameDelegation,
    DnsSoaSerialMismatch,
    DnsDelegationMismatch,
    PortUnreachable,
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
    HttpErrorStatus,
    HttpTimeout,
    TlsClientCertificateRequired,
    TlsClientCertificateRejected,
    CdnClientCertificateExpired,
    CdnClientCertificateExpiringSoon,
    HttpKeepaliveRace,
    EdgeLambdaError,
    EdgeFunctionError,
    EdgeUnexplainedError,
}

use Cause::*;

impl Cause {
    pub const ALL: [Cause; 28] = [
        DnsResolutionFailed,
        DnsAllNameserversDown,
        DnsNameserverDown,
        DnsLameDelegation,
        DnsSoaSerialMismatch,
        DnsDelegationMismatch,
        PortUnreachable,
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
        HttpErrorStatus,
        HttpTimeout,
        TlsClientCertificateRequired,
        TlsClientCertificateRejected,
        CdnClientCertificateExpired,
        CdnClientCertificateExpiringSoon,
        HttpKeepaliveRace,
        EdgeLambdaError,
        EdgeFunctionError,
        EdgeUnexplainedError,
    ];

    /// The `cause` label value.
    pub fn name(self) -> &'static str {
        match self {
            DnsResolutionFailed => "dns_resolution_failed",
            DnsAllNameserversDown => "dns_all_nameservers_down",
            DnsNameserverDown => "dns_nameserver_down",
            DnsLameDelegation => "dns_lame_delegation",
            DnsSoaSerialMismatch => "dns_soa_serial_mismatch",
            DnsDelegationMismatch => "dns_delegation_mismatch",
            PortUnreachable => "port_unreachable",
            TlsHandshakeFailed => "tls_handshake_failed",
            TlsProtocolMismatch => "tls_protocol_mismatch",
            TlsCipherMismatch => "tls_cipher_mismatch",
            CertHostnameMismatch => "cert_hostname_mismatch",
            CertExpired => "cert_expired",
            CertNotYetValid => "cert_not_yet_valid",
            CertSelfSigned => "cert_self_signed",
            CertChainIncomplete => "cert_chain_incomplete",
            CertUntrusted => "cert_untrusted",
            CertChainOrder => "cert_chain_order",
            CertExpiringSoon => "cert_expiring_soon",
            HttpErrorStatus => "http_error_status",
            HttpTimeout => "http_timeout",
            TlsClientCertificateRequired => "tls_client_certificate_required",
            TlsClientCertificateRejected => "tls_client_certificate_rejected",
            CdnClientCertificateExpired => "cdn_client_certificate_expired",
            CdnClientCertificateExpiringSoon => "cdn_client_certificate_expiring_soon",
            HttpKeepaliveRace => "http_keepalive_race",
            EdgeLambdaError => "edge_lambda_error",
            EdgeFunctionError => "edge_function_error",
            EdgeUnexplainedError => "edge_unexplained_error",
        }
    }

    pub fn from_name(name: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn severity(self) -> Severity {
        match self {
            DnsNameserverDown
            | DnsLameDelegation
            | DnsSoaSerialMismatch
            | DnsDelegationMismatch
            | CertExpiringSoon
            | CdnClientCertificateExpiringSoon
            | HttpKeepaliveRace => Severity::Warning,
            _ => Severity::Critical,
        }
    }

    /// The check that detects this cause: the registered check whose module lists it.
    pub fn check(self) -> Check {
        crate::checks::REGISTRY
            .iter()
            .find(|m| m.causes().contains(&self))
            .map_or(Check::Dns, |m| m.id())
    }

    /// Whether this origin's configuration can detect the cause at all.
    pub fn applies_to(self, origin: &Origin) -> bool {
        match self {
            // The CDN resolves the domain unless the exporter was told where to connect.
            DnsResolutionFailed => origin.address.is_none(),
            // Only where the CDN presents a client certificate (origin mTLS).
            CdnClientCertificateExpired | CdnClientCertificateExpiringSoon => {
                origin.has_check(self.check()) && crate::checks::tls::mtls::presents_one(origin)
            }
            _ => origin.has_check(self.check()),
        }
    }

    /// What it means, in one sentence.
    pub fn summary(self) -> &'static str {
        match self {
            DnsResolutionFailed => "The origin domain does not resolve, so the CDN cannot find the origin (CloudFront: NonS3OriginDnsError).",
            DnsAllNameserversDown => "No authoritative nameserver of the origin's zone answers with authority.",
            DnsNameserverDown => "An authoritative nameserver of the zone sends no answer at all.",
            DnsLameDelegation => "A nameserver listed for the zone answers without authority (no AA flag, or REFUSED).",
            DnsSoaSerialMismatch => "The zone's nameservers serve different versions of the zone (SOA serials differ).",
            DnsDelegationMismatch => "The parent zone delegates to a different set of nameservers than the zone lists itself.",
            PortUnreachable => "A port the CDN connects to refuses connections or does not answer.",
            TlsHandshakeFailed => "The TLS handshake with the CDN's ClientHello fails (no TLS on the port, reset, timeout or alert).",
            TlsProtocolMismatch => "The origin accepts none of the TLS versions the CDN is allowed to use.",
            TlsCipherMismatch => "The origin accepts a TLS version the CDN offers but none of the CDN's cipher suites.",
            CertHostnameMismatch => "The certificate covers neither the origin domain nor the forwarded Host header.",
            CertExpired => "A certificate the origin serves has expired.",
            CertNotYetValid => "A certificate the origin serves is not valid yet.",
            CertSelfSigned => "The origin serves a self-signed certificate.",
            CertChainIncomplete => "The origin does not send the intermediate certificate(s) its certificate needs.",
            CertUntrusted => "The certificate chain does not lead to a CA the CDN trusts.",
            CertChainOrder => "The origin sends its certificates in the wrong order.",
            CertExpiringSoon => "A certificate the origin serves expires soon.",
            HttpErrorStatus => "The origin answers the CDN's request with an unexpected status.",
            HttpTimeout => "The origin sends no response headers within the CDN's read timeout, or not the whole response within its response completion timeout.",
            TlsClientCertificateRequired => "The origin asks for a client certificate (TLS CertificateRequest) and the origin has no client_certificate: the CDN, without origin mTLS, drops the request.",
            TlsClientCertificateRejected => "The origin refuses the configured client certificate: the CDN's handshake with origin mTLS fails.",
            CdnClientCertificateExpired => "The client certificate the CDN presents to the origin (origin mTLS) has expired: an origin that checks it refuses the CDN.",
            CdnClientCertificateExpiringSoon => "The client certificate the CDN presents to the origin (origin mTLS) expires soon, and ACM does not renew it automatically.",
            HttpKeepaliveRace => "The origin closes idle connections sooner than the CDN's keep-alive timeout: a request the CDN sends on a connection the origin is closing fails (502).",
            EdgeLambdaError => "A Lambda@Edge function fails for this origin's requests: the CDN answers 502 (invalid response) or 503 (execution error, throttling) without the origin's fault.",
            EdgeFunctionError => "A CloudFront Function fails for this origin's requests: the CDN answers 502 (invalid object) or 503 (execution error, throttling) without the origin's fault.",
            EdgeUnexplainedError => "The CDN itself answers 5xx although the exporter reaches the origin without a problem: the CDN cannot reach it (a firewall admitting the exporter but not the CDN's address ranges) or a cause the exporter does not model.",
        }
    }

    /// What to do about it.
    pub fn remedy(self) -> &'static str {
        match self {
            DnsResolutionFailed => "Check that the name exists (A/AAAA records) and that its zone's nameservers answer; the confirm commands show both.",
            DnsAllNameserversDown => "Bring the zone's nameservers back, or fix the NS records at the registrar/parent zone.",
            DnsNameserverDown => "Fix or remove the silent nameserver from the zone's NS set (and the parent delegation).",
            DnsLameDelegation => "Configure the zone on that nameserver, or remove it from the NS set.",
            DnsSoaSerialMismatch => "Check zone transfers (NOTIFY/AXFR/IXFR) from the primary to the lagging secondaries.",
            DnsDelegationMismatch => "Make the NS records in the parent zone equal to the zone's own NS records.",
            PortUnreachable => "Open the port in the firewall/security group for the CDN's address ranges and check the server listens on it.",
            TlsHandshakeFailed => "Make sure the port speaks TLS, and check the server's TLS configuration and logs.",
            TlsProtocolMismatch => "Enable a protocol the CDN offers (TLS 1.2) on the origin, or allow the origin's protocol in the distribution's origin settings.",
            TlsCipherMismatch => "Enable an ECDHE-RSA/ECDSA AES-GCM or AES-CBC suite the CDN offers on the origin.",
            CertHostnameMismatch => "Install a certificate whose SAN covers the origin domain (or the forwarded Host header).",
            CertExpired => "Renew the certificate and reload the server.",
            CertNotYetValid => "Check the certificate's notBefore and the server's clock; serve a certificate that is valid now.",
            CertSelfSigned => "Install a certificate issued by a publicly trusted CA.",
            CertChainIncomplete => "Configure the server to send the full chain (leaf, then intermediates), e.g. fullchain.pem.",
            CertUntrusted => "Use a certificate from a CA in Mozilla's trust store.",
            CertChainOrder => "Serve the leaf first, then each issuer in order (fullchain.pem order).",
            CertExpiringSoon => "Renew the certificate before it expires.",
            HttpErrorStatus => "Look at the origin's (or its load balancer's) logs for the failing request.",
            HttpTimeout => "Find why the origin is slow, or raise the distribution's origin read timeout (headers) or response completion timeout (the whole response), whichever the evidence names.",
            TlsClientCertificateRequired => "Stop requesting client certificates on the CDN-facing listener (nginx: ssl_verify_client off), or configure origin mTLS on the distribution and the same certificate as this origin's client_certificate.",
            CdnClientCertificateExpired => "Re-import a renewed certificate into ACM (or re-issue it from the private CA), update the distribution's origin mTLS setting to its ARN if it changed, and replace the local copy (client_certificate, discovery.cloudfront.client_certificates).",
            CdnClientCertificateExpiringSoon => "Before it expires: re-import a renewed certificate into ACM (or re-issue it from the private CA), update the distribution's origin mTLS setting if the ARN changes, and replace the local copy.",
            TlsClientCertificateRejected => "Make the origin trust the client certificate's issuer (nginx: ssl_client_certificate) and check the certificate is valid and meant for client authentication; it must be the one the distribution's origin mTLS presents.",
            HttpKeepaliveRace => "Make the origin keep idle connections open longer than the distribution's keep-alive timeout (nginx keepalive_timeout, Apache KeepAliveTimeout, gunicorn --keep-alive, Node.js server.keepAliveTimeout, Go http.Server IdleTimeout), or lower the distribution's origin keep-alive timeout below the origin's.",
            EdgeLambdaError => "Read the function's logs in CloudWatch Logs of the region nearest the viewer (log group /aws/lambda/us-east-1.FUNCTION); fix the response it returns, or its errors and limits.",
            EdgeFunctionError => "Read the function's logs (CloudWatch Logs, us-east-1, /aws/cloudfront/function/NAME) and its FunctionValidationErrors/FunctionExecutionErrors metrics; fix the object it returns.",
            EdgeUnexplainedError => "Allow the CDN's origin-facing address ranges (the managed prefix list com.amazonaws.global.cloudfront.origin-facing) in the origin's firewall or security group; then compare the distribution's origin settings with this origin's.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_follow_the_spec_order() {
        for (i, c) in Cause::ALL.into_iter().enumerate() {
            assert_eq!(Cause::from_name(c.name()), Some(c));
            assert_eq!(c as usize, i);
        }
    }

    #[test]
    fn warnings_are_exactly_the_spec_warnings() {
        let warnings: Vec<_> = Cause::ALL
            .into_iter()
            .filter(|c| c.severity() == Severity::Warning)
            .map(Cause::name)
            .collect();
        assert_eq!(
            warnings,
            [
                "dns_nameserver_down",
                "dns_lame_delegation",
                "dns_soa_serial_mismatch",
                "dns_delegation_mismatch",
                "cert_expiring_soon",
                "cdn_client_certificate_expiring_soon",
                "http_keepalive_race"
            ]
        );
    }

    #[test]
    fn severity_names_are_the_label_values() {
        assert_eq!(Severity::Critical.name(), "critical");
        assert_eq!(Severity::Warning.name(), "warning");
    }

    #[test]
    fn resolution_applies_whenever_the_exporter_resolves_the_domain() {
        use crate::diagnose::test_support::origin;
        // Without the DNS check, the domain is still resolved (the CDN resolves it too)...
        let tcp_only = origin(&[Check::Tcp]);
        assert!(DnsResolutionFailed.applies_to(&tcp_only));
        assert!(!DnsNameserverDown.applies_to(&tcp_only));
        assert!(PortUnreachable.applies_to(&tcp_only));
        // ...unless the origin names the address to connect to, even with the DNS check.
        let mut pinned = (*origin(&[Check::Dns, Check::Tcp])).clone();
        pinned.address = Some("192.0.2.1".parse().unwrap());
        assert!(!DnsResolutionFailed.applies_to(&pinned));
        assert!(DnsNameserverDown.applies_to(&pinned));
    }

    #[test]
    fn every_cause_has_its_own_summary_and_remedy() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Cause::ALL {
            for text in [c.summary(), c.remedy()] {
                assert!(text.len() > 20 && text.ends_with('.'), "{c:?}: {text:?}");
                assert!(seen.insert(text), "{c:?} repeats {text:?}");
            }
        }
        assert_eq!(
            CertExpired.summary(),
            "A certificate the origin serves has expired."
        );
        assert_eq!(
            CertExpired.remedy(),
            "Renew the certificate and reload the server."
        );
    }
}
