//! From a YAML tree to a [`Config`], collecting every problem instead of stopping at the first.
//!
//! Two steps. [`Walker::section`] walks a mapping along a table of [`keys`](super::keys),
//! letting each known key read its value into a [`Draft`] (the built-in defaults with what the
//! file gave written over them, and where it was written), and reports unknown keys,
//! duplicates, wrong types and malformed values. [`Walker::check`] then applies the rules that
//! involve several values (a fixed port inside the pool, duplicate names, empty matches).
//!
//! Nothing here names a key: the names, and what each key accepts, are the table's.

use super::keys::{self, Key, Word};
use super::schema::{Config, Rule};
use super::values::parse_net;
use super::yaml::{Node, Pos};
use ipnet::IpNet;

/// The config being read: defaults, overwritten by every value the file gives that is valid.
#[derive(Debug)]
pub(super) struct Draft {
    pub config: Config,
    /// Whether `ports:` was given (a message about the pool says when it is the default).
    pub ports_given: bool,
    /// Which of `http:` and its older name `metrics:` was given first, and where.
    pub http_at: Option<(String, Pos)>,
    /// The rules of `cables:`, in file order.
    pub rules: Vec<RuleDraft>,
    /// Where `reservations:` was written.
    pub reservations_at: Option<Pos>,
}

/// One entry of `cables:` being read, with where its parts were written.
#[derive(Debug)]
pub(super) struct RuleDraft {
    pub rule: Rule,
    /// Where the entry starts.
    pub pos: Pos,
    /// Where a valid `name:` was written.
    pub name_at: Option<Pos>,
    /// Where `match:` was written, and how many patterns it holds (`None`: no `match:`).
    pub match_at: Option<(Pos, usize)>,
    /// Where a valid `port:` was written.
    pub port_at: Option<Pos>,
}

/// Turns a parsed document into a config, or every problem found (position, message).
/// `None` (an empty file) is the built-in defaults.
pub fn config_from_tree(root: Option<&Node>) -> Result<Config, Vec<(Pos, String)>> {
    let mut walker = Walker::default();
    let mut draft = Draft {
        config: Config::default(),
        ports_given: false,
        http_at: None,
        rules: Vec::new(),
        reservations_at: None,
    };
    match root {
        None => {}
        Some(node @ Node::Map(..)) => {
            walker.section(node, "", keys::TOP, &mut draft);
        }
        Some(node) => walker.error(
            node.pos(),
            format!(
                "the config must be a mapping of keys (like `listen: \"::\"`), found {}",
                node.kind()
            ),
        ),
    }
    let config = walker.check(draft);
    if walker.errors.is_empty() {
        Ok(config)
    } else {
        // Report in file order; problems found at the same place keep their order.
        walker.errors.sort_by_key(|(pos, _)| *pos);
        Err(walker.errors)
    }
}

/// Collects the problems of one file while its keys read their values.
#[derive(Default)]
pub(super) struct Walker {
    errors: Vec<(Pos, String)>,
}

impl Walker {
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
                        keys::words::<W>().join(", ")
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

    /// Rules involving several values; gives the config the rules of `cables:`.
    fn check(&mut self, draft: Draft) -> Config {
        let Draft {
            mut config,
            ports_given,
            rules,
            reservations_at,
            ..
        } = draft;
        let limits = config.reservations;
        if let (Some(pos), true) = (reservations_at, limits.default > limits.max) {
            self.error(
                pos,
                format!(
                    "reservations: default {} is longer than max {}",
                    super::values::format_duration(limits.default),
                    super::values::format_duration(limits.max)
                ),
            );
        }
        let pool = config.ports;
        let mut names: Vec<(String, Pos)> = Vec::new();
        for (i, r) in rules.into_iter().enumerate() {
            let path = format!("cables[{i}]");
            match r.match_at {
                None => self.error(
                    r.pos,
                    format!("{path}: a rule needs `match:` (serial, usb_path, vid_pid or product)"),
                ),
                Some((pos, 0)) => self.error(
                    pos,
                    format!(
                        "{path}.match: give at least one of serial, usb_path, vid_pid, product"
                    ),
                ),
                Some(_) => {}
            }
            if let (Some(port), Some(pos)) = (r.rule.port, r.port_at) {
                if pool.contains(port) {
                    let whence = if ports_given {
                        ""
                    } else {
                        " (the default `ports:`)"
                    };
                    self.error(
                        pos,
                        format!(
                            "{path}.port: port {port} is inside the pool {pool}{whence}; fixed ports must be outside the pool",
                        ),
                    );
                }
            }
            if let (Some(name), Some(pos)) = (&r.rule.name, r.name_at) {
                match names.iter().find(|(n, _)| n == name) {
                    Some((_, first)) => self.error(
                        pos,
                        format!(
                            "{path}.name: duplicate cable name {name:?} (first used at line {})",
                            first.line
                        ),
                    ),
                    None => names.push((name.clone(), pos)),
                }
            }
            config.cables.push(r.rule);
        }
        config
    }
}

/// The known name closest to `word`, if it is a plausible typo (edit distance ≤ 2).
fn closest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance: insertions, deletions and substitutions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        let rule_keys: Vec<&str> = keys::RULE.iter().map(|k| k.name).collect();
        assert_eq!(edit_distance("prot", "port"), 2);
        assert_eq!(edit_distance("listne", "listen"), 2);
        assert_eq!(edit_distance("port", "port"), 0);
        assert_eq!(closest("prot", &rule_keys), Some("port"));
        assert_eq!(closest("zzzzzz", &rule_keys), None);
    }
}
