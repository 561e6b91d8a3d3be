//! Whether a cache behavior forwards `Host` to its origin: its cache policy (GetCachePolicy), its
//! origin request policy (GetOriginRequestPolicy) and its legacy `ForwardedValues`, each policy
//! read once per id and refresh (a policy is edited under its id: nothing is kept longer).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::map::{self, Behavior, Forwarding, HeadersConfig};
use super::sdk::headers_config;
use super::{api, CloudFront, DiscoveryError};

impl CloudFront {
    /// A cache behavior (the default one or another) by its target, its cache and origin
    /// request policies and its legacy `ForwardedValues` headers.
    pub(super) async fn behavior(
        &mut self,
        target: &str,
        cache_policy: Option<&str>,
        request_policy: Option<&str>,
        legacy: Option<&aws_sdk_cloudfront::types::ForwardedValues>,
    ) -> Result<Behavior, DiscoveryError> {
        let legacy = legacy.and_then(|f| f.headers()).map(|h| h.items().to_vec());
        let cache_policy = match cache_policy.filter(|p| !p.is_empty()) {
            Some(id) => Some(self.cache_policy(id).await?),
            None => None,
        };
        let request_policy = match request_policy.filter(|p| !p.is_empty()) {
            Some(id) => Some(self.origin_request_policy(id).await?),
            None => None,
        };
        Ok(Behavior {
            target_origin_id: target.to_string(),
            forwards_host: map::forwards_host(&Forwarding {
                cache_policy: cache_policy.as_ref(),
                origin_request_policy: request_policy.as_ref(),
                legacy_headers: legacy.as_deref(),
            }),
        })
    }

    /// The headers of a cache policy's cache key (GetCachePolicy), once per id and refresh.
    async fn cache_policy(&mut self, id: &str) -> Result<HeadersConfig, DiscoveryError> {
        let fetch = async {
            let out = self
                .client
                .get_cache_policy()
                .id(id)
                .send()
                .await
                .map_err(api("GetCachePolicy"))?;
            Ok(out
                .cache_policy()
                .and_then(|p| p.cache_policy_config())
                .and_then(|c| c.parameters_in_cache_key_and_forwarded_to_origin())
                .and_then(|p| p.headers_config())
                .map(|h| headers_config(h.header_behavior().as_str(), h.headers()))
                .unwrap_or_default())
        };
        let calls = &self.calls.get_cache_policy;
        remembered(&mut self.policies.cache, calls, id, fetch).await
    }

    /// The headers an origin request policy forwards (GetOriginRequestPolicy), once per id and
    /// refresh.
    async fn origin_request_policy(&mut self, id: &str) -> Result<HeadersConfig, DiscoveryError> {
        let fetch = async {
            let out = self
                .client
                .get_origin_request_policy()
                .id(id)
                .send()
                .await
                .map_err(api("GetOriginRequestPolicy"))?;
            Ok(out
                .origin_request_policy()
                .and_then(|p| p.origin_request_policy_config())
                .and_then(|c| c.headers_config())
                .map(|h| headers_config(h.header_behavior().as_str(), h.headers()))
                .unwrap_or_default())
        };
        let calls = &self.calls.get_origin_request_policy;
        remembered(&mut self.policies.origin_request, calls, id, fetch).await
    }
}

/// `id`'s policy from `known`, else from `fetch` (counted in `calls`), remembered.
async fn remembered(
    known: &mut HashMap<String, HeadersConfig>,
    calls: &AtomicU64,
    id: &str,
    fetch: impl std::future::Future<Output = Result<HeadersConfig, DiscoveryError>>,
) -> Result<HeadersConfig, DiscoveryError> {
    if let Some(headers) = known.get(id) {
        return Ok(headers.clone());
    }
    calls.fetch_add(1, Ordering::Relaxed);
    let headers = fetch.await?;
    known.insert(id.to_string(), headers.clone());
    Ok(headers)
}

/// Policies read during one refresh, by id.
#[derive(Debug, Default)]
pub(super) struct Policies {
    cache: HashMap<String, HeadersConfig>,
    origin_request: HashMap<String, HeadersConfig>,
}
