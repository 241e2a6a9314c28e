//! The key table: every key a config file may hold, one row each, saying what the key is
//! called, what its value is, what it is for, how the value is read (and checked) and how it
//! is printed.
//!
//! The rows drive everything that names a key: reading a file (the walk in `validate` knows
//! no key), printing a config (`--dump-config`, [`print`]), the list of keys the manual must
//! document ([`docs`]), and the words of each enumeration ([`Word`]). Adding a key is adding
//! a row and a field of [`Config`]; the packaging tests then fail until xvc-agent.yaml(5)
//! documents it.

use super::draft::{Draft, RuleDraft};
use super::glob::Glob;
use super::schema::{
    AdvertiseMode, Config, HttpListener, Match, OnBusyMode, Preempt, ReservationLimits, Rule,
    TdoEdge,
};
use super::values::{
    format_duration, format_frequency, parse_duration, parse_frequency, parse_ip,
    parse_socket_addr, parse_vid_pid, PortPool,
};
use super::walker::{words, Key, KeyDoc, Kind, Shape, Walker, Word};
use super::yaml::Node;
use crate::xvc::access::AccessMode;
use crate::xvc::connection::Keepalive;
use ipnet::IpNet;
use std::path::PathBuf;
use std::time::Duration;
use yaml_serde::{Mapping, Value};

impl Word for AccessMode {
    const ALL: &'static [Self] = &[AccessMode::Strict, AccessMode::Permissive, AccessMode::Off];
    fn word(self) -> &'static str {
        match self {
            AccessMode::Strict => "strict",
            AccessMode::Permissive => "permissive",
            AccessMode::Off => "off",
        }
    }
}

impl Word for Preempt {
    const ALL: &'static [Self] = &[Preempt::Idle, Preempt::Never];
    fn word(self) -> &'static str {
        match self {
            Preempt::Idle => "idle",
            Preempt::Never => "never",
        }
    }
}

impl Word for OnBusyMode {
    const ALL: &'static [Self] = &[OnBusyMode::Refuse, OnBusyMode::Queue];
    fn word(self) -> &'static str {
        match self {
            OnBusyMode::Refuse => "refuse",
            OnBusyMode::Queue => "queue",
        }
    }
}

impl Word for AdvertiseMode {
    const ALL: &'static [Self] = &[AdvertiseMode::Auto, AdvertiseMode::On, AdvertiseMode::Off];
    /// Spelled by the DNS-SD side, which also logs the mode.
    fn word(self) -> &'static str {
        self.name()
    }
}

impl Word for TdoEdge {
    const ALL: &'static [Self] = &[TdoEdge::Rising, TdoEdge::Falling, TdoEdge::Auto];
    /// Spelled by the cable table, which also parses it.
    fn word(self) -> &'static str {
        self.as_str()
    }
}

/// `keepalive: off`.
const KEEPALIVE_OFF: &str = "off";

/// Largest `max_vector_bytes`: a shift's bit count is a u32, so no vector is longer than this.
const MAX_VECTOR_LIMIT: u64 = (u32::MAX as u64).div_ceil(8);

