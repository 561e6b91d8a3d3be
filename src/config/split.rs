//! Cuts a config document into its `origins` items and the rest, so that a file of 100,000
//! origins is parsed one origin at a time: serde_norway buffers every event of a document and
//! figment builds a tree of it, which for 100,000 origins peaked at ~300 MB before the first
//! origin was validated. saphyr-parser streams the events with their positions, and only the
//! positions are kept here. Pure: no I/O. The property test in `split_props.rs` holds the cut
//! reader to the whole-document reader on generated documents of every style.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A document whose top-level `origins` is a list, cut apart.
#[derive(Debug, PartialEq, Eq)]
pub struct Split<'a> {
    /// The document with the list replaced by `[]`.
    pub rest: String,
    /// Each item of the list: its text, preceded by as many spaces as its first line was
    /// indented (so that a block mapping's later lines line up), as a YAML document of its own.
    pub items: Vec<Item<'a>>,
}

/// One item of `origins`, as text: `indent` spaces then `text`.
#[derive(Debug, PartialEq, Eq)]
pub struct Item<'a> {
    pub indent: usize,
    pub text: &'a str,
}

impl Item<'_> {
    /// The item as a document of its own.
    pub fn document(&self) -> String {
        let mut doc = String::with_capacity(self.indent + self.text.len());
        doc.extend(std::iter::repeat_n(' ', self.indent));
        doc.push_str(self.text);
        doc
    }
}

/// Cuts `text` apart, or `None` when it cannot be cut safely: no top-level mapping with an
/// `origins` list, anchors, aliases or tags (an item could refer to another part of the
/// document, a tag may stand outside an item's span), an item that is a block scalar (its span
/// leaves out its header), more than one document, or YAML the streaming parser rejects. The caller then parses the whole
/// document as before, so the result (and every error message) never depends on the cut.
pub fn split(text: &str) -> Option<Split<'_>> {
    let mut offsets = ByteOffsets::new(text);
    let mut depth = 0usize;
    let mut documents = 0;
    // At depth 1 (the top-level mapping) keys and values alternate; true while a key is next.
    let mut key_next = true;
    let mut origins_key = false;
    // Where the `origins` key's text ends: the list is replaced from the colon after it (an
    // indentless sequence, `origins:\n- a`, starts its list event after the dash).
    let mut key_end = 0;
    // The list: its start, and each item's start while it is open.
    let mut list_start: Option<usize> = None;
    let mut item_start: Option<Span> = None;
    let mut items = Vec::new();
    let mut list = None;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        let opens = match &event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return None;
                }
                continue;
            }
            Event::Alias(_) => return None,
            // A tag may stand outside an item's span: read such a document whole.
            Event::Scalar(_, _, _, Some(_))
            | Event::SequenceStart(_, Some(_))
            | Event::MappingStart(_, Some(_)) => return None,
            Event::Scalar(_, _, anchor, _)
            | Event::SequenceStart(anchor, _)
            | Event::MappingStart(anchor, _)
                if *anchor != 0 =>
            {
                return None
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => Some(true),
            Event::MappingEnd | Event::SequenceEnd => Some(false),
            Event::Scalar(..) => None,
            _ => continue,
        };
        // A node starts at depth (before), ends at depth (after).
        let in_list = list_start.is_some();
        match opens {
            Some(true) => {
                if depth == 0 && !matches!(event, Event::MappingStart(..)) {
                    return None;
                }
                if depth == 1 && origins_key && !key_next {
                    if !matches!(event, Event::SequenceStart(..)) {
                        return None;
                    }
                    let colon = key_end + text.get(key_end..)?.find(':')?;
                    list_start = Some(colon + 1);
                } else if in_list && depth == 2 {
                    item_start = Some(span);
                }
                depth += 1;
            }
            Some(false) => {
                depth = depth.checked_sub(1)?;
                if in_list && depth == 2 {
                    items.push(item(&mut offsets, text, item_start.take()?, span)?);
                } else if in_list && depth == 1 {
                    let start = list_start.take()?;
                    list = Some((start, offsets.byte(span.end.index())?));
                    origins_key = false;
                }
            }
            None => {
                if in_list && depth == 2 {
                    // A block scalar's span starts at its text, after its `|` or `>` header: cut
                    // there it would read as a plain scalar. No origin is a scalar anyway.
                    if matches!(
                        event,
                        Event::Scalar(_, ScalarStyle::Literal | ScalarStyle::Folded, ..)
                    ) {
                        return None;
                    }
                    items.push(item(&mut offsets, text, span, span)?);
                } else if depth == 1 && key_next {
                    origins_key = matches!(&event, Event::Scalar(k, ..) if k == "origins");
                    if origins_key && (list.is_some() || list_start.is_some()) {
                        // A second `origins` key: the whole-document reader reports it.
                        return None;
                    }
                    if origins_key {
                        key_end = offsets.byte(span.end.index())?;
                    }
                } else if depth == 1 && origins_key {
                    // `origins:` with a scalar (null, a string): nothing to cut.
                    return None;
                }
            }
        }
        // Every complete node at depth 1 is a key or a value.
        if depth == 1 && opens != Some(true) {
            key_next = !key_next;
        }
    }
    let (start, end) = list?;
    let mut rest = String::with_capacity(text.len() - (end - start) + 3);
    rest.push_str(&text[..start]);
    rest.push_str(" []\n");
    rest.push_str(&text[end..]);
    Some(Split { rest, items })
}

