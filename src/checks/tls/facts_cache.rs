//! Chain facts by chain content. The analysis of a chain (parsing, 2-4 signature checks, path
//! building: ~150 µs) gives the same facts as long as the served bytes and the trust store are
//! the same, and the store lives as long as this cache (one per config). Bounded in entries and
//! in bytes; when full the least used chains go (quick_cache's CLOCK-Pro), not everything.

use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::{OptionsBuilder, Weighter};
use rustls::pki_types::CertificateDer;

use crate::analysis::ChainFacts;

/// Most chains remembered (a few hundred bytes each, shared with the snapshots).
pub const MAX_ENTRIES: usize = 16_384;
/// Most bytes of facts remembered ([`ChainFacts::weight`]): real chains fill [`MAX_ENTRIES`]
/// long before this; leaves packed with names (up to the handshake bound each) hit it first.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;
/// What one entry counts for at least: with it, [`MAX_BYTES`] of counted weight is also at most
/// [`MAX_ENTRIES`] entries, so one weight capacity holds both bounds.
const MIN_WEIGHT: usize = MAX_BYTES / MAX_ENTRIES;
/// Fixed, so that each shard's share of [`MAX_BYTES`] (8 MiB) does not shrink with the core
/// count: facts heavier than about 97 % of a share are computed but not kept.
const SHARDS: usize = 8;

/// Facts with their weight, computed once ([`ChainFacts::weight`] walks the names).
#[derive(Debug, Clone)]
struct Weighed {
    facts: Arc<ChainFacts>,
    weight: usize,
}

#[derive(Debug, Clone)]
struct ByWeight;

impl Weighter<u64, Weighed> for ByWeight {
    fn weight(&self, _key: &u64, value: &Weighed) -> u64 {
        value.weight.max(MIN_WEIGHT) as u64
    }
}

#[derive(Debug)]
pub struct FactsCache {
    /// Randomly keyed, so an origin cannot craft chains that collide with another's.
    hasher: RandomState,
    entries: Cache<u64, Weighed, ByWeight>,
}

impl Default for FactsCache {
    fn default() -> Self {
        let options = OptionsBuilder::new()
            .estimated_items_capacity(MAX_ENTRIES)
            .weight_capacity(MAX_BYTES as u64)
            .shards(SHARDS)
            .build()
            .expect("weight capacity is set");
        FactsCache {
            hasher: RandomState::new(),
            entries: Cache::with_options(options, ByWeight, Default::default(), Default::default()),
        }
    }
}