/// The keys of the file itself, in the order `--dump-config` prints them.
pub(super) static TOP: &[Key<Draft, Config>] = &[
    Key {
        name: "listen",
        value: Kind::Is("address"),
        doc: "Address every cable's port listens on, unless a rule gives its own.",
        read: |w, node, path, d| set(&mut d.config.listen, w.parsed(node, path, parse_ip)),
        print: |c| text(c.listen),
        shape: Shape::Value,
    },
    Key {
        name: "ports",
        value: Kind::Is("port range"),
        doc: "Ports handed out to cables without a fixed port.",
        read: |w, node, path, d| {
            if let Some(pool) = w.parsed(node, path, PortPool::parse) {
                d.config.ports = pool;
                d.ports_given = true;
            }
        },
        print: |c| text(c.ports),
        shape: Shape::Value,
    },
    Key {
        name: "auto_serve",
        value: Kind::Is("boolean"),
        doc: "Serve known cables that match no rule, with the worst priority.",
        read: |w, node, path, d| set(&mut d.config.auto_serve, w.boolean(node, path)),
        print: |c| Some(Value::Bool(c.auto_serve)),
        shape: Shape::Value,
    },
    Key {
        name: "max_cables",
        value: Kind::Is("integer"),
        doc: "Serve at most this many cables at once.",
        read: |w, node, path, d| {
            let n = w.integer(node, path, 1, u32::MAX.into());
            set(&mut d.config.max_cables, n.map(|n| n as usize));
        },
        print: |c| number(c.max_cables),
        shape: Shape::Value,
    },
    Key {
        name: "preempt",
        value: Kind::OneOf(words::<Preempt>),
        doc: "May a better-priority cable take the place of a worse one?",
        read: |w, node, path, d| set(&mut d.config.preempt, w.choice(node, path)),
        print: |c| word(c.preempt),
        shape: Shape::Value,
    },
    Key {
        name: "allow",
        value: Kind::Is("list of networks"),
        doc: "Networks clients may connect from.",
        read: |w, node, path, d| set(&mut d.config.allow, w.networks(node, path)),
        print: |c| nets(&c.allow),
        shape: Shape::Value,
    },
    Key {
        name: "access",
        value: Kind::OneOf(words::<AccessMode>),
        doc: "How `allow` is enforced.",
        read: |w, node, path, d| set(&mut d.config.access, w.choice(node, path)),
        print: |c| word(c.access),
        shape: Shape::Value,
    },
    Key {
        name: "on_busy",
        value: Kind::OneOf(words::<OnBusyMode>),
        doc: "What a second client gets while a cable's session is held.",
        read: |w, node, path, d| set(&mut d.config.on_busy, w.choice(node, path)),
        print: |c| word(c.on_busy),
        shape: Shape::Value,
    },
    Key {
        name: "queue_timeout",
        value: Kind::Is("duration"),
        doc: "How long a queued client waits for the cable.",
        read: |w, node, path, d| {
            set(
                &mut d.config.queue_timeout,
                w.parsed(node, path, parse_duration),
            )
        },
        print: |c| text(format_duration(c.queue_timeout)),
        shape: Shape::Value,
    },
    Key {
        name: "idle_timeout",
        value: Kind::Is("duration"),
        doc: "End a session silent for this long (0s: never).",
        read: |w, node, path, d| {
            if let Some(t) = w.parsed(node, path, parse_duration) {
                d.config.idle_timeout = (!t.is_zero()).then_some(t);
            }
        },
        print: |c| text(format_duration(c.idle_timeout.unwrap_or_default())),
        shape: Shape::Value,
    },
    Key {
        name: "keepalive",
        value: Kind::Or("duration", KEEPALIVE_OFF),
        doc: "How soon a client whose host vanished loses its cable.",
        read: |w, node, path, d| {
            set(
                &mut d.config.keepalive,
                w.parsed(node, path, parse_keepalive),
            )
        },
        print: |c| {
            text(
                c.keepalive
                    .map_or_else(|| KEEPALIVE_OFF.into(), format_duration),
            )
        },
        shape: Shape::Value,
    },
    Key {
        name: "shutdown_timeout",
        value: Kind::Is("duration"),
        doc: "How long a graceful stop may take.",
        read: |w, node, path, d| {
            set(
                &mut d.config.shutdown_timeout,
                w.parsed(node, path, parse_duration),
            )
        },
        print: |c| text(format_duration(c.shutdown_timeout)),
        shape: Shape::Value,
    },
    Key {
        name: "max_vector_bytes",
        value: Kind::Is("integer"),
        doc: "Largest TMS or TDI vector of one shift, in bytes.",
        read: |w, node, path, d| {
            let n = w.integer(node, path, 1, MAX_VECTOR_LIMIT);
            set(&mut d.config.max_vector_bytes, n.map(|n| n as usize));
        },
        print: |c| number(c.max_vector_bytes),
        shape: Shape::Value,
    },
    Key {
        name: "state_dir",
        value: Kind::Is("path"),
        doc: "Where the port leases are kept.",
        read: |w, node, path, d| {
            let dir = w.parsed(node, path, |s| non_empty(s, s).map(PathBuf::from));
            set(&mut d.config.state_dir, dir);
        },
        print: |c| text(c.state_dir.display()),
        shape: Shape::Value,
    },
    Key {
        name: "metrics",
        value: Kind::Is("mapping"),
        doc: "The older name of `http`.",
        read: read_http,
        // Printed under its current name.
        print: |_| None,
        shape: Shape::Section(|prefix| docs(HTTP, prefix)),
    },
    Key {
        name: "http",
        value: Kind::Is("mapping"),
        doc: "The HTTP listener: metrics, JSON API and status pages (absent: off).",
        read: read_http,
        print: |c| c.http.map(|m| Value::Mapping(print(HTTP, &m))),
        shape: Shape::Section(|prefix| docs(HTTP, prefix)),
    },
    Key {
        name: "advertise",
        value: Kind::OneOf(words::<AdvertiseMode>),
        doc: "Announce served cables over DNS-SD.",
        read: |w, node, path, d| set(&mut d.config.advertise, w.choice(node, path)),
        print: |c| word(c.advertise),
        shape: Shape::Value,
    },
    Key {
        name: "reservations",
        value: Kind::Is("mapping"),
        doc: "How long `xvc-agent reserve` holds a cable.",
        read: |w, node, path, d| {
            if node.is_null() {
                return;
            }
            if !matches!(node, Node::Map(..)) {
                w.type_error(node, path, "a mapping (like `{ default: 4h, max: 24h }`)");
                return;
            }
            w.section(
                node,
                &format!("{path}."),
                RESERVATIONS,
                &mut d.config.reservations,
            );
            d.reservations_at = Some(node.pos());
        },
        print: |c| Some(Value::Mapping(print(RESERVATIONS, &c.reservations))),
        shape: Shape::Section(|prefix| docs(RESERVATIONS, prefix)),
    },
    Key {
        name: "cables",
        value: Kind::Is("list of rules"),
        doc: "Rules mapping cables to ports.",
        read: read_rules,
        print: |c| {
            let rules = c.cables.iter().map(|r| Value::Mapping(print(RULE, r)));
            Some(Value::Sequence(rules.collect()))
        },
        shape: Shape::List(|prefix| docs(RULE, prefix)),
    },
];

