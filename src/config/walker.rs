//! Reading a YAML mapping along a key table, collecting every problem: the machinery every
//! table row uses (typed readers that report a wrong type or a malformed value at its place,
//! unknown keys with the closest known one, duplicates) and the row type itself. Knows no key:
//! the names and what each accepts are [`keys`](super::keys)'s.

use super::values::parse_net;
use super::yaml::{Node, Pos};
use ipnet::IpNet;
use yaml_serde::Value;

/// One key: its name, its documentation, and how its value goes from a file into the draft
/// `D` being read and from a config section `C` back into a file.
pub(super) struct Key<D: 'static, C: 'static> {
    pub name: &'static str,
    /// What the value is, as the heading of the key's entry in the manual says.
    pub value: Kind,
    /// What the key is for, in one line.
    pub doc: &'static str,
    /// Reads the value at a node (its path for messages) into the draft, reporting problems.
    /// A null value counts as not given: the draft keeps its default.
    pub read: fn(&mut Walker, &Node, &str, &mut D),
    /// The value as written in a file; `None`: left out.
    pub print: fn(&C) -> Option<Value>,
    pub shape: Shape,
}

/// What a key's value is, for the manual.
pub(super) enum Kind {
    /// Said in words: "duration", "list of networks".
    Is(&'static str),
    /// One of the words of an enumeration ([`words`]).
    OneOf(fn() -> Vec<&'static str>),
    /// A value said in words, or one word: "duration, or off".
    Or(&'static str, &'static str),
}

/// Where a key sits among the documented keys.
pub(super) enum Shape {
    /// A value (or a list of values): documented as itself.
    Value,
    /// A mapping documented by its keys only (`http.listen`).
    Section(fn(&str) -> Vec<KeyDoc>),
    /// A mapping documented as itself and by its keys (`cables[].match.serial`).
    Mapping(fn(&str) -> Vec<KeyDoc>),
    /// A list of mappings documented as itself and by its entries' keys (`cables[].port`).
    List(fn(&str) -> Vec<KeyDoc>),
}

/// A documented key: its path (`ports`, `http.listen`, `cables[].match.serial`), its value
/// as the heading of its entry in xvc-agent.yaml(5) gives it (`duration`,
/// `_idle_ | _never_`), and what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDoc {
    pub name: String,
    pub value: String,
    pub doc: &'static str,
}

/// An enumeration a key takes as one of a few words (`preempt: idle`). Each type's words are
/// spelled once, in its `word`.
pub(super) trait Word: Copy + 'static {
    /// Every value, in the order messages and the manual list them.
    const ALL: &'static [Self];
    fn word(self) -> &'static str;
}

/// The words of `W`, in order.
pub(super) fn words<W: Word>() -> Vec<&'static str> {
    W::ALL.iter().map(|w| w.word()).collect()
}

/// Collects the problems of one file while its keys read their values.
#[derive(Default)]
pub(super) struct Walker {
    errors: Vec<(Pos, String)>,
}

impl Walker {
    /// Every problem found, in file order (problems at one place keep their order).
    pub(super) fn into_errors(self) -> Vec<(Pos, String)> {
        let mut errors = self.errors;
        errors.sort_by_key(|(pos, _)| *pos);
        errors
    }

