//! Writing per-origin series: the helpers every check's `series` module and the verdict
//! families share. An origin's own labels are rendered once per scrape ([`Labeled`]); label
//! pairs that repeat for every origin are rendered once per process ([`lookup`]).

use std::fmt::{self, Write as _};

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeLabel, EncodeLabelSet, LabelSetEncoder,
    MetricEncoder,
};
use prometheus_client::metrics::MetricType;

use crate::checks::OriginResults;
use crate::config::Origin;

/// One row of a family: an origin with its labels.
pub trait Row {
    fn origin(&self) -> &Labeled<'_>;

    /// Whether the origin's detail series are written ([`detail_family`]).
    fn detailed(&self) -> bool {
        true
    }
}

/// An origin and what its latest cycle found: what a check's series are made of.
pub struct Observed<'a> {
    pub origin: &'a Labeled<'a>,
    pub results: &'a OriginResults,
    /// Whether to write the origin's detail series: always, except in large-fleet mode while no
    /// cause is active on the origin (see docs/metrics.md, "Large-fleet mode").
    pub detailed: bool,
}

impl Row for Observed<'_> {
    fn origin(&self) -> &Labeled<'_> {
        self.origin
    }

    fn detailed(&self) -> bool {
        self.detailed
    }
}

/// An origin with its own labels rendered once per scrape: `origin="NAME"` and its configured
/// `labels`, escaped, which every one of its ~40-70 series repeats. Encoding them label by label
/// through the generic label encoder was a third of the time of a 10,000-origin scrape.
pub struct Labeled<'a> {
    origin: &'a Origin,
    /// `origin="NAME"`.
    head: String,
    /// The configured labels, `k="v",k2="v2"`; empty when there are none.
    tail: String,
}

impl<'a> Labeled<'a> {
    pub fn new(origin: &'a Origin) -> Self {
        let mut head = String::with_capacity(origin.name.len() + 10);
        push_label(&mut head, "origin", &origin.name);
        let mut tail = String::new();
        for (k, v) in &origin.labels {
            if !tail.is_empty() {
                tail.push(',');
            }
            push_label(&mut tail, k, v);
        }
        Labeled { origin, head, tail }
    }

    /// `origin="NAME"`, as every series of the origin writes it.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// The configured labels as every series of the origin writes them; empty when none.
    pub fn tail(&self) -> &str {
        &self.tail
    }
}

impl std::ops::Deref for Labeled<'_> {
    type Target = Origin;
    fn deref(&self) -> &Origin {
        self.origin
    }
}

/// Appends `key="value"` with the value escaped as the text formats require (the same escapes
/// as prometheus-client's label values: backslash, double quote, newline).
pub fn push_label(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes one gauge family: its descriptor, then every origin's series through `each`.
pub fn family<R, F>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[R],
    each: F,
) -> fmt::Result
where
    R: Row,
    F: Fn(&Labeled, &R, &mut Series) -> fmt::Result,
{
    let metric = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    let mut series = Series { metric };
    for row in rows {
        each(row.origin(), row, &mut series)?;
    }
    Ok(())
}

/// Writes one family of detail series: like [`family`], for the rows whose detail series are
/// written (every row, except in large-fleet mode those of origins with no active cause).
pub fn detail_family<R, F>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[R],
    each: F,
) -> fmt::Result
where
    R: Row,
    F: Fn(&Labeled, &R, &mut Series) -> fmt::Result,
{
    family(enc, name, help, rows, |o, row, series| {
        if row.detailed() {
            each(o, row, series)
        } else {
            Ok(())
        }
    })
}

/// Emits series of one family.
pub struct Series<'a> {
    metric: MetricEncoder<'a>,
}

