//! Scrapes from pre-rendered series. When a cycle publishes (or amends) an origin's snapshot,
//! the origin's series are encoded once by the same encoders a scrape-time encoding of all
//! origins runs (the verdict families, each check's `encode`, the compatibility series) over
//! that one origin; the output is cut into one segment per family, and each segment is stored
//! as a [`template`] — the lines with the origin's own labels, its domain and each line's value
//! cut out — shared by every origin whose lines are otherwise the same; the origin keeps its
//! labels and values. `/metrics` then writes, family by family, the family's descriptor and
//! every origin's segment of it with its labels and values put back: the bytes a scrape-time
//! encoding writes, at the cost of a copy.
//!
//! Storing the rendered bytes as they are would cost 3 KB per origin (30 MB at 10,000 origins,
//! 300 MB at 100,000: more than the exporter's whole budget); shared templates cost the
//! per-origin part only (bench/README.md has the figures). The price: a gzip scrape compresses
//! what it writes (flate2's fast level), where pre-compressed blocks would only be copied.

use std::io::{self, Write as _};
use std::sync::{Arc, Weak};

use prometheus_client::registry::Registry;

use crate::cycle::Snapshot;
use crate::metrics::{self, Format};
use crate::store::{Slot, Store};

mod families;
pub mod template;

use template::{OwnLabels, Template, Templates};

/// Bytes a scrape writes at once.
const WRITE_BUFFER: usize = 64 * 1024;
/// What OpenMetrics ends a body with; text format 0.0.4 has no end marker.
const EOF: &str = "# EOF\n";

/// One origin's series from one snapshot, cut by family.
#[derive(Debug)]
pub struct Block {
    /// The snapshot rendered. A weak reference keeps its address from being reused, so that
    /// "rendered from the latest snapshot" is a pointer comparison.
    source: Weak<Snapshot>,
    /// The families the origin's encoding wrote, in their order; shared by every block with
    /// the same families.
    families: Arc<[u32]>,
    labels: OwnLabels,
    text: Bodies,
    /// OpenMetrics' series, when they differ from the text format's (the per-origin families
    /// are gauges, whose lines the two formats write alike but for an infinite value).
    open_metrics: Option<Box<Bodies>>,
}

/// An origin's series in one format: a template per family and the values its holes take.
#[derive(Debug)]
struct Bodies {
    templates: Templates,
    values: Box<[u8]>,
}

impl Bodies {
    /// The series of an output's segments: their templates, interned, and their values. The
    /// templates of `previous` (the origin's last render) are taken as they are when they are
    /// the same bytes, as in most cycles: no lookup in the shared table.
    fn new(
        segments: &[Segment],
        labels: &OwnLabels,
        previous: Option<&Bodies>,
    ) -> io::Result<Self> {
        let mut values = Vec::new();
        let needles = labels.needles();
        let cut = segments
            .iter()
            .map(|s| template::cut(s.body, &needles, &mut values))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| io::Error::other("an origin's series exceed 1 GiB"))?;
        let unchanged = previous.filter(|p| {
            p.templates.0.len() == cut.len()
                && p.templates.0.iter().zip(&cut).all(|(t, c)| **t == **c)
        });
        Ok(Bodies {
            templates: match unchanged {
                Some(p) => p.templates.clone(),
                None => template::intern_all(cut),
            },
            values: values.into_boxed_slice(),
        })
    }

    /// Whether a value may be one the two formats write differently (`+Inf` and `inf`, `NaN`):
    /// one with a letter either writes for infinity or NaN (a length byte is such a letter only
    /// for a value over 72 bytes, which then takes the slower path too).
    fn special_values(&self) -> bool {
        self.values
            .iter()
            .any(|b| matches!(b, b'I' | b'i' | b'N' | b'n'))
    }
}

impl Block {
    /// Whether this block was rendered from `snapshot`.
    fn is_of(&self, snapshot: &Arc<Snapshot>) -> bool {
        std::ptr::eq(self.source.as_ptr(), Arc::as_ptr(snapshot))
    }

    fn bodies(&self, format: Format) -> &Bodies {
        match (format, &self.open_metrics) {
            (Format::OpenMetrics, Some(om)) => om,
            _ => &self.text,
        }
    }

