//! Every per-origin family any origin's output has had, with its descriptor (`# HELP`, `# TYPE`,
//! `# UNIT` lines) in both formats, in the order the encoders write them. The encoders' families
//! are fixed by the code (help texts included), so this stays small and lives as long as the
//! process.
//!
//! The order is learned from the outputs: a family first seen is placed right after the one
//! before it in that output. That is the encoders' order as long as every origin writes every
//! family but those at the end (today: each check writes all its descriptors for every origin,
//! and only the compatibility series, last, are written for some origins only). A family that
//! some origins skip in the middle would need the order from the code instead; the byte-for-byte
//! test (`tests/prerender.rs`, origins with and without the compatibility series) is the guard.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, OnceLock, RwLock};

use crate::metrics::Format;

/// A family's descriptor lines in both formats.
#[derive(Debug)]
pub struct Descriptor {
    text: Box<str>,
    open_metrics: Box<str>,
}

impl Descriptor {
    pub fn get(&self, format: Format) -> &str {
        match format {
            Format::OpenMetrics => &self.open_metrics,
            Format::PrometheusText => &self.text,
        }
    }
}

#[derive(Debug, Default)]
struct Families {
    ids: HashMap<(Box<str>, Box<str>), u32>,
    descriptors: Vec<Arc<Descriptor>>,
    /// Every family, in the order the encoders write them: a family is placed right after the
    /// one that preceded it in the first output that had it.
    order: Vec<u32>,
    /// The sequences of families outputs had (a handful: with or without the compatibility
    /// series, in large-fleet mode...), matched first.
    sequences: Vec<Arc<[u32]>>,
}

/// At most this many sequences are kept for matching; others are looked up family by family.
const SEQUENCES: usize = 64;

fn families() -> &'static RwLock<Families> {
    static FAMILIES: OnceLock<RwLock<Families>> = OnceLock::new();
    FAMILIES.get_or_init(Default::default)
}

/// The ids of a sequence of descriptors (text, OpenMetrics), adding those not seen yet.
pub fn intern(seq: &[(&str, &str)]) -> io::Result<Arc<[u32]>> {
    {
        let known = families().read().unwrap_or_else(|e| e.into_inner());
        let same = |ids: &&Arc<[u32]>| {
            ids.len() == seq.len()
                && ids.iter().zip(seq).all(|(&id, &(t, o))| {
                    let d = &known.descriptors[id as usize];
                    *d.text == *t && *d.open_metrics == *o
                })
        };
        if let Some(ids) = known.sequences.iter().find(same) {
            return Ok(Arc::clone(ids));
        }
    }
    let mut f = families().write().unwrap_or_else(|e| e.into_inner());
    let mut ids = Vec::with_capacity(seq.len());
    let mut after: Option<usize> = None;
    for &(text, open_metrics) in seq {
        let key: (Box<str>, Box<str>) = (text.into(), open_metrics.into());
        let id = match f.ids.get(&key) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(f.descriptors.len())
                    .map_err(|_| io::Error::other("too many metric families"))?;
                f.descriptors.push(Arc::new(Descriptor {
                    text: text.into(),
                    open_metrics: open_metrics.into(),
                }));
                f.ids.insert(key, id);
                let at = after.map_or(0, |p| p + 1);
                f.order.insert(at, id);
                id
            }
        };
        after = f.order.iter().position(|&x| x == id);
        ids.push(id);
    }
    let ids: Arc<[u32]> = ids.into();
    if f.sequences.len() < SEQUENCES && !f.sequences.contains(&ids) {
        f.sequences.push(Arc::clone(&ids));
    }
    Ok(ids)
}

/// The known sequence of families whose text-format descriptors are `text`, if any.
pub fn known_sequence(text: &[&str]) -> Option<Arc<[u32]>> {
    let known = families().read().unwrap_or_else(|e| e.into_inner());
    known
        .sequences
        .iter()
        .find(|ids| {
            ids.len() == text.len()
                && ids
                    .iter()
                    .zip(text)
                    .all(|(&id, t)| *known.descriptors[id as usize].text == **t)
        })
        .cloned()
}

/// Every family in order, with its descriptor.
pub fn in_order() -> Vec<(u32, Arc<Descriptor>)> {
    let f = families().read().unwrap_or_else(|e| e.into_inner());
    f.order
        .iter()
        .map(|&id| (id, Arc::clone(&f.descriptors[id as usize])))
        .collect()
}
