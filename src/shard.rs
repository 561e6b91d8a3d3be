//! Splitting origins across replicas: `--shard=INDEX/COUNT`. Each origin belongs to exactly one
//! shard, chosen by rendezvous hashing of its name: stable across restarts and reloads, needs
//! no coordination, and moves only ~1/COUNT of the origins when COUNT changes.

use std::fmt;

use crate::stable_hash::stable_hash;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    #[error("--shard must be INDEX/COUNT or ordinal/COUNT, got {0:?}")]
    Syntax(String),
    #[error("--shard {index}/{count}: INDEX must be below COUNT, and COUNT at least 1")]
    Range { index: u32, count: u32 },
    #[error("--shard ordinal/N: cannot take the ordinal from hostname {0:?} (expected NAME-N, as in a StatefulSet)")]
    Ordinal(String),
}

impl Shard {
    /// The whole set: one replica probes everything.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `INDEX/COUNT`; `ordinal/COUNT` takes INDEX from `hostname`'s trailing `-N`, as a
    /// Kubernetes StatefulSet names its pods.
    pub fn parse(spec: &str, hostname: &str) -> Result<Shard, ShardError> {
        let (index, count) = spec
            .split_once('/')
            .ok_or_else(|| ShardError::Syntax(spec.to_string()))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| ShardError::Syntax(spec.to_string()))?;
        let index: u32 = match index.trim() {
            "ordinal" => hostname
                .rsplit_once('-')
                .and_then(|(_, n)| n.parse().ok())
                .ok_or_else(|| ShardError::Ordinal(hostname.to_string()))?,
            n => n
                .parse()
                .map_err(|_| ShardError::Syntax(spec.to_string()))?,
        };
        if count == 0 || index >= count {
            return Err(ShardError::Range { index, count });
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard probes the origin called `name`.
    pub fn owns(&self, name: &str) -> bool {
        self.count <= 1 || owner(name, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard with the highest score for `name` (rendezvous / highest-random-weight hashing).
fn owner(name: &str, count: u32) -> u32 {
    let h = stable_hash(name);
    (0..count)
        .max_by_key(|&i| mix(h ^ mix(u64::from(i) + 1)))
        .unwrap_or(0)
}

/// splitmix64's finaliser: spreads FNV's output over all 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("origin-{i}.example.com")).collect()
    }

    #[test]
    fn parses_index_count_and_statefulset_ordinals() {
        assert_eq!(Shard::parse("2/5", ""), Ok(Shard { index: 2, count: 5 }));
        assert_eq!(
            Shard::parse("ordinal/3", "origin-exporter-1"),
            Ok(Shard { index: 1, count: 3 })
        );
        assert_eq!(
            Shard::parse("3/3", ""),
            Err(ShardError::Range { index: 3, count: 3 })
        );
        assert!(matches!(
            Shard::parse("0/0", ""),
            Err(ShardError::Range { .. })
        ));
        assert!(matches!(Shard::parse("1", ""), Err(ShardError::Syntax(_))));
        assert!(matches!(
            Shard::parse("ordinal/2", "laptop"),
            Err(ShardError::Ordinal(_))
        ));
    }

    #[test]
    fn every_origin_is_probed_by_exactly_one_shard_and_shards_are_balanced() {
        let names = names(10_000);
        for count in [2u32, 3, 5, 8] {
            let shards: Vec<Shard> = (0..count).map(|index| Shard { index, count }).collect();
            let mut sizes = vec![0usize; count as usize];
            for name in &names {
                let owners: Vec<&Shard> = shards.iter().filter(|s| s.owns(name)).collect();
                assert_eq!(owners.len(), 1, "{name} owned by {owners:?}");
                sizes[owners[0].index as usize] += 1;
            }
            let fair = names.len() as f64 / f64::from(count);
            for size in &sizes {
                let off = (*size as f64 - fair).abs() / fair;
                assert!(
                    off < 0.05,
                    "count {count}: sizes {sizes:?} off by {:.1}%",
                    off * 100.0
                );
            }
        }
    }

    #[test]
    fn assignment_is_stable_and_moves_little_when_scaling() {
        let names = names(10_000);
        // Stable: the same answer every time (no per-process randomness).
        let first: Vec<u32> = names.iter().map(|n| owner(n, 4)).collect();
        let again: Vec<u32> = names.iter().map(|n| owner(n, 4)).collect();
        assert_eq!(first, again);
        assert_eq!(owner("shop", 4), owner("shop", 4));
        // Growing 4 → 5 replicas moves about a fifth of the origins, all to the new shard.
        let moved: Vec<(u32, u32)> = names
            .iter()
            .map(|n| (owner(n, 4), owner(n, 5)))
            .filter(|(a, b)| a != b)
            .collect();
        assert!(moved.iter().all(|&(_, to)| to == 4));
        let share = moved.len() as f64 / names.len() as f64;
        assert!((0.17..0.23).contains(&share), "moved {share}");
    }

    #[test]
    fn one_shard_owns_everything() {
        assert!(names(100).iter().all(|n| Shard::ALL.owns(n)));
    }
}
