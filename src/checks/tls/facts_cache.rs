//! Chain facts by chain content. The analysis of a chain (parsing, 2-4 signature checks, path
//! building: ~150 µs) gives the same facts as long as the served bytes and the trust store are
//! the same, and the store lives as long as this cache (one per config). Bounded: when full it
//! starts over, which costs one analysis per origin.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::{Arc, Mutex};

use rustls::pki_types::CertificateDer;

use crate::analysis::ChainFacts;

/// Most chains remembered (a few hundred bytes each, shared with the snapshots).
pub const MAX_ENTRIES: usize = 16_384;
/// Most bytes of facts remembered ([`ChainFacts::weight`]): real chains fill [`MAX_ENTRIES`]
/// long before this; leaves packed with names (up to the handshake bound each) hit it first.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct FactsCache {
    /// Randomly keyed, so an origin cannot craft chains that collide with another's.
    hasher: RandomState,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<u64, Arc<ChainFacts>>,
    /// Sum of the weights in `map`.
    bytes: usize,
}

impl FactsCache {
    pub fn get_or_insert(
        &self,
        served: &[CertificateDer<'_>],
        fetched: &[CertificateDer<'_>],
        compute: impl FnOnce() -> ChainFacts,
    ) -> Arc<ChainFacts> {
        let key = self.key(served, fetched);
        if let Some(hit) = self
            .entries
            .lock()
            .ok()
            .and_then(|e| e.map.get(&key).cloned())
        {
            return hit;
        }
        // Computed outside the lock: a concurrent miss on the same chain costs one extra
        // analysis, never a wait.
        let facts = Arc::new(compute());
        let weight = facts.weight();
        if let Ok(mut entries) = self.entries.lock() {
            if entries.map.len() >= MAX_ENTRIES || entries.bytes + weight > MAX_BYTES {
                *entries = Entries::default();
            }
            if let Some(old) = entries.map.insert(key, Arc::clone(&facts)) {
                entries.bytes = entries.bytes.saturating_sub(old.weight());
            }
            entries.bytes += weight;
        }
        facts
    }

    fn key(&self, served: &[CertificateDer<'_>], fetched: &[CertificateDer<'_>]) -> u64 {
        let mut h = self.hasher.build_hasher();
        served.len().hash(&mut h);
        for c in served.iter().chain(fetched) {
            c.as_ref().hash(&mut h);
        }
        h.finish()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.map.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::facts;

    #[test]
    fn same_chain_same_facts_other_chain_other_facts() {
        let cache = FactsCache::default();
        let roots = rustls::RootCertStore::empty();
        let algs = rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .all;
        let a = [CertificateDer::from(vec![1, 2, 3])];
        let b = [CertificateDer::from(vec![1, 2, 4])];
        let mut computed = 0;
        for chain in [&a, &a, &b, &a] {
            cache.get_or_insert(chain, &[], || {
                computed += 1;
                facts(chain, &[], &roots, algs, 0)
            });
        }
        assert_eq!(computed, 2);
        // The same served chain with fetched issuers is another entry.
        cache.get_or_insert(&a, &b, || {
            computed += 1;
            facts(&a, &b, &roots, algs, 0)
        });
        assert_eq!((computed, cache.len()), (3, 3));
    }
}
