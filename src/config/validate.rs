//! From a YAML tree to a [`Config`], collecting every problem instead of stopping at the first.
//!
//! Two steps. The [`Walker`] walks the file along the table of [`keys`](super::keys), letting
//! each known key read its value into a [`Draft`] (the built-in defaults with what the file
//! gave written over them, and where it was written), and reports unknown keys, duplicates,
//! wrong types and malformed values. [`check`] then applies the rules that involve several
//! values (a fixed port inside the pool, duplicate names, empty matches).
//!
//! Nothing here names a key: the names, and what each key accepts, are the table's.

use super::draft::Draft;
use super::keys;
use super::schema::Config;
use super::walker::Walker;
use super::yaml::{Node, Pos};

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
    let config = check(&mut walker, draft);
    if walker.has_errors() {
        Err(walker.into_errors())
    } else {
        Ok(config)
    }
}

/// Rules involving several values; gives the config the rules of `cables:`.
fn check(w: &mut Walker, draft: Draft) -> Config {
    let Draft {
        mut config,
        ports_given,
        rules,
        reservations_at,
        ..
    } = draft;
    let limits = config.reservations;
    if let (Some(pos), true) = (reservations_at, limits.default > limits.max) {
        w.error(
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
            None => w.error(
                r.pos,
                format!("{path}: a rule needs `match:` (serial, usb_path, vid_pid or product)"),
            ),
            Some((pos, 0)) => w.error(
                pos,
                format!("{path}.match: give at least one of serial, usb_path, vid_pid, product"),
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
                w.error(
                    pos,
                    format!(
                        "{path}.port: port {port} is inside the pool {pool}{whence}; fixed ports must be outside the pool",
                    ),
                );
            }
        }
        if let (Some(name), Some(pos)) = (&r.rule.name, r.name_at) {
            match names.iter().find(|(n, _)| n == name) {
                Some((_, first)) => w.error(
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