/// The text of one item from its first event's span to its last one's.
fn item<'a>(offsets: &mut ByteOffsets, text: &'a str, first: Span, last: Span) -> Option<Item<'a>> {
    let start = offsets.byte(first.start.index())?;
    let end = offsets.byte(last.end.index())?;
    Some(Item {
        indent: first.start.col(),
        text: text.get(start..end)?,
    })
}

/// saphyr-parser counts positions in characters; slicing needs bytes. Positions are asked in
/// increasing order (or again), so one pass over the text serves them all.
struct ByteOffsets<'a> {
    text: &'a str,
    ascii: bool,
    chars: std::str::CharIndices<'a>,
    /// The last position converted: (character index, byte index).
    at: (usize, usize),
}

impl<'a> ByteOffsets<'a> {
    fn new(text: &'a str) -> Self {
        ByteOffsets {
            text,
            ascii: text.is_ascii(),
            chars: text.char_indices(),
            at: (0, 0),
        }
    }

    fn byte(&mut self, char_index: usize) -> Option<usize> {
        if self.ascii {
            return (char_index <= self.text.len()).then_some(char_index);
        }
        if char_index < self.at.0 {
            return None;
        }
        while self.at.0 < char_index {
            self.chars.next()?;
            self.at.0 += 1;
            self.at.1 = self
                .chars
                .clone()
                .next()
                .map_or(self.text.len(), |(b, _)| b);
        }
        Some(self.at.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents(s: &Split) -> Vec<String> {
        s.items.iter().map(Item::document).collect()
    }

    #[test]
    fn block_and_flow_items_become_documents_of_their_own() {
        let text = "global:\n  interval: 60s   # x\norigins:\n  - name: a\n    domain: a.example   # c\n    labels: {team: é}\n  - {name: b, domain: b.example}\n  -\n    name: c\n# trailing\ndiscovery: {}\n";
        let s = split(text).expect("cut");
        assert_eq!(
            documents(&s),
            vec![
                "    name: a\n    domain: a.example   # c\n    labels: {team: é}\n  ",
                "    {name: b, domain: b.example}",
                "    name: c\n# trailing\n",
            ]
        );
        assert_eq!(
            s.rest,
            "global:\n  interval: 60s   # x\norigins: []\ndiscovery: {}\n"
        );
        // Each item parses to the map the whole document holds.
        let whole: serde_norway::Value = serde_norway::from_str(text).expect("yaml");
        for (i, doc) in documents(&s).iter().enumerate() {
            let item: serde_norway::Value = serde_norway::from_str(doc).expect("item yaml");
            assert_eq!(item, whole["origins"][i], "item {i}");
        }
    }

    #[test]
    fn a_flow_list_a_scalar_item_and_multibyte_text_before_the_list() {
        let text =
            "global: {labels: {équipe: café}}\norigins: [{name: a, domain: x}, 42, [1, 2]]\n";
        let s = split(text).expect("cut");
        assert_eq!(
            documents(&s),
            vec![
                " ".repeat(10) + "{name: a, domain: x}",
                " ".repeat(32) + "42",
                " ".repeat(36) + "[1, 2]",
            ]
        );
        assert_eq!(s.rest, "global: {labels: {équipe: café}}\norigins: []\n\n");
    }

    #[test]
    fn documents_that_are_not_cut() {
        for text in [
            "",
            "origins:\n",
            "origins: none\n",
            "- a\n- b\n",
            "global: {}\n",
            "global: &g {interval: 1m}\norigins: [{name: a, domain: b}]\n",
            "origins:\n  - &o {name: a, domain: b}\n  - *o\n",
            "origins:\n  - !!map {name: a, domain: b}\n",
            "origins: [{name: a}]\norigins: [{name: b}]\n",
            "origins: [{name: a}]\n---\norigins: []\n",
            "origins: [{name: a\n",
            "origins:\n  - |\n    just-a-name\n",
            "origins:\r\n- >-\r\n  folded\r\n",
        ] {
            assert_eq!(split(text), None, "{text:?}");
        }
    }

    #[test]
    fn origins_nested_below_the_top_level_are_not_the_list() {
        let text = "global:\n  origins: [1]\norigins:\n  - {name: a}\n";
        let s = split(text).expect("cut");
        assert_eq!(documents(&s), vec![" ".repeat(4) + "{name: a}"]);
        assert_eq!(s.rest, "global:\n  origins: [1]\norigins: []\n");
    }

    /// A list at the key's own indentation (an indentless sequence): its event starts after the
    /// first dash, the cut starts at the key's colon.
    #[test]
    fn an_indentless_list_is_cut_from_the_colon() {
        let text = "global: {interval: 2s}\norigins:\n- {name: a, domain: a.test}\n- name: b\n  domain: b.test\n\"origins2\": 1\n";
        let s = split(text).expect("cut");
        assert_eq!(
            documents(&s),
            vec![
                "  {name: a, domain: a.test}".to_string(),
                "  name: b\n  domain: b.test\n".to_string(),
            ]
        );
        assert_eq!(
            s.rest,
            "global: {interval: 2s}\norigins: []\n\"origins2\": 1\n"
        );
    }
}
