//! One family's series lines of one origin, with what differs between origins cut out: the
//! origin's own labels, its domain (in label values such as the SAN check's `name`) and each
//! line's value. What stays is the same for every origin with the
//! same series (`origin_problem` of every healthy origin, half of all series), so it is stored
//! once, however many origins have it ([`intern_all`]); the values are kept per origin, a few
//! bytes each.
//!
//! A template is one allocation: the number of holes, each hole's offset into the literal bytes
//! with its kind in the two high bits, then the literal bytes. Expanding it writes the literal
//! bytes with the origin's labels and its values put back at the holes: the pieces partition the
//! original text, so the output is the input, whatever it contains.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use memchr::memmem;

/// A stored series body; see the module's documentation.
pub type Template = Arc<[u8]>;

/// A hole for `origin="NAME"`.
const HEAD: u32 = 0;
/// A hole for the configured labels.
const TAIL: u32 = 1 << 30;
/// A hole for the origin's domain.
const DOMAIN: u32 = 2 << 30;
/// A hole for a line's value: the next length-prefixed value of the origin's values.
const VALUE: u32 = 3 << 30;
const KIND: u32 = 3 << 30;

/// What every series of an origin may repeat: its own labels as the encoders write them
/// ([`crate::exposition::Labeled`]) and its domain, in one allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnLabels {
    /// `origin="NAME"` (escaped), the configured labels (`k="v",...`, escaped; empty when
    /// there are none), then the domain (a host name: nothing to escape).
    text: Box<str>,
    /// Where the configured labels and the domain start in `text`.
    at: (usize, usize),
}

impl OwnLabels {
    pub fn of(origin: &crate::config::Origin) -> Self {
        let labeled = crate::exposition::Labeled::new(origin);
        OwnLabels::new(labeled.head(), labeled.tail(), &origin.domain)
    }

    pub fn new(head: &str, tail: &str, domain: &str) -> Self {
        OwnLabels {
            text: [head, tail, domain].concat().into(),
            at: (head.len(), head.len() + tail.len()),
        }
    }

    /// `origin="NAME"`.
    pub fn head(&self) -> &str {
        &self.text[..self.at.0]
    }

    /// The configured labels.
    pub fn tail(&self) -> &str {
        &self.text[self.at.0..self.at.1]
    }

    pub fn domain(&self) -> &str {
        &self.text[self.at.1..]
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.text.len()
    }

    /// The strings cut out of a line, in the order they are looked for, with their holes.
    pub fn needles(&self) -> Needles<'_> {
        Needles([
            (memmem::Finder::new(self.head().as_bytes()), HEAD),
            (memmem::Finder::new(self.tail().as_bytes()), TAIL),
            (memmem::Finder::new(self.domain().as_bytes()), DOMAIN),
        ])
    }
}

/// [`OwnLabels`] ready to be searched for (a searcher is built once per origin, not per line).
pub struct Needles<'a>([(memmem::Finder<'a>, u32); 3]);

/// A template being built.
#[derive(Default)]
struct Cut {
    holes: Vec<u32>,
    literal: Vec<u8>,
}

impl Cut {
    fn hole(&mut self, kind: u32) -> Option<()> {
        let at = u32::try_from(self.literal.len())
            .ok()
            .filter(|o| o & KIND == 0)?;
        self.holes.push(at | kind);
        Some(())
    }

    /// `text` with every occurrence of the first needle cut out, then of the next ones between
    /// them.
    fn needles(&mut self, text: &[u8], needles: &[(memmem::Finder, u32)]) -> Option<()> {
        let Some(((needle, kind), next)) = needles.split_first() else {
            self.literal.extend_from_slice(text);
            return Some(());
        };
        let len = needle.needle().len();
        let mut rest = text;
        if len > 0 {
            while let Some(at) = needle.find(rest) {
                self.needles(&rest[..at], next)?;
                self.hole(*kind)?;
                rest = &rest[at + len..];
            }
        }
        self.needles(rest, next)
    }
}

/// Cuts `text`'s lines into a template: the origin's labels out of each line, and its value
/// (after the line's last space, up to its newline; a value longer than 255 bytes stays in)
/// appended to `values`, each behind its length. `None` when the text is too long for the
/// offsets.
pub fn cut(text: &str, needles: &Needles, values: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut cut = Cut::default();
    let needles = &needles.0;
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let split = body.rfind(' ').map(|space| body.split_at(space + 1));
        match split {
            Some((series, value)) if u8::try_from(value.len()).is_ok() => {
                cut.needles(series.as_bytes(), needles)?;
                cut.hole(VALUE)?;
                values.push(value.len() as u8);
                values.extend_from_slice(value.as_bytes());
                cut.literal
                    .extend_from_slice(&line.as_bytes()[body.len()..]);
            }
            _ => cut.needles(line.as_bytes(), needles)?,
        }
    }
    let count = u32::try_from(cut.holes.len()).ok()?;
    let mut out = Vec::with_capacity(4 + cut.holes.len() * 4 + cut.literal.len());
    out.extend_from_slice(&count.to_le_bytes());
    for hole in cut.holes {
        out.extend_from_slice(&hole.to_le_bytes());
    }
    out.extend_from_slice(&cut.literal);
    Some(out)
}