    /// Bytes this block holds of its own (templates are counted apart: [`template::held`]).
    pub fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.labels.size()
            + self.text.values.len()
            + self.open_metrics.as_ref().map_or(0, |o| o.values.len())
    }
}

/// One family of an encoder's output: its descriptor lines and its series lines.
#[derive(Debug, PartialEq)]
struct Segment<'a> {
    descriptor: &'a str,
    body: &'a str,
}

/// Cuts an encoder's output into families: a family starts at its `# HELP` line, its other
/// comment lines follow, then its series (which never start with `#`).
fn segments(text: &str) -> Vec<Segment<'_>> {
    let text = text.strip_suffix(EOF).unwrap_or(text);
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut descriptor = 0;
        for (i, line) in rest.split_inclusive('\n').enumerate() {
            if !line.starts_with('#') || (i > 0 && line.starts_with("# HELP ")) {
                break;
            }
            descriptor += line.len();
        }
        let mut body = 0;
        for line in rest[descriptor..].split_inclusive('\n') {
            if line.starts_with('#') {
                break;
            }
            body += line.len();
        }
        out.push(Segment {
            descriptor: &rest[..descriptor],
            body: &rest[descriptor..descriptor + body],
        });
        rest = &rest[descriptor + body..];
    }
    out
}

/// Renders one origin's series from `snapshot`.
pub fn render(slot: &Slot, snapshot: &Arc<Snapshot>) -> io::Result<Block> {
    let encode = |format| {
        metrics::encode_snapshot(Arc::clone(&slot.origin), Arc::clone(snapshot), format)
            .map_err(|_| io::Error::other("a check's encoder failed"))
    };
    let labels = OwnLabels::of(&slot.origin);
    let previous = slot.rendered();
    let previous_text = previous.as_ref().map(|b| &b.text);
    let previous_om = previous.as_ref().and_then(|b| b.open_metrics.as_deref());
    let text_out = encode(Format::PrometheusText)?;
    let text = segments(&text_out);
    let text_bodies = Bodies::new(&text, &labels, previous_text)?;
    // OpenMetrics is encoded only to learn the descriptors of a sequence of families not seen
    // yet, or when a value may be written differently (infinities, NaN).
    if !text_bodies.special_values() {
        let descriptors: Vec<&str> = text.iter().map(|s| s.descriptor).collect();
        if let Some(families) = families::known_sequence(&descriptors) {
            return Ok(Block {
                source: Arc::downgrade(snapshot),
                families,
                text: text_bodies,
                labels,
                open_metrics: None,
            });
        }
    }
    let om_out = encode(Format::OpenMetrics)?;
    let om = segments(&om_out);
    if text.len() != om.len() {
        return Err(io::Error::other("the two formats wrote different families"));
    }
    let descriptors: Vec<(&str, &str)> = text
        .iter()
        .zip(&om)
        .map(|(t, o)| (t.descriptor, o.descriptor))
        .collect();
    let families = families::intern(&descriptors)?;
    let open_metrics = if text.iter().zip(&om).all(|(t, o)| t.body == o.body) {
        None
    } else {
        Some(Box::new(Bodies::new(&om, &labels, previous_om)?))
    };
    Ok(Block {
        source: Arc::downgrade(snapshot),
        families,
        text: text_bodies,
        labels,
        open_metrics,
    })
}

/// The slot's series rendered from its latest snapshot: the stored block, or rendered now
/// (and stored) when the latest snapshot is newer than it. `None` before the first snapshot.
pub fn current(slot: &Slot) -> Option<Arc<Block>> {
    let latest = slot.latest()?;
    if let Some(block) = slot.rendered().filter(|b| b.is_of(&latest)) {
        return Some(block);
    }
    match render(slot, &latest) {
        Ok(block) => {
            let block = Arc::new(block);
            // A render of an older snapshot that lands after this one is noticed by `is_of`
            // and done again.
            slot.set_rendered(Arc::clone(&block));
            Some(block)
        }
        Err(error) => {
            tracing::error!(origin = %slot.origin.name, %error, "the origin's series could not be rendered");
            None
        }
    }
}