impl Series<'_> {
    pub fn gauge(
        &mut self,
        origin: &Labeled,
        extra: &[(&str, &str)],
        value: impl EncodeGaugeValue,
    ) -> fmt::Result {
        debug_assert!(
            extra.iter().all(|(k, _)| reserved(k)),
            "{extra:?}: a label the exporter writes is missing from config::RESERVED_LABELS"
        );
        let labels = OriginLabels {
            origin,
            rendered: "",
            extra,
        };
        self.metric.encode_family(&labels)?.encode_gauge(&value)
    }

    /// A series whose own labels are already rendered (`k="v",...`, see [`cause_labels`]).
    pub fn gauge_rendered(
        &mut self,
        origin: &Labeled,
        rendered: &str,
        value: impl EncodeGaugeValue,
    ) -> fmt::Result {
        debug_assert!(
            rendered_names(rendered).all(reserved),
            "{rendered}: a label the exporter writes is missing from config::RESERVED_LABELS"
        );
        let labels = OriginLabels {
            origin,
            rendered,
            extra: &[],
        };
        self.metric.encode_family(&labels)?.encode_gauge(&value)
    }
}

/// A label name the exporter may write: one a user's `labels` cannot take (the compatibility
/// series' only while they are on).
fn reserved(name: &str) -> bool {
    crate::config::RESERVED_LABELS.contains(&name)
        || crate::compat::blackbox::LABELS.contains(&name)
}

/// The names of rendered labels (`k="v",k2="v2"`, values escaped by [`push_label`]).
fn rendered_names(rendered: &str) -> impl Iterator<Item = &str> {
    let mut rest = rendered;
    std::iter::from_fn(move || {
        let (name, value) = rest.split_once("=\"")?;
        // The value ends at the first quote not escaped by a backslash.
        let mut escaped = false;
        let end = value.char_indices().find_map(|(i, c)| {
            let closing = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            closing.then_some(i)
        })?;
        rest = value[end + 1..].trim_start_matches(',');
        Some(name)
    })
}

/// The own labels of the series that repeat for every origin, rendered once per process: half
/// of all series are `origin_problem`'s, whose `cause`/`severity` pairs are fixed identifiers.
pub type Rendered<T> = std::sync::OnceLock<Vec<(T, String)>>;

pub fn lookup<T: Copy + PartialEq>(
    table: &'static Rendered<T>,
    all: &[T],
    key: T,
    render: impl Fn(T) -> String,
) -> &'static str {
    let rows = table.get_or_init(|| all.iter().map(|&t| (t, render(t))).collect());
    rows.iter()
        .find(|(t, _)| *t == key)
        .map_or("", |(_, s)| s.as_str())
}

/// `origin`, the series' own labels (rendered, then pairs), then the origin's configured
/// `labels`.
struct OriginLabels<'a> {
    origin: &'a Labeled<'a>,
    rendered: &'a str,
    extra: &'a [(&'a str, &'a str)],
}

impl EncodeLabelSet for OriginLabels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), fmt::Error> {
        rendered(encoder, &self.origin.head)?;
        if !self.rendered.is_empty() {
            rendered(encoder, self.rendered)?;
        }
        for (k, v) in self.extra {
            (*k, *v).encode(encoder.encode_label())?;
        }
        if !self.origin.tail.is_empty() {
            rendered(encoder, &self.origin.tail)?;
        }
        Ok(())
    }
}

/// Writes already rendered `k="v"` pairs as one label: the key encoder writes text as is and
/// places the separator (`{` or `,`), and a label whose value is never started ends there.
fn rendered(encoder: &mut LabelSetEncoder, labels: &str) -> fmt::Result {
    encoder.encode_label().encode_label_key()?.write_str(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_label_names_are_read_back_past_escaped_values() {
        let mut s = String::new();
        push_label(&mut s, "cause", "a\"b\\");
        s.push(',');
        push_label(&mut s, "severity", "x=\"y\",z");
        assert_eq!(
            rendered_names(&s).collect::<Vec<_>>(),
            ["cause", "severity"]
        );
        assert_eq!(rendered_names("").count(), 0);
        assert!(reserved("parent_zone") && !reserved("team"));
    }
}