/// The keys of `http:` (and of its older name `metrics:`).
pub(super) static HTTP: &[Key<HttpListener, HttpListener>] = &[Key {
    name: "listen",
    value: Kind::Is("address:port"),
    doc: "Address and port the HTTP listener binds.",
    read: |w, node, path, m| set(&mut m.listen, w.parsed(node, path, parse_socket_addr)),
    print: |m| text(m.listen),
    shape: Shape::Value,
}];

/// The keys of `reservations:`.
pub(super) static RESERVATIONS: &[Key<ReservationLimits, ReservationLimits>] = &[
    Key {
        name: "default",
        value: Kind::Is("duration"),
        doc: "How long a reservation lasts without `--for`.",
        read: |w, node, path, r| {
            set(
                &mut r.default,
                w.parsed(node, path, parse_reservation_duration),
            )
        },
        print: |r| text(format_duration(r.default)),
        shape: Shape::Value,
    },
    Key {
        name: "max",
        value: Kind::Is("duration"),
        doc: "The longest reservation `--for` may ask for.",
        read: |w, node, path, r| set(&mut r.max, w.parsed(node, path, parse_reservation_duration)),
        print: |r| text(format_duration(r.max)),
        shape: Shape::Value,
    },
];

/// The keys of one entry of `cables:`.
pub(super) static RULE: &[Key<RuleDraft, Rule>] = &[
    Key {
        name: "name",
        value: Kind::Is("string"),
        doc: "Name shown in status and logs.",
        read: |w, node, path, r| {
            if let Some(name) = w.parsed(node, path, |s| non_empty(s.trim(), s).map(String::from)) {
                r.rule.name = Some(name);
                r.name_at = Some(node.pos());
            }
        },
        print: |r| r.name.as_ref().and_then(text),
        shape: Shape::Value,
    },
    Key {
        name: "match",
        value: Kind::Is("mapping"),
        doc: "Which cables the rule is about; every pattern given must hold.",
        read: |w, node, path, r| {
            let given = read_match(w, node, path, &mut r.rule.matcher);
            r.match_at = Some((node.pos(), given));
        },
        print: |r| Some(Value::Mapping(print(MATCH, &r.matcher))),
        shape: Shape::Mapping(|prefix| docs(MATCH, prefix)),
    },
    Key {
        name: "port",
        value: Kind::Is("integer"),
        doc: "Fixed port, outside the pool (default: one from the pool).",
        read: |w, node, path, r| {
            if let Some(port) = w.integer(node, path, 1, 65535) {
                r.rule.port = Some(port as u16);
                r.port_at = Some(node.pos());
            }
        },
        print: |r| r.port.and_then(number),
        shape: Shape::Value,
    },
    Key {
        name: "priority",
        value: Kind::Is("integer, 1 or more"),
        doc: "1 is the most important.",
        read: |w, node, path, r| {
            let p = w.integer(node, path, 1, u32::MAX.into());
            set(&mut r.rule.priority, p.map(|p| p as u32));
        },
        print: |r| number(r.priority),
        shape: Shape::Value,
    },
    Key {
        name: "allow",
        value: Kind::Is("list of networks"),
        doc: "Replaces the global `allow` for the matching cables.",
        read: |w, node, path, r| r.rule.allow = w.networks(node, path),
        print: |r| r.allow.as_deref().and_then(nets),
        shape: Shape::Value,
    },
    Key {
        name: "access",
        value: Kind::OneOf(words::<AccessMode>),
        doc: "Replaces the global `access` for the matching cables.",
        read: |w, node, path, r| r.rule.access = w.choice(node, path),
        print: |r| r.access.and_then(word),
        shape: Shape::Value,
    },
    Key {
        name: "listen",
        value: Kind::Is("address"),
        doc: "Replaces the global `listen` for the matching cables.",
        read: |w, node, path, r| r.rule.listen = w.parsed(node, path, parse_ip),
        print: |r| r.listen.and_then(text),
        shape: Shape::Value,
    },
    Key {
        name: "max_frequency",
        value: Kind::Is("frequency"),
        doc: "Fastest TCK the matching cables may run.",
        read: |w, node, path, r| r.rule.max_frequency = w.parsed(node, path, parse_max_tck),
        print: |r| r.max_frequency.map(format_frequency).and_then(text),
        shape: Shape::Value,
    },
    Key {
        name: "tdo_edge",
        value: Kind::OneOf(words::<TdoEdge>),
        doc: "The TCK edge TDO is sampled on.",
        read: |w, node, path, r| r.rule.tdo_edge = w.choice(node, path),
        print: |r| r.tdo_edge.and_then(word),
        shape: Shape::Value,
    },
    Key {
        name: "profile",
        value: Kind::Is("profile name"),
        doc: "The cable type, from the cable table; lets a generic FTDI chip be served.",
        read: |w, node, path, r| r.rule.profile = w.parsed(node, path, parse_profile),
        print: |r| r.profile.as_ref().and_then(text),
        shape: Shape::Value,
    },
];