/// Writes a whole `/metrics` body: the exporter's own metrics (`own`, encoded now), then every
/// origin's pre-rendered series.
pub fn scrape(
    out: &mut impl io::Write,
    own: &Registry,
    store: &Store,
    format: Format,
) -> io::Result<()> {
    // The walk writes pieces of a few bytes (a label, a value): into a buffer, so that `out`
    // (a compressor, a channel) sees 64 KiB at a time.
    let mut out = io::BufWriter::with_capacity(WRITE_BUFFER, out);
    let mut head = String::with_capacity(8 * 1024);
    metrics::encode_to(&mut head, own, format)
        .map_err(|_| io::Error::other("encoding the exporter's metrics failed"))?;
    let head = head.strip_suffix(EOF).unwrap_or(&head);
    out.write_all(head.as_bytes())?;
    let slots = store.slots();
    let blocks: Vec<Arc<Block>> = slots.iter().filter_map(|s| current(s)).collect();
    if blocks.is_empty() {
        // No origin has a snapshot: the families the encoders write for no origin at all.
        let empty = metrics::encode_origins(Arc::new(Store::default()), format)
            .map_err(|_| io::Error::other("encoding the origins' families failed"))?;
        out.write_all(empty.strip_suffix(EOF).unwrap_or(&empty).as_bytes())?;
    } else {
        walk(&mut out, &blocks, format)?;
    }
    if format == Format::OpenMetrics {
        out.write_all(EOF.as_bytes())?;
    }
    out.flush()
}

/// Where a scrape's walk is in one block.
struct Cursor<'a> {
    families: &'a [u32],
    templates: &'a [Template],
    labels: &'a OwnLabels,
    /// The values of the block's next families.
    values: &'a [u8],
    /// The index of the block's next family.
    at: usize,
}

