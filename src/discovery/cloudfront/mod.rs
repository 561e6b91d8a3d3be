//! CloudFront discovery: lists every distribution the credentials can see (every page,
//! `Marker`/`NextMarker`), keeps those matching `distribution_ids` and `tags`
//! (ListTagsForResource), reads each cache behavior's cache policy (GetCachePolicy) and origin
//! request policy (GetOriginRequestPolicy), each id once per refresh (a policy changes under its
//! id: nothing is kept across refreshes), to tell whether it forwards `Host`, reads each VPC
//! origin with `vpc_origins: probe` (GetVpcOrigin) and each origin mTLS client certificate from
//! ACM (DescribeCertificate), each once per id and refresh too, and hands the result to the pure
//! mapping ([`map`]). Credentials come from the AWS default chain (environment, profile, web
//! identity / IRSA, container and instance metadata); the region is us-east-1, where the
//! CloudFront API lives and where CloudFront's ACM certificates must be. The SDKs' HTTP client
//! is built on rustls with ring, the exporter's one crypto provider; `endpoint_url` points both
//! the CloudFront and the ACM client at the same endpoint.
//!
//! Here the client, the listing and the refresh task; beside it what else a refresh reads: the
//! policies (`policies.rs`), VPC origins (`vpc.rs`), ACM certificates (`acm.rs`), and the SDK's
//! types as the mapping reads them (`sdk.rs`).

mod acm;
pub mod map;
mod policies;
mod sdk;
mod vpc;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudfront::error::DisplayErrorContext;
use aws_sdk_cloudfront::types::DistributionSummary;
use aws_sdk_cloudfront::Client;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{error, info};

use self::map::{Distribution, OriginGroup};
use self::policies::Policies;
use self::sdk::origin;
use super::{Discovered, DiscoveryStatus};
use crate::config::{AcmCertificate, CloudFrontDiscovery, VpcOrigins};

/// A test-only seam: credentials that replace the default chain, so that tests against a fake
/// API (moto, a stub) need no `AWS_*` environment variables (setting them in a multi-threaded
/// test process is a data race) and never ask a metadata service. The exporter never sets it.
#[doc(hidden)]
pub mod fake {
    use std::sync::OnceLock;

    use aws_sdk_cloudfront::config::Credentials;

    static CREDENTIALS: OnceLock<Credentials> = OnceLock::new();

    /// From now on, every client of this process uses these credentials (the first call wins).
    pub fn use_static_credentials(access_key_id: &str, secret_access_key: &str) {
        let _ = CREDENTIALS.set(Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "origin_exporter tests",
        ));
    }

    pub(super) fn credentials() -> Option<Credentials> {
        CREDENTIALS.get().cloned()
    }
}

/// Distributions asked for per ListDistributions page.
const PAGE_SIZE: i32 = 100;
/// Bound of one API operation, retries included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("cloudfront {operation}: {message}")]
    Api {
        operation: &'static str,
        message: String,
    },
}

fn api<E: std::error::Error>(operation: &'static str) -> impl FnOnce(E) -> DiscoveryError {
    move |e| DiscoveryError::Api {
        operation,
        message: DisplayErrorContext(e).to_string(),
    }
}

/// API calls made, by operation (the benchmark's figures).
#[derive(Debug, Default)]
pub struct ApiCalls {
    pub list_distributions: AtomicU64,
    pub list_tags_for_resource: AtomicU64,
    pub get_origin_request_policy: AtomicU64,
    pub get_cache_policy: AtomicU64,
    pub get_vpc_origin: AtomicU64,
    pub describe_certificate: AtomicU64,
}

impl ApiCalls {
    pub fn total(&self) -> u64 {
        self.list_distributions.load(Ordering::Relaxed)
            + self.list_tags_for_resource.load(Ordering::Relaxed)
            + self.get_origin_request_policy.load(Ordering::Relaxed)
            + self.get_cache_policy.load(Ordering::Relaxed)
            + self.get_vpc_origin.load(Ordering::Relaxed)
            + self.describe_certificate.load(Ordering::Relaxed)
    }
}

/// A CloudFront API client for one `discovery.cloudfront` section.
pub struct CloudFront {
    client: Client,
    acm: aws_sdk_acm::Client,
    /// The last description of each origin mTLS certificate, by ARN: kept through a failed call.
    described: HashMap<String, AcmCertificate>,
    settings: CloudFrontDiscovery,
    /// The policies read during the current refresh, by id: behaviors share them. Emptied at
    /// the start of every refresh, since a policy is edited under the same id.
    policies: Policies,
    pub calls: Arc<ApiCalls>,
}

