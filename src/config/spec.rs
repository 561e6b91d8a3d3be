//! The values of an origin's settings: the protocol policy and address family the CDN uses,
//! the request it sends (`http`), the CDN URL the edge check requests (`edge`), and the
//! statuses that count as an answer.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolPolicy {
    HttpsOnly,
    HttpOnly,
    MatchViewer,
}

impl ProtocolPolicy {
    pub const NAMES: [&'static str; 3] = ["https-only", "http-only", "match-viewer"];

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "https-only" => Some(Self::HttpsOnly),
            "http-only" => Some(Self::HttpOnly),
            "match-viewer" => Some(Self::MatchViewer),
            _ => None,
        }
    }
}

/// Which address families of the origin's name the CDN connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpAddressType {
    #[default]
    Ipv4,
    Ipv6,
    Dualstack,
}

impl IpAddressType {
    pub const NAMES: [&'static str; 3] = ["ipv4", "ipv6", "dualstack"];

    pub fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ipv4" => Some(Self::Ipv4),
            "ipv6" => Some(Self::Ipv6),
            "dualstack" => Some(Self::Dualstack),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::Dualstack => "dualstack",
        }
    }

    /// Whether the CDN may connect to `ip` under this setting.
    pub fn allows(self, ip: IpAddr) -> bool {
        match self {
            Self::Ipv4 => ip.is_ipv4(),
            Self::Ipv6 => ip.is_ipv6(),
            Self::Dualstack => true,
        }
    }

    /// The record type(s) the CDN needs: `A`, `AAAA`, `A or AAAA`.
    pub fn record_types(self) -> &'static str {
        match self {
            Self::Ipv4 => "A",
            Self::Ipv6 => "AAAA",
            Self::Dualstack => "A or AAAA",
        }
    }
}

/// The request the CDN sends, and the statuses that count as an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSpec {
    pub path: String,
    pub method: String,
    pub expect_status: Vec<StatusMatch>,
    /// Headers the CDN adds to every origin request (`http.headers`).
    pub headers: HttpHeaders,
}

/// Custom headers the CDN sends to the origin. Their values are often shared secrets (the
/// origin's proof that a request came through the CDN): `Debug` shows names only, and nothing
/// else in the exporter prints a value.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct HttpHeaders(pub Vec<(String, String)>);

impl HttpHeaders {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for HttpHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(n, _)| (n, "<redacted>")))
            .finish()
    }
}

impl Default for HttpSpec {
    fn default() -> Self {
        HttpSpec {
            path: "/".into(),
            method: "GET".into(),
            expect_status: vec![
                StatusMatch::Class(2),
                StatusMatch::Class(3),
                StatusMatch::Class(4),
            ],
            headers: HttpHeaders::default(),
        }
    }
}

impl HttpSpec {
    pub fn accepts(&self, status: u16) -> bool {
        self.expect_status.iter().any(|m| m.matches(status))
    }
}

/// A URL the CDN serves from this origin, for the edge check.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeSpec {
    /// As written.
    pub url: String,
    pub scheme: Scheme,
    /// TLS SNI and `Host`.
    pub host: String,
    pub port: u16,
    /// Path and query.
    pub path: String,
    pub expect_status: Vec<StatusMatch>,
    /// Connect here instead of resolving `host`.
    pub address: Option<IpAddr>,
}

impl EdgeSpec {
    pub fn accepts(&self, status: u16) -> bool {
        self.expect_status.iter().any(|m| m.matches(status))
    }
}

/// `2xx` (a class) or `204` (one code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    Class(u8),
    Exact(u16),
}

impl StatusMatch {
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Class(c) => status / 100 == u16::from(c),
            StatusMatch::Exact(s) => status == s,
        }
    }
}
