//! DNS names as the checks and their helpers use them (the DNS check's zone discovery, AIA
//! fetches resolving an issuer's host): absolute names, the words of a resolver error.

use hickory_net::{DnsError, NetError};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Name;

/// A domain that is no valid DNS name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid domain name")]
pub struct BadName(pub String);

/// A resolver error in a few words: the rcode when there is one.
pub fn reason(e: &NetError) -> String {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(nr))
            if nr.response_code == ResponseCode::NXDomain =>
        {
            "NXDOMAIN".into()
        }
        NetError::Dns(DnsError::NoRecordsFound(_)) => "no records".into(),
        NetError::Dns(DnsError::ResponseCode(code)) => code.to_string(),
        NetError::Timeout => "timed out".into(),
        other => other.to_string(),
    }
}

/// `domain` as an absolute name, so no search domain is ever appended.
pub fn fqdn(domain: &str) -> Result<Name, BadName> {
    let mut name = Name::from_ascii(domain).map_err(|_| BadName(domain.to_string()))?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// A name as people write it in configs and labels: lower case, no trailing dot.
pub fn display(name: &Name) -> String {
    if name.is_root() {
        return ".".into();
    }
    let s = name.to_lowercase().to_ascii();
    s.strip_suffix('.').map(str::to_string).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_for_labels() {
        assert_eq!(
            display(&fqdn("Origin.Example.COM").expect("valid")),
            "origin.example.com"
        );
        assert_eq!(
            display(&fqdn("example.com.").expect("valid")),
            "example.com"
        );
        assert_eq!(display(&Name::root()), ".");
        assert!(fqdn("bad..name").is_err());
    }
}
