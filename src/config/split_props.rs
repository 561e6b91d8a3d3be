//! Property test of the streamed config cut (`split.rs`): for generated documents, reading the
//! `origins` items one by one (`load_str`, which cuts when it can) gives exactly what reading
//! the whole document gives: the same `Config`, or the same errors in the same order. The
//! documents mix what makes a cut go wrong: flow and block styles, indentless lists, comments
//! with colons, quoted keys, unicode, block scalars, several documents, anchors and aliases,
//! tags, CRLF line ends and a byte-order mark.

use std::fmt::Write as _;
use std::path::Path;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};

use super::load::{load_str, load_whole};
use super::split::split;

/// A scalar and how it is written.
#[derive(Debug, Clone)]
enum Scalar {
    Plain(String),
    Single(String),
    Double(String),
    /// A block scalar in block context (one line of text, then its header's chomping:
    /// `|`, `|-`, `|+`, `>`, `>-`, `>+`); double-quoted in flow context.
    Literal(String, &'static str),
}

/// A YAML node as the generator builds it; rendered by [`Render`].
#[derive(Debug, Clone)]
enum Node {
    Scalar(Scalar),
    Map {
        flow: bool,
        entries: Vec<(Scalar, Node)>,
    },
    Seq {
        flow: bool,
        /// A block list at its key's own indentation.
        indentless: bool,
        items: Vec<Node>,
    },
    /// `&name node`.
    Anchored(String, Box<Node>),
    /// An alias of the anchor defined `n` anchors back (modulo those defined); a plain scalar
    /// when none is.
    Alias(usize),
    /// `!tag node`.
    Tagged(&'static str, Box<Node>),
}

/// Writes nodes as YAML text, with comments where `comments` says so.
struct Render {
    out: String,
    anchors: Vec<String>,
    comments: bool,
}

fn scalar_text(s: &Scalar, flow: bool) -> String {
    match s {
        Scalar::Plain(t) => t.clone(),
        Scalar::Single(t) => format!("'{}'", t.replace('\'', "''")),
        Scalar::Double(t) => format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"")),
        Scalar::Literal(t, _) if flow => {
            format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\""))
        }
        Scalar::Literal(t, header) => format!("{header}\n{{INDENT}}{t}"),
    }
}

