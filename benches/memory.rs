//! Where the memory goes: bytes held per origin by each part of the exporter's state, counted by a
//! global allocator that tracks live and peak heap bytes (not RSS: the allocator's own overhead
//! and freed-but-kept pages come on top; bench/README.md compares both).
//!
//! `cargo bench --bench memory [-- N]` (default 10,000 origins). Figures are in bench/README.md.

#![allow(
    unsafe_code,
    reason = "a counting global allocator: every call forwards to the system allocator"
)]

#[allow(
    dead_code,
    reason = "the fixtures serve both benchmarks; this one uses a part"
)]
mod fixtures;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use origin_exporter::checks::Memory;
use origin_exporter::config;
use origin_exporter::metrics::{self, ExporterMetrics, Format};
use origin_exporter::prerender;

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Resets the peak to what is live now and returns it.
fn reset_peak() -> usize {
    let now = live();
    PEAK.store(now, Ordering::Relaxed);
    now
}

fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

fn per_origin(bytes: usize, n: usize) -> String {
    format!(
        "{:>9.1} MiB  {:>7} B/origin",
        bytes as f64 / 1048576.0,
        bytes / n.max(1)
    )
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let lab = fixtures::lab();
    let facts = lab.facts();
    println!("memory, {n} origins (heap bytes held; peak = transient high-water mark)");

    // The config as bench/run.sh writes it: [tcp, tls], a pinned address.
    let mut yaml = String::from("global: {checks: [tcp, tls]}\norigins:\n");
    for i in 1..=n {
        yaml.push_str(&format!(
            "  - {{name: o{i}, domain: o{i}.bench.test, address: 127.0.0.1, https_port: 4433}}\n"
        ));
    }
    let base = reset_peak();
    let config = config::load_str(&yaml, std::path::Path::new("bench.yaml")).expect("valid");
    let held = live() - base;
    println!("config text                {}", per_origin(yaml.len(), n));
    println!("config, validated origins  {}", per_origin(held, n));
    println!(
        "config, peak while loading {}",
        per_origin(peak() - base, n)
    );
    drop(config);
    drop(yaml);

    // Every origin's latest snapshot: a healthy origin's full results (2 addresses, 2
    // nameservers, a 3-certificate chain, HTTP) and its diagnosis, in the store.
    let base = reset_peak();
    let store = fixtures::store_of(n, &facts);
    let with_origins = live() - base;
    let origins_only = {
        let base = live();
        let o = fixtures::origins(n);
        let b = live() - base;
        drop(o);
        b
    };
    println!("store: origins + snapshots {}", per_origin(with_origins, n));
    println!(
        "  of which the snapshots   {}",
        per_origin(with_origins.saturating_sub(origins_only), n)
    );

    // What each origin's scheduler task remembers between cycles (the protocol matrix of
    // each address), at its largest: one address with a known matrix.
    println!(
        "scheduler memory (empty)   {:>9} B/origin (std::mem::size_of::<Memory>)",
        std::mem::size_of::<Memory>()
    );

    // One /metrics scrape: the transient peak of encoding every origin's series into 64 KiB
    // chunks, as the server streams them.
    let registry = metrics::registry(Arc::clone(&store), Arc::new(ExporterMetrics::default()));
    let base = reset_peak();
    let mut sink = fixtures::Chunks::new();
    metrics::encode_to(&mut sink, &registry, Format::PrometheusText).expect("encodes");
    println!(
        "/metrics scrape, transient {}  ({} bytes of text)",
        per_origin(peak() - base, n),
        sink.written
    );
    drop(sink);
    drop(registry);

    // Every origin's series pre-rendered for `/metrics`: the blocks and the templates they
    // share (origins in the same state share all but their labels and changing values).
    let base = reset_peak();
    for slot in store.slots().iter() {
        prerender::current(slot);
    }
    let (templates, lists, template_bytes) = prerender::template::held();
    println!(
        "pre-rendered series        {}  ({templates} templates, {lists} lists, {template_bytes} bytes)",
        per_origin(live() - base, n)
    );
    let own = metrics::own_registry(Arc::clone(&store), Arc::new(ExporterMetrics::default()));
    let base = reset_peak();
    let mut sink = fixtures::Chunks::new();
    prerender::scrape(&mut sink, &own, &store, Format::PrometheusText).expect("scrape");
    println!(
        "pre-rendered scrape, transient {}  ({} bytes of text)",
        per_origin(peak() - base, n),
        sink.written
    );
    drop(sink);
    drop(own);
    drop(store);
    println!("live at the end            {:>9} bytes", live());
}
