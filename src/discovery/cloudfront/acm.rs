//! The client certificates the distributions' origin mTLS settings name, as ACM describes them
//! (DescribeCertificate): their expiry, status and type.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use tracing::warn;

use super::map::{Distribution, OriginKind};
use super::CloudFront;
use crate::config::AcmCertificate;
use crate::discovery::CLOUDFRONT;

impl CloudFront {
    /// DescribeCertificate once per ARN. A failure fails nothing else (the origins are probed all
    /// the same) and is logged: a certificate described before keeps its last description (a
    /// throttled call does not make its expiry vanish), one never described carries the error
    /// (no `acm:DescribeCertificate` permission, say), which its origin's evidence shows.
    pub(super) async fn describe_certificates(
        &mut self,
        distributions: &[Distribution],
    ) -> BTreeMap<String, Result<AcmCertificate, String>> {
        let arns: BTreeSet<&str> = distributions
            .iter()
            .flat_map(|d| &d.origins)
            .filter_map(|o| match &o.kind {
                OriginKind::Custom(c) => c.mtls_certificate_arn.as_deref(),
                _ => None,
            })
            .collect();
        let mut out = BTreeMap::new();
        for arn in arns {
            self.calls
                .describe_certificate
                .fetch_add(1, Ordering::Relaxed);
            let described = self
                .acm
                .describe_certificate()
                .certificate_arn(arn)
                .send()
                .await
                .map_err(|e| {
                    let message = aws_sdk_acm::error::DisplayErrorContext(e).to_string();
                    warn!(provider = CLOUDFRONT, certificate = arn, error = %message, "acm DescribeCertificate failed: the expiry of the client certificate the CDN presents is unknown");
                    message
                })
                .map(|out| {
                    let c = out.certificate();
                    AcmCertificate {
                        not_after: c.and_then(|c| c.not_after()).map(|t| t.secs()),
                        status: c.and_then(|c| c.status()).map(|s| s.as_str().to_string()),
                        kind: c.and_then(|c| c.r#type()).map(|t| t.as_str().to_string()),
                    }
                });
            let described = match described {
                Ok(facts) => {
                    self.described.insert(arn.to_string(), facts.clone());
                    Ok(facts)
                }
                Err(e) => self.described.get(arn).cloned().ok_or(e),
            };
            out.insert(arn.to_string(), described);
        }
        // Only certificates still named by a distribution are remembered.
        self.described.retain(|arn, _| out.contains_key(arn));
        out
    }
}
