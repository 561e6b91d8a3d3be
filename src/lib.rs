//! origin_exporter: probes CDN origins the way the CDN connects to them and exposes, through
//! Prometheus, which known cause of a `502 Bad Gateway` is active.
//!
//! Data flows one way: [`config`] → [`scheduler`] → [`cycle`] (the [`checks`], then
//! [`diagnose`]) → [`store`] → [`metrics`] and [`server`]. ARCHITECTURE.md draws it.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod analysis;
pub mod cdn;
pub mod checks;
pub mod compat;
pub mod config;
pub mod cycle;
pub mod daemon;
pub mod demo;
pub mod diagnose;
pub mod discovery;
pub mod exposition;
pub mod lab;
pub mod logging;
pub mod metrics;
pub mod netpolicy;
pub mod prerender;
pub mod report;
pub mod scheduler;
pub mod server;
pub mod shard;
pub mod stable_hash;
pub mod store;
