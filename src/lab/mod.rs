//! The lab: origins that misbehave on purpose, run in this process on loopback, for
//! `origin_exporter demo` and the integration tests (`tests/lab` re-exports these modules and adds
//! the servers that are other programs). A PKI made in memory ([`pki`]), rustls origins
//! ([`tls`]), HTTP origins ([`http`]), TCP ports ([`tcp`]), DNS servers ([`dns`]) and origins
//! switched while the daemon runs ([`switch`]). Every server binds 127.0.0.0/8 only and stops
//! when dropped.
//!
//! Lab code is not probe code: its servers and its own readiness checks connect directly (not
//! through the dialer and its network policy), and it panics on what cannot happen on a working
//! loopback (a bind or a certificate failing), with a message naming what failed.

#![allow(
    clippy::disallowed_methods,
    reason = "the lab's servers and readiness checks connect directly: they are not the exporter's probes"
)]
#![allow(
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "lab set-up panics with a message on what a working loopback never refuses"
)]

pub mod dns;
pub mod http;
pub mod pki;
pub mod switch;
pub mod tcp;
pub mod tls;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A private directory under the system's temporary directory, removed with everything in it
/// when dropped: where the lab writes what the daemon reads by path (its CA file, the demo's
/// config).
#[derive(Debug)]
pub struct LabDir(PathBuf);

impl LabDir {
    /// `origin_exporter-<what>-<pid>-<n>`, readable by its owner only.
    pub fn new(what: &str) -> LabDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "origin_exporter-{what}-{}-{n}-{nanos:x}",
            std::process::id()
        ));
        let mut builder = std::fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        LabDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` in the directory; its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }
}

impl Drop for LabDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