/// The patterns of a rule's `match:`.
pub(super) static MATCH: &[Key<Match, Match>] = &[
    Key {
        name: "serial",
        value: Kind::Is("glob"),
        doc: "The cable's USB serial number.",
        read: |w, node, path, m| m.serial = w.parsed(node, path, parse_glob),
        print: |m| glob_text(&m.serial),
        shape: Shape::Value,
    },
    Key {
        name: "usb_path",
        value: Kind::Is("glob"),
        doc: "The USB port path the cable is plugged into, such as 1-1.4.",
        read: |w, node, path, m| m.usb_path = w.parsed(node, path, parse_glob),
        print: |m| glob_text(&m.usb_path),
        shape: Shape::Value,
    },
    Key {
        name: "vid_pid",
        value: Kind::Is("glob"),
        doc: "The USB vendor and product ids in hex, such as 0403:6014.",
        read: |w, node, path, m| m.vid_pid = w.parsed(node, path, parse_vid_pid),
        print: |m| glob_text(&m.vid_pid),
        shape: Shape::Value,
    },
    Key {
        name: "product",
        value: Kind::Is("glob"),
        doc: "The USB product string.",
        read: |w, node, path, m| m.product = w.parsed(node, path, parse_glob),
        print: |m| glob_text(&m.product),
        shape: Shape::Value,
    },
];