/// Writes `template` with `labels` and the values at the start of `values` put back at its
/// holes; `values` is left after the values used.
pub fn expand(
    out: &mut impl io::Write,
    template: &[u8],
    labels: &OwnLabels,
    values: &mut &[u8],
) -> io::Result<()> {
    let (holes, literal) = parts(template)?;
    let mut from = 0;
    for hole in holes.chunks_exact(4) {
        let hole = u32::from_le_bytes([hole[0], hole[1], hole[2], hole[3]]);
        let at = (hole & !KIND) as usize;
        out.write_all(literal.get(from..at).ok_or_else(corrupt)?)?;
        match hole & KIND {
            HEAD => out.write_all(labels.head().as_bytes())?,
            TAIL => out.write_all(labels.tail().as_bytes())?,
            DOMAIN => out.write_all(labels.domain().as_bytes())?,
            _ => {
                let (&len, rest) = values.split_first().ok_or_else(corrupt)?;
                let value = rest.get(..usize::from(len)).ok_or_else(corrupt)?;
                out.write_all(value)?;
                *values = &rest[usize::from(len)..];
            }
        }
        from = at;
    }
    out.write_all(literal.get(from..).ok_or_else(corrupt)?)
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

/// An origin's templates, one per family, compared by identity: templates are interned, so the
/// same pointers mean the same bytes.
#[derive(Debug, Clone)]
pub struct Templates(pub Arc<[Template]>);

impl PartialEq for Templates {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(other.0.iter())
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

impl Eq for Templates {}

impl Hash for Templates {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for t in self.0.iter() {
            std::ptr::hash(Arc::as_ptr(t).cast::<u8>(), state);
        }
    }
}

/// Every template and every origin's list of templates in use, each stored once. Entries no
/// block holds any more are dropped when a table has grown by a quarter since its last sweep,
/// so a template of values that change every cycle costs its bytes until then.
#[derive(Debug, Default)]
struct Table {
    templates: HashSet<Template>,
    lists: HashSet<Templates>,
    /// Entries after the last sweep.
    swept: (usize, usize),
}

/// Below this many entries a table is not swept.
const SWEEP_FLOOR: usize = 4096;

fn due(len: usize, swept: usize) -> bool {
    len >= SWEEP_FLOOR.max(swept + swept / 4)
}

fn table() -> &'static Mutex<Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// The stored list of the stored templates with these bytes: the ones already held, or these,
/// now stored.
pub fn intern_all(all: Vec<Vec<u8>>) -> Templates {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    // Lists first: dropping one may leave its templates unheld.
    if due(t.lists.len(), t.swept.1) {
        t.lists.retain(|held| Arc::strong_count(&held.0) > 1);
        t.swept.1 = t.lists.len();
    }
    if due(t.templates.len(), t.swept.0) {
        t.templates.retain(|held| Arc::strong_count(held) > 1);
        t.swept.0 = t.templates.len();
    }
    let list: Arc<[Template]> = all
        .into_iter()
        .map(|bytes| match t.templates.get(&bytes[..]) {
            Some(held) => Arc::clone(held),
            None => {
                let new: Template = bytes.into();
                t.templates.insert(Arc::clone(&new));
                new
            }
        })
        .collect();
    let list = Templates(list);
    match t.lists.get(&list) {
        Some(held) => held.clone(),
        None => {
            t.lists.insert(list.clone());
            list
        }
    }
}

/// Templates and lists held, and their bytes, for the memory figures.
pub fn held() -> (usize, usize, usize) {
    let t = table().lock().unwrap_or_else(|e| e.into_inner());
    let bytes = t.templates.iter().map(|b| b.len() + 16).sum::<usize>()
        + t.lists.iter().map(|l| l.0.len() * 16 + 16).sum::<usize>();
    (t.templates.len(), t.lists.len(), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(head: &str, tail: &str) -> OwnLabels {
        OwnLabels::new(head, tail, "a.example")
    }

    /// The template and the values of `text`, checked to give `text` back.
    fn round_trip(text: &str, labels: &OwnLabels) -> (Vec<u8>, Vec<u8>) {
        let mut values = Vec::new();
        let template = cut(text, &labels.needles(), &mut values).expect("cut");
        let mut out = Vec::new();
        let mut rest = &values[..];
        expand(&mut out, &template, labels, &mut rest).expect("expand");
        assert_eq!(String::from_utf8(out).expect("utf-8"), text);
        assert!(rest.is_empty(), "every value used");
        (template, values)
    }

    #[test]
    fn the_same_series_of_two_origins_make_one_template() {
        let a = labels("origin=\"a\"", "team=\"x\"");
        let b = labels("origin=\"bb\"", "team=\"y\\\"z\"");
        let b = OwnLabels::new(b.head(), b.tail(), "bb.example");
        // The domains written out, not read back from the labels: a template must hold none.
        let lines = |l: &OwnLabels, domain: &str, v: &str| {
            let (head, tail) = (l.head(), l.tail());
            format!(
                "origin_problem{{{head},cause=\"c\",{tail}}} 0\n\
                 origin_seconds{{{head},name=\"{domain}\",{tail}}} {v}\n"
            )
        };
        let (ta, va) = round_trip(&lines(&a, "a.example", "0.003"), &a);
        let (tb, vb) = round_trip(&lines(&b, "bb.example", "1.7e-5"), &b);
        assert_eq!(ta, tb);
        assert_eq!(va, b"\x010\x050.003");
        assert_eq!(vb, b"\x010\x061.7e-5");
        let (la, lb) = (intern_all(vec![ta]), intern_all(vec![tb]));
        assert!(Arc::ptr_eq(&la.0, &lb.0));
        // Without configured labels, with labels in no line, without a value, without a
        // newline at the end, a value too long to cut.
        let bare = labels("origin=\"a\"", "");
        round_trip("x{origin=\"a\"} 1\ny{origin=\"a\",k=\"v\"} 2\n", &bare);
        round_trip("", &bare);
        round_trip("build_info 1\nnovalue\n\nlast 2", &a);
        round_trip(&format!("long {}\n", "9".repeat(300)), &a);
    }

    #[test]
    fn any_text_comes_back_whole_even_where_labels_overlap() {
        // A configured label that occurs inside the origin's own, a label in the value, text
        // that ends inside one: the pieces still partition the text.
        let l = labels("origin=\"gin=\\\"x\\\"\"", "gin=\\\"x\\\"");
        round_trip("a{origin=\"gin=\\\"x\\\"\"} gin=\\\"x\\\" origin=\"gin", &l);
        let same = labels("k=\"v\"", "k=\"v\"");
        round_trip("k=\"v\"k=\"v\",k=\"v\" k=\"v\"\n", &same);
        // The domain inside the origin's name, a configured label, and alone.
        let named = labels("origin=\"a.example\"", "site=\"a.example\"");
        round_trip(
            "x{origin=\"a.example\",name=\"a.example\",site=\"a.example\"} 1\na.exampl\n",
            &named,
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let l = labels("origin=\"a\"", "");
        let bad_templates: [&[u8]; 4] = [
            &[],
            &[1, 0, 0],
            &[9, 0, 0, 0, 1],
            &[1, 0, 0, 0, 50, 0, 0, 0, b'x'],
        ];
        for bad in bad_templates {
            assert!(
                expand(&mut Vec::new(), bad, &l, &mut &[][..]).is_err(),
                "{bad:?}"
            );
        }
        // A value hole with no value left, or a shorter one than its length says.
        let mut values = Vec::new();
        let template = cut("x 1\n", &l.needles(), &mut values).expect("cut");
        assert!(expand(&mut Vec::new(), &template, &l, &mut &[][..]).is_err());
        assert!(expand(&mut Vec::new(), &template, &l, &mut &[5, b'1'][..]).is_err());
    }

    #[test]
    fn lists_are_the_same_only_with_the_same_templates() {
        let one: Template = Arc::from(&b"\0\0\0\0one"[..]);
        let other: Template = Arc::from(&b"\0\0\0\0one"[..]);
        let list = |t: &Template| Templates(Arc::from([Arc::clone(t)]));
        assert_eq!(list(&one), list(&one));
        // Equal bytes in two allocations: interned templates never are, so these differ.
        assert_ne!(list(&one), list(&other));
        assert_ne!(list(&one), Templates(Arc::from([])));
        let hash = |l: &Templates| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            l.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&list(&one)), hash(&list(&one)));
    }

    #[test]
    fn templates_no_block_holds_are_swept() {
        let kept = intern_all(vec![b"\0\0\0\0kept by this test".to_vec()]);
        // Other tests intern at the same time: only lower bounds hold.
        let (templates, lists, bytes) = held();
        assert!(
            templates >= 1 && lists >= 1,
            "{templates} templates, {lists} lists"
        );
        assert!(bytes >= kept.0[0].len() + 16 + 2 * 16, "{bytes} bytes");
        for i in 0..3 * SWEEP_FLOOR {
            drop(intern_all(
                vec![format!("\0\0\0\0dropped {i}").into_bytes()],
            ));
        }
        let (templates, lists, _) = held();
        assert!(templates < 3 * SWEEP_FLOOR, "{templates} templates held");
        assert!(lists < 3 * SWEEP_FLOOR, "{lists} lists held");
        let again = intern_all(vec![b"\0\0\0\0kept by this test".to_vec()]);
        assert!(Arc::ptr_eq(&kept.0, &again.0));
    }
}
