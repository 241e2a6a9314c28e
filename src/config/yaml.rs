//! A YAML document as a small tree whose every node remembers where it was written.
//!
//! serde stops at the first error and forgets positions, but `check-config` must report every
//! mistake in a file with its line and column. So the file is read with an event parser that
//! reports spans (`saphyr-parser`) into this tree, and the schema walk in `validate` reads the
//! tree, collecting all errors it finds.

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};
use std::collections::HashMap;
use std::fmt;

/// A position in the file, both 1-based (column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl Pos {
    fn of(span: &Span) -> Pos {
        Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// A scalar as written: its text, and whether it was quoted (a quoted scalar is always a
/// string, never a number, boolean or null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    pub text: String,
    pub quoted: bool,
    pub pos: Pos,
}

/// One node of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Scalar(Scalar),
    Seq(Vec<Node>, Pos),
    /// Entries in file order (duplicates are kept; the schema walk reports them).
    Map(Vec<(Node, Node)>, Pos),
}

impl Node {
    /// Where the node starts.
    pub fn pos(&self) -> Pos {
        match self {
            Node::Scalar(s) => s.pos,
            Node::Seq(_, pos) | Node::Map(_, pos) => *pos,
        }
    }

    /// True for an empty value, `~` or `null` (unquoted).
    pub fn is_null(&self) -> bool {
        match self {
            Node::Scalar(s) => {
                !s.quoted && matches!(s.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    /// What kind of value this is, for error messages ("expected a list, found a string").
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Seq(..) => "a list",
            Node::Map(..) => "a mapping",
            _ if self.is_null() => "nothing",
            Node::Scalar(s) if s.quoted => "a string",
            Node::Scalar(s) if s.text.parse::<i64>().is_ok() => "a number",
            Node::Scalar(s) if matches!(s.text.as_str(), "true" | "false") => "a boolean",
            Node::Scalar(_) => "a string",
        }
    }
}

/// A YAML syntax error, with the position the parser stopped at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl From<ScanError> for SyntaxError {
    fn from(e: ScanError) -> Self {
        SyntaxError {
            pos: Pos {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
            message: format!("YAML syntax error: {}{}", e.info(), hint(e.info())),
        }
    }
}

/// A hint for syntax errors whose usual cause is not obvious from the parser's wording.
fn hint(info: &str) -> &'static str {
    if info.contains("mapping values are not allowed") {
        " (a value containing \": \" or ending with \":\", like the address ::, must be quoted)"
    } else {
        ""
    }
}

/// Reads the first document of `text`. `Ok(None)` for a file with no document at all (empty,
/// or only comments). A second document is an error: the config is one mapping.
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut reader = Reader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
    };
    let mut root = None;
    loop {
        let (event, span) = reader.next()?;
        match event {
            Event::StreamEnd => return Ok(root),
            Event::DocumentStart(_) if root.is_some() => {
                return Err(SyntaxError {
                    pos: Pos::of(&span),
                    message: "a second YAML document; the config is a single document".into(),
                })
            }
            Event::DocumentStart(_) => {
                let (first, span) = reader.next()?;
                root = Some(reader.node(first, span)?);
            }
            _ => {} // StreamStart, DocumentEnd
        }
    }
}

struct Reader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// Anchored nodes by anchor id, so an alias (`*name`) reads as a copy of its anchor.
    anchors: HashMap<usize, Node>,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), SyntaxError> {
        match self.parser.next_event() {
            Some(Ok(pair)) => Ok(pair),
            Some(Err(e)) => Err(e.into()),
            // The parser always ends with StreamEnd before running dry.
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    /// Builds the node that starts with `event`, reading as many events as it spans.
    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node, SyntaxError> {
        let pos = Pos::of(&span);
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => (
                Node::Scalar(Scalar {
                    text: text.into_owned(),
                    // `!!str 5` is a string like `"5"`.
                    quoted: style != ScalarStyle::Plain
                        || tag.is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str"),
                    pos,
                }),
                anchor,
            ),
            Event::SequenceStart(anchor, _tag) => {
                let mut items = Vec::new();
                loop {
                    let (ev, sp) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(ev, sp)?);
                }
                (Node::Seq(items, pos), anchor)
            }
            Event::MappingStart(anchor, _tag) => {
                let mut entries = Vec::new();
                loop {
                    let (ev, sp) = self.next()?;
                    if ev == Event::MappingEnd {
                        break;
                    }
                    let key = self.node(ev, sp)?;
                    let (ev, sp) = self.next()?;
                    let value = self.node(ev, sp)?;
                    entries.push((key, value));
                }
                (Node::Map(entries, pos), anchor)
            }
            Event::Alias(id) => {
                return self.anchors.get(&id).cloned().ok_or(SyntaxError {
                    pos,
                    message: "alias to an unknown anchor".into(),
                })
            }
            other => {
                return Err(SyntaxError {
                    pos,
                    message: format!("unexpected YAML event {other:?}"),
                })
            }
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar_at(node: &Node) -> (String, Pos) {
        match node {
            Node::Scalar(s) => (s.text.clone(), s.pos),
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn positions_are_one_based() {
        let doc = parse("a: 1\nlist:\n  - x\n  - 'y'\nm: { k: v }\n")
            .unwrap()
            .unwrap();
        let Node::Map(entries, pos) = doc else {
            panic!()
        };
        assert_eq!(pos, Pos { line: 1, column: 1 });
        assert_eq!(
            scalar_at(&entries[0].0),
            ("a".into(), Pos { line: 1, column: 1 })
        );
        assert_eq!(
            scalar_at(&entries[0].1),
            ("1".into(), Pos { line: 1, column: 4 })
        );
        let Node::Seq(items, _) = &entries[1].1 else {
            panic!()
        };
        assert_eq!(
            scalar_at(&items[0]),
            ("x".into(), Pos { line: 3, column: 5 })
        );
        assert_eq!(scalar_at(&items[1]).1, Pos { line: 4, column: 5 });
        assert!(matches!(&items[1], Node::Scalar(s) if s.quoted));
        let Node::Map(inner, _) = &entries[2].1 else {
            panic!()
        };
        assert_eq!(
            scalar_at(&inner[0].1),
            ("v".into(), Pos { line: 5, column: 9 })
        );
    }

    #[test]
    fn str_tag_makes_a_string() {
        let doc = parse("a: !!str 5\nb: 5\n").unwrap().unwrap();
        let Node::Map(entries, _) = doc else { panic!() };
        assert_eq!(entries[0].1.kind(), "a string");
        assert_eq!(entries[1].1.kind(), "a number");
    }

    #[test]
    fn empty_documents() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }

    #[test]
    fn aliases_copy_their_anchor() {
        let doc = parse("a: &nets [10.0.0.0/8]\nb: *nets\n").unwrap().unwrap();
        let Node::Map(entries, _) = doc else { panic!() };
        assert!(matches!(&entries[1].1, Node::Seq(items, _) if items.len() == 1));
    }

    #[test]
    fn syntax_error_has_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1, "{err:?}");
        assert!(err.message.starts_with("YAML syntax error"));
    }

    #[test]
    fn second_document_is_refused() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
    }
}