impl Render {
    /// A node written inline (flow context, or a block scalar's start).
    fn inline(&mut self, node: &Node, flow: bool) -> String {
        match node {
            Node::Scalar(s) => scalar_text(s, flow),
            Node::Map { entries, .. } => {
                let parts: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", scalar_text(k, true), self.inline(v, true)))
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
            Node::Seq { items, .. } => {
                let parts: Vec<String> = items.iter().map(|v| self.inline(v, true)).collect();
                format!("[{}]", parts.join(", "))
            }
            Node::Anchored(name, inner) => {
                let text = self.inline(inner, flow);
                self.anchors.push(name.clone());
                format!("&{name} {text}")
            }
            Node::Alias(back) => match self.anchors.len() {
                0 => "null".to_string(),
                n => format!("*{}", self.anchors[n - 1 - back % n]),
            },
            Node::Tagged(tag, inner) => format!("{tag} {}", self.inline(inner, flow)),
        }
    }

    /// Whether the node is written as a block of lines under its key or dash.
    fn is_block(node: &Node) -> bool {
        match node {
            Node::Map { flow, entries } => !flow && !entries.is_empty(),
            Node::Seq { flow, items, .. } => !flow && !items.is_empty(),
            Node::Anchored(_, inner) | Node::Tagged(_, inner) => Self::is_block(inner),
            _ => false,
        }
    }

    fn comment(&mut self, at: usize, salt: usize) {
        if self.comments && salt.is_multiple_of(3) {
            let _ = writeln!(
                self.out,
                "{}# note: a comment, with: colons é",
                " ".repeat(at)
            );
        }
    }

    /// The rest of a line after `key:` or `-`, and the lines below it at `indent`.
    fn value(&mut self, node: &Node, indent: usize) {
        match node {
            Node::Anchored(name, inner) if Self::is_block(inner) => {
                self.out.push_str(&format!(" &{name}"));
                self.value_block(inner, indent);
                self.anchors.push(name.clone());
            }
            Node::Tagged(tag, inner) if Self::is_block(inner) => {
                self.out.push_str(&format!(" {tag}"));
                self.value_block(inner, indent);
            }
            n if Self::is_block(n) => self.value_block(n, indent),
            n => {
                let text = self.inline(n, false);
                let text = text.replace("{INDENT}", &" ".repeat(indent + 2));
                self.out.push(' ');
                self.out.push_str(&text);
                if self.comments && !text.contains('\n') && text.len().is_multiple_of(2) {
                    self.out.push_str("   # trailing: comment");
                }
                self.out.push('\n');
                // A blank line after a block scalar: part of a `+` (keep) scalar's value.
                if self.comments && text.contains('\n') {
                    self.out.push('\n');
                }
            }
        }
    }

    fn value_block(&mut self, node: &Node, indent: usize) {
        self.out.push('\n');
        match node {
            Node::Map { entries, .. } => self.map(entries, indent + 2),
            Node::Seq {
                items, indentless, ..
            } => self.seq(items, if *indentless { indent } else { indent + 2 }),
            _ => unreachable!("only maps and lists are blocks"),
        }
    }

    fn map(&mut self, entries: &[(Scalar, Node)], indent: usize) {
        for (i, (key, value)) in entries.iter().enumerate() {
            self.comment(indent, i + indent);
            let key = scalar_text(key, true);
            let _ = write!(self.out, "{}{key}:", " ".repeat(indent));
            self.value(value, indent);
        }
    }

    fn seq(&mut self, items: &[Node], indent: usize) {
        for (i, item) in items.iter().enumerate() {
            self.comment(indent, i + 1);
            let _ = write!(self.out, "{}-", " ".repeat(indent));
            match item {
                // A block map right after the dash: `- key: v` with the rest below it.
                Node::Map {
                    flow: false,
                    entries,
                } if !entries.is_empty() && i % 2 == 0 => {
                    let mut inner = Render {
                        out: String::new(),
                        anchors: std::mem::take(&mut self.anchors),
                        comments: false,
                    };
                    inner.map(entries, indent + 2);
                    self.anchors = inner.anchors;
                    self.out.push(' ');
                    self.out.push_str(&inner.out[indent + 2..]);
                }
                other => self.value(other, indent),
            }
        }
    }
}

fn word(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(pool).prop_map(String::from)
}

/// A scalar of `text` in any of the styles that can carry it.
fn styled(text: impl Strategy<Value = String>) -> impl Strategy<Value = Scalar> {
    let header = proptest::sample::select(&["|", "|-", "|+", ">", ">-", ">+", "|2"][..]);
    (text, 0u8..8, header).prop_map(|(t, style, header)| match style {
        0 | 1
            if !t.contains([
                ':', '#', ',', '[', ']', '{', '}', '\'', '"', '&', '*', '!', '|',
            ]) && !t.starts_with(['-', '?', ' '])
                && !t.is_empty() =>
        {
            Scalar::Plain(t)
        }
        0..=2 => Scalar::Single(t),
        3..=5 => Scalar::Double(t),
        6 if !t.contains('\n') && !t.is_empty() && !t.starts_with(' ') => {
            Scalar::Literal(t, header)
        }
        _ => Scalar::Double(t),
    })
}

fn key(name: &'static str) -> impl Strategy<Value = Scalar> {
    styled(Just(name.to_string()))
}

fn plain(text: &str) -> Node {
    Node::Scalar(Scalar::Plain(text.to_string()))
}

/// A map (flow or block) of the given entries, each kept or not, in a shuffled order.
fn map_of(entries: Vec<BoxedStrategy<(Scalar, Node)>>) -> impl Strategy<Value = Node> {
    let n = entries.len();
    (
        entries,
        proptest::collection::vec(any::<bool>(), n),
        any::<bool>(),
    )
        .prop_flat_map(|(entries, keep, flow)| {
            let kept: Vec<(Scalar, Node)> = entries
                .into_iter()
                .zip(keep)
                .filter_map(|(e, k)| k.then_some(e))
                .collect();
            (Just(kept).prop_shuffle(), Just(flow))
        })
        .prop_map(|(entries, flow)| Node::Map { flow, entries })
}

fn entry(
    name: &'static str,
    value: impl Strategy<Value = Node> + 'static,
) -> BoxedStrategy<(Scalar, Node)> {
    (key(name), value).boxed()
}

fn list(item: impl Strategy<Value = Node> + 'static, max: usize) -> impl Strategy<Value = Node> {
    (
        proptest::collection::vec(item, 0..max),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(items, flow, indentless)| Node::Seq {
            flow,
            indentless,
            items,
        })
}

const NAMES: &[&str] = &["a", "b", "shop", "café", "日本", "a b", "x:y", "dup", "dup"];
const DOMAINS: &[&str] = &[
    "a.example",
    "shop.example.com",
    "bad domain",
    "ü.example",
    "x.example:443",
    "",
];

fn value_of(pool: &'static [&'static str]) -> impl Strategy<Value = Node> {
    styled(word(pool)).prop_map(Node::Scalar)
}

