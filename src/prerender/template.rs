//! One family's series lines of one origin, with the origin's own labels cut out: what stays is
//! the same for every origin in the same state (`origin_problem` of every healthy origin, half
//! of all series), so it is stored once, however many origins have it ([`intern`]).
//!
//! A template is one allocation: the number of holes, each hole's offset into the literal bytes
//! (the high bit set for the configured labels, clear for `origin="NAME"`), then the literal
//! bytes. Expanding it writes the literal bytes with the origin's labels put back at the holes:
//! the pieces partition the original text, so the output is the input, whatever it contains.

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};

/// A stored series body; see the module's documentation.
pub type Template = Arc<[u8]>;

/// Marks a hole for the configured labels (`tail`) rather than `origin="NAME"` (`head`).
const TAIL: u32 = 1 << 31;

/// The origin's own labels as the encoders write them ([`crate::exposition::Labeled`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnLabels {
    /// `origin="NAME"`, escaped.
    pub head: Box<str>,
    /// The configured labels, `k="v",...`; empty when there are none.
    pub tail: Box<str>,
}

impl OwnLabels {
    pub fn of(origin: &crate::config::Origin) -> Self {
        let labeled = crate::exposition::Labeled::new(origin);
        OwnLabels {
            head: labeled.head().into(),
            tail: labeled.tail().into(),
        }
    }
}

/// Cuts `head` and `tail` out of `text` (every occurrence of `head`, then of `tail` between
/// them), or `None` when the text is too long for the offsets.
pub fn cut(text: &str, labels: &OwnLabels) -> Option<Vec<u8>> {
    let mut holes: Vec<u32> = Vec::new();
    let mut literal: Vec<u8> = Vec::with_capacity(text.len());
    let push_gap = |gap: &str, holes: &mut Vec<u32>, literal: &mut Vec<u8>| -> Option<()> {
        if labels.tail.is_empty() {
            literal.extend_from_slice(gap.as_bytes());
            return Some(());
        }
        let mut rest = gap;
        while let Some(at) = rest.find(&*labels.tail) {
            literal.extend_from_slice(&rest.as_bytes()[..at]);
            holes.push(
                u32::try_from(literal.len())
                    .ok()
                    .filter(|o| o & TAIL == 0)?
                    | TAIL,
            );
            rest = &rest[at + labels.tail.len()..];
        }
        literal.extend_from_slice(rest.as_bytes());
        Some(())
    };
    let mut rest = text;
    while let Some(at) = rest.find(&*labels.head) {
        push_gap(&rest[..at], &mut holes, &mut literal)?;
        holes.push(
            u32::try_from(literal.len())
                .ok()
                .filter(|o| o & TAIL == 0)?,
        );
        rest = &rest[at + labels.head.len()..];
    }
    push_gap(rest, &mut holes, &mut literal)?;
    let count = u32::try_from(holes.len()).ok()?;
    let mut out = Vec::with_capacity(4 + holes.len() * 4 + literal.len());
    out.extend_from_slice(&count.to_le_bytes());
    for hole in holes {
        out.extend_from_slice(&hole.to_le_bytes());
    }
    out.extend_from_slice(&literal);
    Some(out)
}

/// Writes `template` with `labels` put back at its holes.
pub fn expand(out: &mut impl io::Write, template: &[u8], labels: &OwnLabels) -> io::Result<()> {
    let (holes, literal) = parts(template)?;
    let mut from = 0;
    for hole in holes.chunks_exact(4) {
        let hole = u32::from_le_bytes([hole[0], hole[1], hole[2], hole[3]]);
        let at = (hole & !TAIL) as usize;
        out.write_all(literal.get(from..at).ok_or_else(corrupt)?)?;
        let label = if hole & TAIL == 0 {
            &labels.head
        } else {
            &labels.tail
        };
        out.write_all(label.as_bytes())?;
        from = at;
    }
    out.write_all(literal.get(from..).ok_or_else(corrupt)?)
}

/// The literal bytes' length plus the labels put back: the expanded length.
pub fn expanded_len(template: &[u8], labels: &OwnLabels) -> usize {
    let Ok((holes, literal)) = parts(template) else {
        return 0;
    };
    let tails = holes.chunks_exact(4).filter(|h| h[3] & 0x80 != 0).count();
    let heads = holes.len() / 4 - tails;
    literal.len() + heads * labels.head.len() + tails * labels.tail.len()
}

/// The hole table and the literal bytes of a template.
fn parts(template: &[u8]) -> io::Result<(&[u8], &[u8])> {
    let count = template
        .first_chunk::<4>()
        .map(|c| u32::from_le_bytes(*c) as usize)
        .ok_or_else(corrupt)?;
    let table = count.checked_mul(4).and_then(|n| n.checked_add(4));
    let table = table.filter(|&n| n <= template.len()).ok_or_else(corrupt)?;
    Ok((&template[4..table], &template[table..]))
}