/// For each family any block has, its descriptor, then each block's segment of it.
fn walk(out: &mut impl io::Write, blocks: &[Arc<Block>], format: Format) -> io::Result<()> {
    let order = families::in_order();
    let mut present = vec![false; order.len()];
    for block in blocks {
        for &id in block.families.iter() {
            if let Some(p) = present.get_mut(id as usize) {
                *p = true;
            }
        }
    }
    // Each block's families are a subsequence of `order`: one cursor per block, read in order.
    let mut cursors: Vec<Cursor> = blocks
        .iter()
        .map(|b| {
            let bodies = b.bodies(format);
            Cursor {
                families: &b.families,
                templates: &bodies.templates.0,
                labels: &b.labels,
                values: &bodies.values,
                at: 0,
            }
        })
        .collect();
    for (id, descriptor) in order {
        if !present.get(id as usize).copied().unwrap_or(false) {
            continue;
        }
        out.write_all(descriptor.get(format).as_bytes())?;
        for c in cursors.iter_mut() {
            if c.families.get(c.at) == Some(&id) {
                if let Some(template) = c.templates.get(c.at) {
                    template::expand(out, template, c.labels, &mut c.values)?;
                }
                c.at += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::checks::OriginResults;
    use crate::diagnose::diagnose;

    fn snapshot(origin: &crate::config::Origin) -> Arc<Snapshot> {
        let results = OriginResults::new(None);
        Arc::new(Snapshot {
            diagnosis: diagnose(origin, &results),
            results,
            finished_at: SystemTime::UNIX_EPOCH,
        })
    }

    fn slot(yaml: &str) -> Slot {
        let cfg = crate::config::load_str(yaml, std::path::Path::new("t.yaml")).expect("config");
        let origin = Arc::clone(&cfg.origins[0]);
        let slot = Slot::new(Arc::clone(&origin));
        slot.publish(snapshot(&origin));
        slot
    }

    /// Two origins in the same state share their stored series but for their own labels, and a
    /// new snapshot is rendered again.
    #[test]
    fn origins_in_the_same_state_share_their_templates() {
        let a = slot("origins: [{name: a, domain: a.example, labels: {team: x}}]\n");
        let b = slot("origins: [{name: bbb, domain: b.example, labels: {team: \"y\\\"z\"}}]\n");
        let (ra, rb) = (current(&a).expect("a"), current(&b).expect("b"));
        assert_eq!(ra.families, rb.families);
        assert!(ra.text.templates.0.len() > 3);
        assert!(Arc::ptr_eq(&ra.text.templates.0, &rb.text.templates.0));
        // The formats write these lines alike: OpenMetrics keeps no lines of its own.
        assert!(ra.open_metrics.is_none() && rb.open_metrics.is_none());
        assert!(ra.size() < 512, "{} bytes", ra.size());
        assert!(
            Arc::ptr_eq(&ra, &current(&a).expect("a")),
            "stored, not rendered again"
        );
        a.publish(snapshot(&a.origin));
        assert!(
            !Arc::ptr_eq(&ra, &current(&a).expect("a")),
            "a new snapshot is rendered"
        );
    }

    /// The series of one family with lines `body`.
    fn one_family(labels: &OwnLabels, body: &str) -> Bodies {
        let segment = Segment {
            descriptor: "",
            body,
        };
        Bodies::new(&[segment], labels, None).expect("bodies")
    }

    /// A block whose OpenMetrics lines differ from its text lines writes each in its format.
    #[test]
    fn each_format_writes_its_own_lines() {
        let labels = OwnLabels::new("origin=\"a\"", "", "a.example");
        let bodies = |body: &str| one_family(&labels, body);
        let families = families::intern(&[(
            "# HELP each_format_test T.\n# TYPE each_format_test gauge\n",
            "# HELP each_format_test O.\n# TYPE each_format_test gauge\n",
        )])
        .expect("families");
        let block = Arc::new(Block {
            source: Weak::new(),
            families,
            labels: labels.clone(),
            text: bodies("each_format_test{origin=\"a\"} +Inf\n"),
            open_metrics: Some(Box::new(bodies("each_format_test{origin=\"a\"} inf\n"))),
        });
        let values =
            block.text.values.len() + block.open_metrics.as_ref().map_or(0, |o| o.values.len());
        assert_eq!(
            block.size(),
            std::mem::size_of::<Block>()
                + labels.head().len()
                + labels.tail().len()
                + labels.domain().len()
                + values
        );
        assert!(values > 0);
        let written = |format| {
            let mut out = Vec::new();
            walk(&mut out, &[Arc::clone(&block)], format).expect("walk");
            String::from_utf8(out).expect("utf-8")
        };
        assert_eq!(
            written(Format::PrometheusText),
            "# HELP each_format_test T.\n# TYPE each_format_test gauge\neach_format_test{origin=\"a\"} +Inf\n"
        );
        assert_eq!(
            written(Format::OpenMetrics),
            "# HELP each_format_test O.\n# TYPE each_format_test gauge\neach_format_test{origin=\"a\"} inf\n"
        );
    }

    #[test]
    fn values_either_format_may_write_differently_are_noticed() {
        let labels = OwnLabels::new("origin=\"a\"", "", "a.example");
        let bodies = |body: &str| one_family(&labels, body);
        for plain in [
            "x{origin=\"a\"} 0.003\n",
            "x 1e-5\ny -2\n",
            "x{name=\"Inf\"} 1\n",
        ] {
            assert!(!bodies(plain).special_values(), "{plain}");
        }
        for special in ["x +Inf\n", "x -Inf\n", "x NaN\n", "x inf\n"] {
            assert!(bodies(special).special_values(), "{special}");
        }
    }

    #[test]
    fn output_is_cut_at_each_help_line() {
        let text = "# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\n# UNIT b seconds\nb 1\nb{x=\"#\"} 2\n# HELP c C.\n# TYPE c gauge\nc 3\n# EOF\n";
        assert_eq!(
            segments(text),
            [
                Segment {
                    descriptor: "# HELP a A.\n# TYPE a gauge\n",
                    body: ""
                },
                Segment {
                    descriptor: "# HELP b B.\n# TYPE b gauge\n# UNIT b seconds\n",
                    body: "b 1\nb{x=\"#\"} 2\n"
                },
                Segment {
                    descriptor: "# HELP c C.\n# TYPE c gauge\n",
                    body: "c 3\n"
                },
            ]
        );
        assert!(segments("").is_empty());
    }
}