/// The documented keys of `table`, their paths starting with `prefix`.
pub(super) fn docs<D, C>(table: &[Key<D, C>], prefix: &str) -> Vec<KeyDoc> {
    let mut out = Vec::new();
    for key in table {
        let name = format!("{prefix}{}", key.name);
        let doc = KeyDoc {
            name: name.clone(),
            value: match key.value {
                Kind::Is(what) => what.to_string(),
                Kind::OneOf(words) => words()
                    .iter()
                    .map(|w| format!("_{w}_"))
                    .collect::<Vec<_>>()
                    .join(" | "),
                Kind::Or(what, word) => format!("{what}, or _{word}_"),
            },
            doc: key.doc,
        };
        match key.shape {
            Shape::Value => out.push(doc),
            Shape::Section(inner) => out.extend(inner(&format!("{name}."))),
            Shape::Mapping(inner) => {
                out.push(doc);
                out.extend(inner(&format!("{name}.")));
            }
            Shape::List(inner) => {
                out.push(doc);
                out.extend(inner(&format!("{name}[].")));
            }
        }
    }
    out
}

/// `value` written as a mapping of the keys of `table`, in table order.
pub(super) fn print<D, C>(table: &[Key<D, C>], value: &C) -> Mapping {
    let mut map = Mapping::new();
    for key in table {
        if let Some(v) = (key.print)(value) {
            map.insert(Value::String(key.name.to_string()), v);
        }
    }
    map
}

/// `http:` or `metrics:`, whichever it is; giving both is an error.
fn read_http(w: &mut Walker, node: &Node, path: &str, d: &mut Draft) {
    let http = if node.is_null() {
        None
    } else if !matches!(node, Node::Map(..)) {
        w.type_error(node, path, "a mapping (like `{ listen: 127.0.0.1:9542 }`)");
        None
    } else {
        let mut http = HttpListener::default();
        w.section(node, &format!("{path}."), HTTP, &mut http);
        Some(http)
    };
    if let Some((first, at)) = &d.http_at {
        w.error(
            node.pos(),
            format!(
                "{path}: give either http: or its older name metrics:, not both ({first}: is at line {})",
                at.line
            ),
        );
    }
    d.http_at = Some((path.to_string(), node.pos()));
    d.config.http = http;
}

/// `cables:`, a list of rules.
fn read_rules(w: &mut Walker, node: &Node, path: &str, d: &mut Draft) {
    if node.is_null() {
        return;
    }
    let Node::Seq(items, _) = node else {
        w.type_error(node, path, "a list of rules");
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if !matches!(item, Node::Map(..)) {
            w.type_error(item, &at, "a rule (a mapping with `match:`)");
            continue;
        }
        let mut rule = RuleDraft {
            rule: Rule::new(Match::default()),
            pos: item.pos(),
            name_at: None,
            match_at: None,
            port_at: None,
        };
        w.section(item, &format!("{at}."), RULE, &mut rule);
        d.rules.push(rule);
    }
}