fn corrupt() -> io::Error {
    io::Error::other("a stored series template is malformed")
}

/// Every template in use, each stored once. Entries no block holds any more are dropped when
/// the table has doubled since the last sweep, so a template of values that change every cycle
/// (durations, timestamps) costs its bytes until then.
#[derive(Debug, Default)]
struct Table {
    templates: HashSet<Template>,
    /// Entries after the last sweep.
    swept: usize,
}

/// Below this many entries the table is not swept.
const SWEEP_FLOOR: usize = 4096;

fn table() -> &'static Mutex<Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// The stored template with these bytes: the one already held, or this one, now stored.
pub fn intern(bytes: Vec<u8>) -> Template {
    intern_all(vec![bytes])
        .pop()
        .unwrap_or_else(|| Arc::from([]))
}

/// [`intern`] of several templates under one lock.
pub fn intern_all(all: Vec<Vec<u8>>) -> Vec<Template> {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    if t.templates.len() >= SWEEP_FLOOR.max(t.swept + t.swept / 4) {
        t.templates.retain(|held| Arc::strong_count(held) > 1);
        t.swept = t.templates.len();
    }
    all.into_iter()
        .map(|bytes| match t.templates.get(&bytes[..]) {
            Some(held) => Arc::clone(held),
            None => {
                let new: Template = bytes.into();
                t.templates.insert(Arc::clone(&new));
                new
            }
        })
        .collect()
}

/// Templates held and their bytes, for the memory figures.
pub fn held() -> (usize, usize) {
    let t = table().lock().unwrap_or_else(|e| e.into_inner());
    let bytes = t.templates.iter().map(|b| b.len() + 16).sum();
    (t.templates.len(), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(head: &str, tail: &str) -> OwnLabels {
        OwnLabels {
            head: head.into(),
            tail: tail.into(),
        }
    }

    fn round_trip(text: &str, labels: &OwnLabels) -> Vec<u8> {
        let template = cut(text, labels).expect("cut");
        let mut out = Vec::new();
        expand(&mut out, &template, labels).expect("expand");
        assert_eq!(String::from_utf8(out).expect("utf-8"), text);
        assert_eq!(expanded_len(&template, labels), text.len());
        template
    }

    #[test]
    fn the_same_lines_of_two_origins_make_one_template() {
        let a = labels("origin=\"a\"", "team=\"x\"");
        let b = labels("origin=\"bb\"", "team=\"y\\\"z\"");
        let line = |l: &OwnLabels| {
            format!(
                "origin_problem{{{},cause=\"c\",{}}} 0\norigin_problem{{{},cause=\"d\",{}}} 1\n",
                l.head, l.tail, l.head, l.tail
            )
        };
        let ta = round_trip(&line(&a), &a);
        let tb = round_trip(&line(&b), &b);
        assert_eq!(ta, tb);
        assert!(Arc::ptr_eq(&intern(ta), &intern(tb)));
        // Without configured labels, and with labels in no line.
        let bare = labels("origin=\"a\"", "");
        round_trip("x{origin=\"a\"} 1\ny{origin=\"a\",k=\"v\"} 2\n", &bare);
        round_trip("", &bare);
        round_trip("build_info 1\n", &a);
    }

    #[test]
    fn any_text_comes_back_whole_even_where_labels_overlap() {
        // A configured label that occurs inside the origin's own, and text that ends inside
        // one: the pieces still partition the text.
        let l = labels("origin=\"gin=\\\"x\\\"\"", "gin=\\\"x\\\"");
        round_trip("a{origin=\"gin=\\\"x\\\"\"} gin=\\\"x\\\" origin=\"gin", &l);
        let same = labels("k=\"v\"", "k=\"v\"");
        round_trip("k=\"v\"k=\"v\",k=\"v\"", &same);
    }

    #[test]
    fn a_malformed_template_is_an_error_not_a_panic() {
        let l = labels("origin=\"a\"", "");
        for bad in [
            &[][..],
            &[1, 0, 0][..],
            &[9, 0, 0, 0, 1][..],
            &[1, 0, 0, 0, 50, 0, 0, 0, b'x'][..],
        ] {
            assert!(expand(&mut Vec::new(), bad, &l).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn templates_no_block_holds_are_swept() {
        let kept = intern(b"\0\0\0\0kept by this test".to_vec());
        for i in 0..3 * SWEEP_FLOOR {
            drop(intern(format!("\0\0\0\0dropped {i}").into_bytes()));
        }
        let (count, _) = held();
        assert!(count < 3 * SWEEP_FLOOR, "{count} templates held");
        assert!(Arc::ptr_eq(
            &kept,
            &intern(b"\0\0\0\0kept by this test".to_vec())
        ));
    }
}