/// An item of `origins`: mostly an origin's settings, sometimes something else entirely.
fn origin() -> impl Strategy<Value = Node> {
    let settings = map_of(vec![
        entry("name", value_of(NAMES)),
        entry("domain", value_of(DOMAINS)),
        entry("address", value_of(&["127.0.0.1", "::1", "not-an-ip"])),
        entry(
            "https_port",
            prop_oneof![Just(plain("8443")), Just(plain("0")), value_of(&["many"])],
        ),
        entry("interval", value_of(&["30s", "1m", "10x", "500ms"])),
        entry(
            "checks",
            list(value_of(&["tcp", "tls", "http", "dns", "bogus"]), 4),
        ),
        entry(
            "labels",
            map_of(vec![
                entry("team", value_of(&["pay", "é: ü", "a # b", "x\\y", "\"q\""])),
                entry("tier", value_of(&["1", "gold"])),
                entry("équipe", value_of(&["café"])),
            ]),
        ),
        entry(
            "http",
            map_of(vec![
                entry("path", value_of(&["/", "/health: ok", "/#x"])),
                entry(
                    "expect_status",
                    list(
                        prop_oneof![Just(plain("200")), value_of(&["3xx", "true"])],
                        3,
                    ),
                ),
                entry("methd", value_of(&["GET"])),
            ]),
        ),
        entry("colour", value_of(&["red"])),
    ]);
    prop_oneof![
        8 => settings,
        1 => Just(plain("42")),
        1 => value_of(&["just-a-name", "k: v"]),
        1 => list(Just(plain("1")), 3),
        1 => (settings_anchor(), any::<bool>()).prop_map(|(n, alias)| if alias { Node::Alias(n) } else { plain("~") }),
    ]
}

/// An origin every rule accepts, written in any style: a unique name, a valid domain, and some
/// of the settings with valid values (unicode and colons in label values).
fn valid_origin() -> impl Strategy<Value = Node> {
    let optional = map_of(vec![
        entry("address", value_of(&["127.0.0.1", "::1"])),
        entry("https_port", Just(plain("8443"))),
        entry("interval", value_of(&["30s", "1m"])),
        entry(
            "checks",
            prop_oneof![
                list(value_of(&["tcp"]), 2),
                Just(Node::Seq {
                    flow: false,
                    indentless: true,
                    items: vec![plain("tcp"), plain("tls")]
                }),
            ],
        ),
        entry(
            "labels",
            map_of(vec![
                entry("team", value_of(&["pay", "é: ü", "a # b", "café", "x'y"])),
                entry("tier", value_of(&["gold"])),
            ]),
        ),
        entry(
            "http",
            map_of(vec![
                entry("path", value_of(&["/", "/health"])),
                entry("expect_status", list(Just(plain("200")), 2)),
            ]),
        ),
    ]);
    (
        key("name"),
        styled("[a-z][a-z0-9]{7,11}"),
        key("domain"),
        value_of(&["a.example", "shop.example.com", "x-1.example.org"]),
        optional,
    )
        .prop_map(|(name_key, name, domain_key, domain, optional)| {
            let Node::Map { flow, mut entries } = optional else {
                unreachable!("a map")
            };
            let at = entries.len() / 2;
            entries.insert(at, (name_key, Node::Scalar(name)));
            entries.insert(0, (domain_key, domain));
            Node::Map { flow, entries }
        })
}

/// Which earlier anchor an alias refers to.
fn settings_anchor() -> impl Strategy<Value = usize> {
    0usize..3
}

/// A node, sometimes anchored or tagged.
fn decorated(node: impl Strategy<Value = Node>) -> impl Strategy<Value = Node> {
    (
        node,
        0u8..12,
        proptest::sample::select(&["!!map", "!!str", "!x", "!!seq"][..]),
    )
        .prop_map(|(node, roll, tag)| match roll {
            0 => Node::Anchored("o".into(), Box::new(node)),
            1 => Node::Anchored("shared".into(), Box::new(node)),
            2 => Node::Tagged(tag, Box::new(node)),
            _ => node,
        })
}