    pub(super) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub(super) fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.errors.push((pos, message.into()));
    }

    /// Reads the known keys of a mapping into `draft`, reporting unknown keys and
    /// duplicates. `prefix` is the path of the mapping for messages (`""`, `"cables[0]."`).
    /// Returns how many keys were given a value (not null). A non-mapping reads nothing: the
    /// caller reports it, knowing what the mapping is for.
    pub(super) fn section<D, C>(
        &mut self,
        node: &Node,
        prefix: &str,
        table: &[Key<D, C>],
        draft: &mut D,
    ) -> usize {
        let Node::Map(pairs, _) = node else {
            return 0;
        };
        let mut seen: Vec<(&'static str, Pos)> = Vec::new();
        let mut given = 0;
        for (key, value) in pairs {
            let Node::Scalar(k) = key else {
                self.error(
                    key.pos(),
                    format!("{prefix}: keys must be plain names, found {}", key.kind()),
                );
                continue;
            };
            let Some(row) = table.iter().find(|row| row.name == k.text) else {
                let names: Vec<&str> = table.iter().map(|row| row.name).collect();
                let hint = match closest(&k.text, &names) {
                    Some(near) => format!("did you mean {near:?}?"),
                    None => format!("expected one of: {}", names.join(", ")),
                };
                self.error(k.pos, format!("{prefix}{}: unknown key; {hint}", k.text));
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == row.name) {
                self.error(
                    k.pos,
                    format!(
                        "{prefix}{}: duplicate key (first given at line {})",
                        row.name, first.line
                    ),
                );
                continue;
            }
            seen.push((row.name, k.pos));
            if !value.is_null() {
                given += 1;
            }
            (row.read)(self, value, &format!("{prefix}{}", row.name), draft);
        }
        given
    }

    pub(super) fn type_error(&mut self, node: &Node, path: &str, expected: &str) {
        self.error(
            node.pos(),
            format!("{path}: expected {expected}, found {}", node.kind()),
        );
    }

    /// The text of a scalar, or a type error. `None` for null (the key counts as not given).
    fn text<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n str> {
        match node {
            _ if node.is_null() => None,
            Node::Scalar(s) => Some(&s.text),
            _ => {
                self.type_error(node, path, "a single value");
                None
            }
        }
    }

    /// A scalar parsed by `parse`; its error message is reported at the value.
    pub(super) fn parsed<T>(
        &mut self,
        node: &Node,
        path: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.text(node, path)?;
        match parse(text) {
            Ok(v) => Some(v),
            Err(message) => {
                self.error(node.pos(), format!("{path}: {message}"));
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node {
            Node::Scalar(s) if !s.quoted && s.text == "true" => Some(true),
            Node::Scalar(s) if !s.quoted && s.text == "false" => Some(false),
            _ if node.is_null() => None,
            Node::Scalar(s) => {
                self.error(
                    s.pos,
                    format!("{path}: expected true or false, found {:?}", s.text),
                );
                None
            }
            _ => {
                self.type_error(node, path, "true or false");
                None
            }
        }
    }

    /// A whole number in `min..=max`, written as a plain number.
    pub(super) fn integer(&mut self, node: &Node, path: &str, min: u64, max: u64) -> Option<u64> {
        let s = match node {
            _ if node.is_null() => return None,
            Node::Scalar(s) if !s.quoted => s,
            _ => {
                self.type_error(node, path, "a whole number");
                return None;
            }
        };
        let n = match s.text.parse::<i128>() {
            Ok(n) => n,
            Err(_) => {
                self.error(
                    s.pos,
                    format!("{path}: expected a whole number, found {:?}", s.text),
                );
                return None;
            }
        };
        if n < i128::from(min) || n > i128::from(max) {
            let range = if max >= u64::from(u32::MAX) {
                format!("must be at least {min}")
            } else {
                format!("must be {min}-{max}")
            };
            self.error(s.pos, format!("{path}: {n} is out of range; {range}"));
            return None;
        }
        Some(n as u64)
    }

    /// One of the words of `W`.
    pub(super) fn choice<W: Word>(&mut self, node: &Node, path: &str) -> Option<W> {
        self.parsed(node, path, |s| {
            W::ALL
                .iter()
                .copied()
                .find(|w| w.word() == s)
                .ok_or_else(|| {
                    format!(
                        "invalid value {s:?}; expected one of: {}",
                        words::<W>().join(", ")
                    )
                })
        })
    }

    /// A list of networks (`10.0.0.0/8`; a bare address means that one host). Every bad
    /// entry is reported.
    pub(super) fn networks(&mut self, node: &Node, path: &str) -> Option<Vec<IpNet>> {
        if node.is_null() {
            return None;
        }
        let Node::Seq(items, _) = node else {
            self.type_error(node, path, "a list of networks (like `[10.0.0.0/8]`)");
            return None;
        };
        let mut nets = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.parsed(item, &format!("{path}[{i}]"), parse_net) {
                Some(net) => nets.push(net),
                None => {
                    if item.is_null() {
                        self.type_error(item, &format!("{path}[{i}]"), "a network");
                    }
                    ok = false;
                }
            }
        }
        ok.then_some(nets)
    }
}

/// The known name closest to `word`, if it is a plausible typo (edit distance ≤ 2).
fn closest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (strsim::levenshtein(word, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_the_closest_key_and_nonsense_none() {
        let known = ["port", "priority", "profile", "listen"];
        assert_eq!(closest("prot", &known), Some("port"));
        assert_eq!(closest("listne", &known), Some("listen"));
        assert_eq!(closest("zzzzzz", &known), None);
    }
}
