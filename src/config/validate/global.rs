//! `global`: the settings of the whole exporter (concurrency, CDN profile, resolvers, trust,
//! ad-hoc targets, AIA) and the durations origins inherit.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::super::raw::{RawConfig, RawGlobal};
use super::super::{Compat, Global};
use super::fields::{compat_label, days, hostname, label_name, port};
use super::timing::{self, Timing};
use super::Errors;
use crate::cdn;
use crate::netpolicy::{AdhocPolicy, Cidr};

const DEFAULT_CONCURRENCY: usize = 64;
const DEFAULT_EXPIRY_WARNING_DAYS: u32 = 21;

/// `global` validated, plus what origins inherit from it.
pub(super) struct GlobalDefaults {
    pub(super) global: Global,
    pub(super) times: Timing,
    pub(super) expiry_warning_days: u32,
}

pub(super) fn validate_global(raw: &RawConfig, errors: &mut Errors) -> GlobalDefaults {
    let g = &raw.global;
    let times = timing::global(g, errors);
    let concurrency = match g.concurrency {
        None => DEFAULT_CONCURRENCY,
        Some(n) if (1..=100_000).contains(&n) => n as usize,
        Some(n) => {
            errors.push("global.concurrency", format!("must be 1-100000, got {n}"));
            DEFAULT_CONCURRENCY
        }
    };
    let expiry_warning_days = days(g.expiry_warning_days, "global.expiry_warning_days", errors)
        .unwrap_or(DEFAULT_EXPIRY_WARNING_DAYS);
    let cdn = match g.cdn.as_deref() {
        None => &cdn::CLOUDFRONT,
        Some(name) => cdn::profile(name).unwrap_or_else(|| {
            let known: Vec<_> = cdn::PROFILES.iter().map(|p| p.name).collect();
            errors.push(
                "global.cdn",
                format!("unknown CDN profile {name:?}; known: {}", known.join(", ")),
            );
            &cdn::CLOUDFRONT
        }),
    };
    let mut resolvers = Vec::new();
    for (i, r) in g.resolvers.iter().flatten().enumerate() {
        match parse_resolver(r) {
            Some(addr) => resolvers.push(addr),
            None => errors.push(
                format!("global.resolvers[{i}]"),
                format!("must be IP or IP:port, got {r:?}"),
            ),
        }
    }
    let dns_port = port(g.dns_port, "global.dns_port", 53, errors);
    let ca_file = match g.ca_file.as_deref() {
        None | Some("") => None,
        Some(f) => Some(PathBuf::from(f)),
    };
    let compat = compat(g.compat.as_deref(), errors);
    for key in g.labels.iter().flat_map(|l| l.keys()) {
        if let Err(why) = label_name(key).and_then(|()| compat_label(key, compat)) {
            errors.push(format!("global.labels.{key}"), why);
        }
    }
    let allow_adhoc_targets = g.allow_adhoc_targets.unwrap_or(false);
    let adhoc = adhoc_policy(g, allow_adhoc_targets, errors);
    let aia_allowed_networks = networks(
        g.aia_allowed_networks.as_deref(),
        "global.aia_allowed_networks",
        errors,
    );
    GlobalDefaults {
        global: Global {
            concurrency,
            cdn,
            resolvers,
            dns_port,
            ca_file,
            large_fleet: g.large_fleet.unwrap_or(false),
            allow_adhoc_targets,
            adhoc,
            aia_allowed_networks,
            compat,
        },
        times,
        expiry_warning_days,
    }
}

/// `global.compat`: each entry one of [`Compat::NAMES`], at most once.
fn compat(names: Option<&[String]>, errors: &mut Errors) -> Compat {
    let mut compat = Compat::default();
    for (i, name) in names.unwrap_or_default().iter().enumerate() {
        let path = format!("global.compat[{i}]");
        match name.as_str() {
            "blackbox" if compat.blackbox => errors.push(path, "blackbox is listed twice"),
            "blackbox" => compat.blackbox = true,
            other => errors.push(
                path,
                format!(
                    "unknown compatibility series {other:?}; known: {}",
                    Compat::NAMES.join(", ")
                ),
            ),
        }
    }
    compat
}

fn adhoc_policy(g: &RawGlobal, allowed: bool, errors: &mut Errors) -> AdhocPolicy {
    let mut domains = Vec::new();
    for (i, d) in g.adhoc_allowed_domains.iter().flatten().enumerate() {
        let path = format!("global.adhoc_allowed_domains[{i}]");
        match d.strip_prefix("*.") {
            Some(suffix) => domains.push(format!("*.{}", hostname(suffix, &path, errors))),
            None => domains.push(hostname(d, &path, errors)),
        }
    }
    if allowed && domains.is_empty() {
        errors.push(
            "global.adhoc_allowed_domains",
            "must list the domains /probe?target= may probe (names or *.suffix) when allow_adhoc_targets is true",
        );
    }
    let networks = networks(
        g.adhoc_allowed_networks.as_deref(),
        "global.adhoc_allowed_networks",
        errors,
    );
    AdhocPolicy { domains, networks }
}

/// A list of CIDR networks; each bad entry is an error naming `field` and its index.
fn networks(list: Option<&[String]>, field: &str, errors: &mut Errors) -> Vec<Cidr> {
    let mut networks = Vec::new();
    for (i, n) in list.into_iter().flatten().enumerate() {
        match Cidr::parse(n) {
            Ok(c) => networks.push(c),
            Err(why) => errors.push(format!("{field}[{i}]"), why),
        }
    }
    networks
}

/// `IP` or `IP:port`; IPv6 with a port as `[::1]:53`.
fn parse_resolver(s: &str) -> Option<SocketAddr> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Some(addr);
    }
    s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
}