fn global(valid: bool) -> impl Strategy<Value = Node> {
    let mut entries = vec![
        entry("interval", value_of(&["30s", "2m"])),
        entry("timeout", value_of(&["1s", "5s"])),
        entry(
            "labels",
            decorated(map_of(vec![entry("env", value_of(&["prod", "pré: prod"]))])),
        ),
        entry("checks", list(value_of(&["tcp"]), 2)),
    ];
    if !valid {
        entries.push(entry("interval", value_of(&["10x", "2s"])));
        entries.push(entry("colour", value_of(&["red"])));
    }
    map_of(entries)
}

/// A whole config document, as text: a valid config (in any style), or one with mistakes.
fn document() -> impl Strategy<Value = String> {
    prop_oneof![config_text(true), config_text(false)]
}

fn config_text(valid: bool) -> impl Strategy<Value = String> {
    let origins_key = prop_oneof![
        4 => Just(Scalar::Plain("origins".into())),
        1 => Just(Scalar::Single("origins".into())),
        1 => Just(Scalar::Double("origins".into())),
    ];
    let item = if valid {
        decorated(valid_origin()).boxed()
    } else {
        decorated(prop_oneof![3 => valid_origin(), 7 => origin()]).boxed()
    };
    let origins = (origins_key, list(item, 5), 0u8..10, any::<usize>());
    let mut others = vec![
        entry("global", decorated(global(valid))),
        entry(
            "discovery",
            Just(Node::Map {
                flow: true,
                entries: vec![],
            }),
        ),
    ];
    if !valid {
        others.push(entry("versión", value_of(&["2"])));
    }
    let others = map_of(others);
    (others, origins, any::<bool>(), 0u8..16, 0u8..32).prop_map(
        |(others, (key, list, present, at), comments, framing, roll)| {
            let Node::Map { flow, mut entries } = others else {
                unreachable!("the top is a map")
            };
            // Mostly one `origins` list, sometimes none, rarely two.
            if present > 0 {
                entries.insert(at % (entries.len() + 1), (key, list));
            }
            if roll == 0 && present > 0 {
                entries.push((
                    Scalar::Plain("origins".into()),
                    Node::Seq {
                        flow: true,
                        indentless: false,
                        items: vec![],
                    },
                ));
            }
            let (crlf, bom) = (roll % 4 == 1, roll % 5 == 2);
            let mut render = Render {
                out: String::new(),
                anchors: Vec::new(),
                comments,
            };
            if flow {
                let text = render.inline(&Node::Map { flow, entries }, true);
                render.out.push_str(&text);
                render.out.push('\n');
            } else {
                render.map(&entries, 0);
            }
            let mut text = match framing {
                0 => format!("---\n{}", render.out),
                1 => format!("{}...\n", render.out),
                2 => format!("{}---\norigins: []\n", render.out),
                3 => format!("# head: comment\n%YAML 1.2\n---\n{}", render.out),
                4 => format!("---\n{}---\n", render.out),
                _ => render.out,
            };
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            if bom {
                text.insert(0, '\u{feff}');
            }
            text
        },
    )
}

/// The cut reader and the whole-document reader agree, byte for byte of their debug output.
fn agree(text: &str) -> Result<(), TestCaseError> {
    let file = Path::new("p.yaml");
    let cut = format!("{:?}", load_str(text, file));
    let whole = format!("{:?}", load_whole(text, file));
    prop_assert_eq!(cut, whole, "document:\n{}", text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_cut_reader_gives_what_the_whole_document_gives(text in document()) {
        agree(&text)?;
    }
}

/// The generator makes documents the cut takes (else the property proves nothing), valid
/// configs among them, and documents it must refuse to cut.
#[test]
fn the_generated_documents_exercise_the_cut() {
    let mut runner = TestRunner::new(RunnerConfig::default());
    let strategy = document();
    let (mut cut, mut valid, mut whole) = (0, 0, 0);
    for _ in 0..500 {
        let text = strategy
            .new_tree(&mut runner)
            .expect("a document")
            .current();
        match split(&text) {
            Some(_) => cut += 1,
            None => whole += 1,
        }
        if load_str(&text, Path::new("p.yaml")).is_ok() {
            valid += 1;
        }
    }
    eprintln!("of 500 documents: {cut} cut, {whole} read whole, {valid} valid configs");
    assert!(cut >= 100, "only {cut} of 500 documents were cut");
    assert!(whole >= 50, "only {whole} of 500 documents were read whole");
    assert!(
        valid >= 10,
        "only {valid} of 500 documents were valid configs"
    );
}