/// The patterns of a `match:`, and how many were written (0: an empty match, reported by
/// the checks across keys). A bad pattern is reported here and still counts as written.
fn read_match(w: &mut Walker, node: &Node, path: &str, m: &mut Match) -> usize {
    if node.is_null() {
        return 0;
    }
    if !matches!(node, Node::Map(..)) {
        w.type_error(
            node,
            path,
            "a mapping of patterns (like `{ serial: \"210249A2B6C1\" }`)",
        );
        return 1;
    }
    w.section(node, &format!("{path}."), MATCH, m)
}

/// `keepalive: off`, or the bound (a duration of at least [`Keepalive::MIN_BOUND`]).
fn parse_keepalive(text: &str) -> Result<Option<Duration>, String> {
    if text == KEEPALIVE_OFF {
        return Ok(None);
    }
    let bound = parse_duration(text).map_err(|e| format!("{e}, or {KEEPALIVE_OFF}"))?;
    if bound < Keepalive::MIN_BOUND {
        return Err(format!(
            "{text:?} is too short; at least {}s (or {KEEPALIVE_OFF})",
            Keepalive::MIN_BOUND.as_secs()
        ));
    }
    Ok(Some(bound))
}

/// A reservation's length: a duration of at least a second.
fn parse_reservation_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < Duration::from_secs(1) {
        return Err(format!("{text:?} is too short; at least 1s"));
    }
    Ok(d)
}

/// A frequency no FTDI MPSSE cable is too slow for.
fn parse_max_tck(text: &str) -> Result<u64, String> {
    let hz = parse_frequency(text)?;
    if hz > crate::ftdi::clock::BASE_TCK_HZ {
        return Err(format!(
            "{} is above the fastest TCK of an FTDI MPSSE cable (30MHz)",
            format_frequency(hz)
        ));
    }
    Ok(hz)
}

/// The name of a row of the cable table.
fn parse_profile(name: &str) -> Result<String, String> {
    use crate::ftdi::identify::{profile_by_name, profile_names};
    match profile_by_name(name) {
        Some(p) => Ok(p.name.to_string()),
        None => Err(format!(
            "unknown cable profile {name:?} (known: {})",
            profile_names().collect::<Vec<_>>().join(", ")
        )),
    }
}

fn parse_glob(text: &str) -> Result<Glob, String> {
    Glob::new(text).map_err(|e| e.to_string())
}

/// `value` unless `checked` is empty.
fn non_empty<'s>(checked: &str, value: &'s str) -> Result<&'s str, String> {
    if checked.is_empty() {
        Err("must not be empty".to_string())
    } else {
        Ok(value)
    }
}

/// Stores a value that was given and valid; a missing or bad one leaves the default.
fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

fn text(value: impl std::fmt::Display) -> Option<Value> {
    Some(Value::String(value.to_string()))
}

fn number(n: impl Into<yaml_serde::Number>) -> Option<Value> {
    Some(Value::Number(n.into()))
}

fn word<W: Word>(w: W) -> Option<Value> {
    text(w.word())
}

fn nets(list: &[IpNet]) -> Option<Value> {
    Some(Value::Sequence(
        list.iter()
            .map(|net| Value::String(net.to_string()))
            .collect(),
    ))
}

