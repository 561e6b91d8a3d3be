//! VPC origins with `vpc_origins: probe`: the ports, protocol policy and protocols of each one
//! (GetVpcOrigin), which the distribution itself does not carry.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::map::{Distribution, OriginKind, VpcEndpoint};
use super::sdk::ssl_protocols;
use super::{api, CloudFront, DiscoveryError};

impl CloudFront {
    /// Each VPC origin's own configuration, read once per id and refresh (a VPC origin may be
    /// changed at any time, and many distributions may share one).
    pub(super) async fn read_vpc_origins(
        &self,
        distributions: &mut [Distribution],
    ) -> Result<(), DiscoveryError> {
        let mut read: HashMap<String, Option<VpcEndpoint>> = HashMap::new();
        for d in distributions.iter_mut() {
            for o in &mut d.origins {
                let OriginKind::Vpc(vpc) = &mut o.kind else {
                    continue;
                };
                if let Some(known) = read.get(&vpc.id) {
                    vpc.endpoint = known.clone();
                    continue;
                }
                self.calls.get_vpc_origin.fetch_add(1, Ordering::Relaxed);
                let out = self
                    .client
                    .get_vpc_origin()
                    .id(&vpc.id)
                    .send()
                    .await
                    .map_err(api("GetVpcOrigin"))?;
                let endpoint = out
                    .vpc_origin()
                    .and_then(|v| v.vpc_origin_endpoint_config())
                    .map(|c| VpcEndpoint {
                        http_port: c.http_port(),
                        https_port: c.https_port(),
                        protocol_policy: c.origin_protocol_policy().as_str().to_string(),
                        ssl_protocols: ssl_protocols(c.origin_ssl_protocols()),
                        ip_address_type: c.ip_address_type().map(|t| t.as_str().to_string()),
                    });
                read.insert(vpc.id.clone(), endpoint.clone());
                vpc.endpoint = endpoint;
            }
        }
        Ok(())
    }
}