impl CloudFront {
    /// Builds the client; makes no request (credentials are fetched on the first call).
    pub async fn new(settings: &CloudFrontDiscovery) -> CloudFront {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::from_static("us-east-1"))
            .http_client(http)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(OPERATION_TIMEOUT)
                    .connect_timeout(Duration::from_secs(10))
                    .build(),
            );
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(credentials) = fake::credentials() {
            loader = loader.credentials_provider(credentials);
        }
        let config = loader.load().await;
        CloudFront {
            client: Client::new(&config),
            acm: aws_sdk_acm::Client::new(&config),
            described: HashMap::new(),
            settings: settings.clone(),
            policies: Policies::default(),
            calls: Arc::default(),
        }
    }

    /// Every distribution the settings select, as the mapping reads it, with what ACM says of
    /// the client certificates their origin mTLS settings name.
    pub async fn list(&mut self) -> Result<Discovered, DiscoveryError> {
        let mut distributions = self.distributions().await?;
        if self.settings.vpc_origins == VpcOrigins::Probe {
            self.read_vpc_origins(&mut distributions).await?;
        }
        let certificates = self.describe_certificates(&distributions).await;
        Ok(Discovered {
            distributions,
            certificates,
        })
    }

    /// Every distribution the settings select.
    async fn distributions(&mut self) -> Result<Vec<Distribution>, DiscoveryError> {
        self.policies = Policies::default();
        let mut distributions = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            self.calls
                .list_distributions
                .fetch_add(1, Ordering::Relaxed);
            let page = self
                .client
                .list_distributions()
                .set_marker(marker.clone())
                .max_items(PAGE_SIZE)
                .send()
                .await
                .map_err(api("ListDistributions"))?;
            let Some(list) = page.distribution_list() else {
                break;
            };
            for summary in list.items() {
                if !self.settings.distribution_ids.is_empty()
                    && !self
                        .settings
                        .distribution_ids
                        .iter()
                        .any(|id| id == summary.id())
                {
                    continue;
                }
                if !self.tags_match(summary.arn()).await? {
                    continue;
                }
                distributions.push(self.distribution(summary).await?);
            }
            match list.next_marker() {
                Some(next) if list.is_truncated() && !next.is_empty() => {
                    marker = Some(next.to_string());
                }
                _ => break,
            }
        }
        Ok(distributions)
    }

    async fn tags_match(&self, arn: &str) -> Result<bool, DiscoveryError> {
        if self.settings.tags.is_empty() {
            return Ok(true);
        }
        self.calls
            .list_tags_for_resource
            .fetch_add(1, Ordering::Relaxed);
        let out = self
            .client
            .list_tags_for_resource()
            .resource(arn)
            .send()
            .await
            .map_err(api("ListTagsForResource"))?;
        let tags: HashMap<&str, &str> = out
            .tags()
            .map(|t| t.items())
            .unwrap_or_default()
            .iter()
            .map(|t| (t.key(), t.value().unwrap_or_default()))
            .collect();
        Ok(self
            .settings
            .tags
            .iter()
            .all(|(k, v)| tags.get(k.as_str()) == Some(&v.as_str())))
    }

    async fn distribution(
        &mut self,
        s: &DistributionSummary,
    ) -> Result<Distribution, DiscoveryError> {
        let mut behaviors = Vec::new();
        if let Some(b) = s.default_cache_behavior() {
            #[allow(
                deprecated,
                reason = "legacy ForwardedValues still decide Host forwarding"
            )]
            let legacy = b.forwarded_values();
            let b = self
                .behavior(
                    b.target_origin_id(),
                    b.cache_policy_id(),
                    b.origin_request_policy_id(),
                    legacy,
                )
                .await?;
            behaviors.push(b);
        }
        for b in s.cache_behaviors().map(|c| c.items()).unwrap_or_default() {
            #[allow(
                deprecated,
                reason = "legacy ForwardedValues still decide Host forwarding"
            )]
            let legacy = b.forwarded_values();
            let b = self
                .behavior(
                    b.target_origin_id(),
                    b.cache_policy_id(),
                    b.origin_request_policy_id(),
                    legacy,
                )
                .await?;
            behaviors.push(b);
        }
        Ok(Distribution {
            id: s.id().to_string(),
            domain_name: s.domain_name().to_string(),
            aliases: s.aliases().map(|a| a.items().to_vec()).unwrap_or_default(),
            origins: s
                .origins()
                .map(|o| o.items())
                .unwrap_or_default()
                .iter()
                .map(origin)
                .collect(),
            origin_groups: s
                .origin_groups()
                .map(|g| g.items())
                .unwrap_or_default()
                .iter()
                .map(|g| OriginGroup {
                    id: g.id().to_string(),
                    members: g
                        .members()
                        .map(|m| m.items())
                        .unwrap_or_default()
                        .iter()
                        .map(|m| m.origin_id().to_string())
                        .collect(),
                    failover_status_codes: g
                        .failover_criteria()
                        .and_then(|f| f.status_codes())
                        .map(|c| c.items())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|c| u16::try_from(*c).ok())
                        .collect(),
                })
                .collect(),
            behaviors,
        })
    }
}

/// Runs discovery for one `discovery.cloudfront` section until aborted: lists now, then every
/// `refresh_interval`; each success goes to `sets`, each failure is logged once and counted, and
/// the last set stays in force.
pub fn spawn(
    settings: CloudFrontDiscovery,
    status: Arc<DiscoveryStatus>,
    sets: mpsc::Sender<Discovered>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut cloudfront = CloudFront::new(&settings).await;
        let mut ticker = tokio::time::interval(settings.refresh_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match cloudfront.list().await {
                Ok(set) => {
                    status.succeeded(crate::checks::unix_seconds(std::time::SystemTime::now()));
                    info!(
                        provider = super::CLOUDFRONT,
                        distributions = set.distributions.len(),
                        "discovery refreshed"
                    );
                    if sets.send(set).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    status.failed();
                    error!(provider = super::CLOUDFRONT, error = %e, "discovery refresh failed; the last discovered origins stay in force");
                }
            }
        }
    })
}