fn glob_text(glob: &Option<Glob>) -> Option<Value> {
    glob.as_ref().and_then(|g| text(g.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_documented_in_one_line() {
        let all = docs(TOP, "");
        for (i, key) in all.iter().enumerate() {
            assert!(
                all[i + 1..].iter().all(|k| k.name != key.name),
                "{} twice",
                key.name
            );
            assert!(!key.doc.is_empty() && !key.doc.contains('\n'), "{key:?}");
            assert!(!key.value.is_empty(), "{key:?}");
        }
    }

    #[test]
    fn enumerations_list_their_words_once() {
        assert_eq!(words::<Preempt>(), ["idle", "never"]);
        assert_eq!(words::<AccessMode>(), ["strict", "permissive", "off"]);
        assert_eq!(words::<OnBusyMode>(), ["refuse", "queue"]);
        assert_eq!(words::<AdvertiseMode>(), ["auto", "on", "off"]);
        assert_eq!(words::<TdoEdge>(), ["rising", "falling", "auto"]);
        let preempt = docs(TOP, "").into_iter().find(|k| k.name == "preempt");
        assert_eq!(preempt.unwrap().value, "_idle_ | _never_");
    }

    /// `word` when `text` starts with a key-like word and a colon (`port:`).
    fn key_at(text: &str) -> Option<&str> {
        let end = text
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(text.len());
        (end > 0 && text[end..].starts_with(':')).then(|| &text[..end])
    }

    /// Every `key:` a line of the shipped file writes or mentions, commented or not: at the
    /// start of the line, after `{` or `,` (flow mappings), and in backticks.
    fn mentions(line: &str) -> Vec<&str> {
        let body = line.trim_start_matches('#').trim_start();
        let body = body.strip_prefix("- ").unwrap_or(body);
        let mut out: Vec<&str> = key_at(body)
            .filter(|k| {
                body[k.len() + 1..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace)
            })
            .into_iter()
            .collect();
        for (at, c) in body.char_indices() {
            if matches!(c, '{' | ',' | '`') {
                out.extend(key_at(body[at + 1..].trim_start()));
            }
        }
        out
    }

    #[test]
    fn shipped_config_mentions_only_keys_of_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/config.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Every key at any depth, by its last name (`serial` for `cables[].match.serial`).
        let names: Vec<String> = docs(TOP, "")
            .into_iter()
            .flat_map(|k| {
                k.name
                    .split(['.', '[', ']'])
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .chain(TOP.iter().map(|k| k.name.to_string()))
            .collect();
        let mut seen = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            for word in mentions(line) {
                seen.push(word);
                if names.iter().any(|n| n == word) {
                    continue;
                }
                // Else a word of the enumeration the comment describes: the key below it.
                let below = lines[i + 1..]
                    .iter()
                    .find(|l| !l.is_empty() && !l.starts_with('#'))
                    .and_then(|l| key_at(l));
                let row = TOP.iter().find(|k| Some(k.name) == below);
                let described = match row.map(|k| &k.value) {
                    Some(Kind::OneOf(words)) => words().contains(&word),
                    _ => false,
                };
                assert!(
                    described,
                    "{path}:{}: `{word}:` is neither a key nor a word of the key below it ({})",
                    i + 1,
                    below.unwrap_or("none")
                );
            }
        }
        // The check has read the file: the commented-out rules are there.
        for word in ["listen", "never", "http", "serial", "usb_path", "priority"] {
            assert!(seen.contains(&word), "{word} not found in {path}");
        }
    }

    #[test]
    fn mentions_of_keys_in_a_line() {
        assert_eq!(mentions("listen: \"::\""), ["listen"]);
        assert_eq!(
            mentions("#    match: { serial: \"A\", usb_path: 1 }"),
            ["match", "serial", "usb_path"]
        );
        assert_eq!(mentions("#  - name: spare"), ["name"]);
        assert_eq!(
            mentions("# waits with `on_busy: queue` before"),
            ["on_busy"]
        );
        assert_eq!(
            mentions("# Durations take a unit: 500ms"),
            Vec::<&str>::new()
        );
        assert_eq!(mentions("# allow: [127.0.0.0/8, ::1/128]"), ["allow"]);
    }
}