impl FactsCache {
    pub fn get_or_insert(
        &self,
        served: &[CertificateDer<'_>],
        fetched: &[CertificateDer<'_>],
        compute: impl FnOnce() -> ChainFacts,
    ) -> Arc<ChainFacts> {
        let key = self.key(served, fetched);
        if let Some(hit) = self.entries.get(&key) {
            return hit.facts;
        }
        // Computed outside the cache's locks: a concurrent miss on the same chain costs one
        // extra analysis, never a wait.
        let facts = Arc::new(compute());
        self.insert(key, Arc::clone(&facts));
        facts
    }

    fn insert(&self, key: u64, facts: Arc<ChainFacts>) {
        let weight = facts.weight();
        self.entries.insert(key, Weighed { facts, weight });
    }

    fn key(&self, served: &[CertificateDer<'_>], fetched: &[CertificateDer<'_>]) -> u64 {
        let mut h = self.hasher.build_hasher();
        served.len().hash(&mut h);
        for c in served.iter().chain(fetched) {
            c.as_ref().hash(&mut h);
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::facts;

    fn light() -> Arc<ChainFacts> {
        let roots = rustls::RootCertStore::empty();
        Arc::new(facts(&[], &[], &roots, &[], 0))
    }

    /// Facts of a leaf with `names` DNS names of 200 bytes each.
    fn heavy(names: usize) -> Arc<ChainFacts> {
        let names: Vec<String> = (0..names)
            .map(|i| format!("{i:0>190}.example.com"))
            .collect();
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(names)
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let roots = rustls::RootCertStore::empty();
        let algs = rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .all;
        Arc::new(facts(&[cert.der().clone()], &[], &roots, algs, 0))
    }

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
        assert_eq!((computed, cache.entries.len()), (3, 3));
    }

    /// Facts hold nothing that depends on the moment: a certificate that expires while its
    /// chain's facts are cached shows as expired in the first report after its notAfter, from
    /// the same cached facts (trust is judged without time checks, as the CDN's store does).
    #[test]
    fn an_expiry_while_cached_shows_in_the_next_report() {
        use crate::lab::pki::{LeafSpec, Pki};
        let pki = Pki::new();
        // Valid until tomorrow: judged an hour before its end, then an hour after.
        let leaf = pki.leaf(&LeafSpec::new(&["a.example"]).valid(-1, 1), Some(&pki.root));
        let root = &pki.root;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(root.der.clone()).expect("root");
        let store = crate::analysis::cdn_store([root.der.as_ref()]).expect("store");
        let algs = rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .all;
        let served = [leaf.der.clone()];
        let cache = FactsCache::default();
        let mut computed = 0;
        let mut report_at = |t: i64| {
            let facts = cache.get_or_insert(&served, &[], || {
                computed += 1;
                crate::analysis::facts_with(&served, &[], &roots, Some(&store), algs, t)
            });
            crate::analysis::report(&facts, &["a.example"], t, 0)
        };
        let before = report_at(leaf.not_after - 3600);
        assert!(
            !before.defects.expired && !before.defects.untrusted,
            "{before:?}"
        );
        let after = report_at(leaf.not_after + 3600);
        assert!(after.defects.expired, "{after:?}");
        assert!(!after.defects.untrusted, "expired, not also untrusted");
        assert_eq!(computed, 1, "the second report used the cached facts");
    }

    #[test]
    fn more_chains_than_the_bound_evict_some_and_keep_the_hot_ones() {
        let cache = FactsCache::default();
        let facts = light();
        let hot: Vec<u64> = (0..100).map(|i| u64::MAX - i).collect();
        for &k in &hot {
            cache.insert(k, Arc::clone(&facts));
        }
        for i in 0..(MAX_ENTRIES as u64) * 2 {
            cache.insert(i, Arc::clone(&facts));
            if i % 1000 == 0 {
                // Every cycle probes the configured origins again.
                for k in &hot {
                    assert!(cache.entries.get(k).is_some(), "hot chain {k} evicted");
                }
            }
        }
        assert!(cache.entries.len() <= MAX_ENTRIES);
        // Evicting made room one entry at a time: the cache is far from cleared.
        assert!(
            cache.entries.len() > MAX_ENTRIES / 2,
            "{}",
            cache.entries.len()
        );
        assert!(hot.iter().all(|k| cache.entries.get(k).is_some()));
    }

    #[test]
    fn heavy_facts_stay_within_the_byte_bound() {
        let cache = FactsCache::default();
        let facts = heavy(1200);
        let each = facts.weight();
        assert!(each > 200 * 1024, "weight {each}");
        let hot = light();
        cache.insert(u64::MAX, Arc::clone(&hot));
        // Twice what the bound holds.
        let n = 2 * MAX_BYTES / each;
        for i in 0..n as u64 {
            cache.insert(i, Arc::clone(&facts));
            assert!(cache.entries.get(&u64::MAX).is_some(), "hot chain evicted");
        }
        let total: usize = cache.entries.iter().map(|(_, v)| v.facts.weight()).sum();
        assert!(total <= MAX_BYTES, "{total} bytes kept");
        assert!(cache.entries.weight() <= MAX_BYTES as u64);
        // Not cleared: about the bound's worth of heavy facts is still there.
        assert!(total > MAX_BYTES / 2, "{total} bytes kept");
    }
}
