//! `discovery` as validated: which CDN APIs origins are discovered from and how, and what a
//! discovered origin carries from its CDN (where it comes from, the client certificate the CDN
//! presents to it).

use std::collections::BTreeMap;
use std::time::Duration;

use super::ClientCertificate;

/// `discovery`: the CDN APIs origins are discovered from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovery {
    pub cloudfront: Option<CloudFrontDiscovery>,
}

/// `discovery.cloudfront`: which distributions to list, and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudFrontDiscovery {
    pub refresh_interval: Duration,
    /// Only these distributions; empty means every one the credentials can list.
    pub distribution_ids: Vec<String>,
    /// Only distributions carrying every one of these tags.
    pub tags: BTreeMap<String, String>,
    /// API endpoint override; `None` is the AWS default for us-east-1.
    pub endpoint_url: Option<String>,
    /// When set, each discovered origin carries `https://<distribution domain><edge_path>`.
    pub edge_path: Option<String>,
    /// Whether VPC origins are probed (`vpc_origins`).
    pub vpc_origins: VpcOrigins,
    /// Local copies of the client certificates the CDN presents (origin mTLS), by ACM ARN
    /// (`client_certificates`): a discovered origin whose distribution names one presents it.
    pub client_certificates: BTreeMap<String, ClientCertificate>,
}

/// `discovery.cloudfront.vpc_origins`: VPC origins are reachable from inside their VPC only, so
/// they are probed only when the exporter runs there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VpcOrigins {
    /// Counted and listed as skipped, not probed.
    #[default]
    Skip,
    /// Probed with the ports, protocol policy and protocols of the VPC origin (GetVpcOrigin).
    Probe,
}

impl VpcOrigins {
    pub const NAMES: [&'static str; 2] = ["skip", "probe"];

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "skip" => Some(Self::Skip),
            "probe" => Some(Self::Probe),
            _ => None,
        }
    }
}

/// The client certificate the CDN presents to a discovered origin through origin mTLS
/// (CloudFront `OriginMtlsConfig`): its ACM ARN, and what ACM says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdnClientCertificate {
    pub arn: String,
    /// ACM's DescribeCertificate, or why it could not be read.
    pub acm: Result<AcmCertificate, String>,
}

/// What ACM's DescribeCertificate tells of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AcmCertificate {
    /// `NotAfter`, Unix seconds.
    pub not_after: Option<i64>,
    /// `Status`: `ISSUED`, `EXPIRED`, `REVOKED`, `INACTIVE`, ...
    pub status: Option<String>,
    /// `Type`: `IMPORTED`, `AMAZON_ISSUED` or `PRIVATE`.
    pub kind: Option<String>,
}

/// The CDN object a discovered origin comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub provider: &'static str,
    pub distribution_id: String,
    pub origin_id: String,
    /// The distribution's own domain name (`d111111abcdef8.cloudfront.net`).
    pub distribution_domain: String,
    /// `https://<distribution domain><edge_path>` when `edge_path` is set: for the edge check.
    pub edge_url: Option<String>,
    /// The origin groups this origin is a member of.
    pub groups: Vec<String>,
}
