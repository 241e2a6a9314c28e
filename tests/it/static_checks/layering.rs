//! The crate's modules form layers, and code only reaches down: a driver never imports the
//! agent, the agent never imports the front ends that serve it. A `use crate::…` (or a
//! `crate::…` path) that reaches up a layer fails here, naming file and line; so does any
//! cycle between modules of one layer. Unit-test modules (`#[cfg(test)] mod tests`) may use
//! anything: they are not part of the build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. A module may use its own layer (without cycles) and the ones below.
const LAYERS: &[&[&str]] = &[
    &["logging", "table", "jtag"],
    &["ftdi", "xvc", "sim"],
    &["hotplug", "config"],
    &["agent"],
    &["lab"],
    &["control"],
    &["daemon", "cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a source file belongs to (`src/agent/cable.rs` → `agent`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its unit-test module and without comments.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            if let Some((_, next)) = lines.peek() {
                if next.trim_start().starts_with("mod ") {
                    break; // the unit tests run to the end of the file
                }
            }
        }
        let code = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        out.push((i + 1, code.to_string()));
    }
    out
}

/// Every `crate::name` a line mentions, including grouped uses (`use crate::{a, b::c}`).
fn crate_references(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for part in inner.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
        rest = after;
    }
    found
}

struct Edge {
    from: String,
    to: String,
    at: String,
}

fn edges() -> Vec<Edge> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut edges = Vec::new();
    for file in files {
        let Some(from) = module_of(&src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (line_no, code) in code_lines(&text) {
            for to in crate_references(&code) {
                if to != from {
                    edges.push(Edge {
                        from: from.clone(),
                        to,
                        at: format!(
                            "src/{}:{line_no}",
                            file.strip_prefix(&src).unwrap().display()
                        ),
                    });
                }
            }
        }
    }
    edges
}

#[test]
fn every_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let missing: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_of(&src, f))
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a layer in LAYERS: {missing:?}"
    );
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let upward: Vec<String> = edges()
        .into_iter()
        .filter_map(|e| {
            let (from, to) = (layer_of(&e.from)?, layer_of(&e.to)?);
            (to > from).then(|| format!("{}: {} uses {} (a layer above)", e.at, e.from, e.to))
        })
        .collect();
    assert!(upward.is_empty(), "\n{}", upward.join("\n"));
}

#[test]
fn modules_do_not_use_each_other_in_a_cycle() {
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for e in edges() {
        if layer_of(&e.to).is_some() {
            graph.entry(e.from).or_default().entry(e.to).or_insert(e.at);
        }
    }
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("{} → {} ({})", w[0], w[1], graph[&w[0]][&w[1]]))
            .collect();
        panic!("import cycle:\n{}", steps.join("\n"));
    }
}

#[test]
fn the_checks_see_a_use_that_goes_up() {
    // The parser itself: grouped and plain uses, comments and test modules.
    assert_eq!(
        crate_references("use crate::{agent::x, config};"),
        vec!["agent", "config"]
    );
    assert_eq!(
        crate_references("let a = crate::hotplug::udev::f();"),
        vec!["hotplug"]
    );
    let lines =
        code_lines("use crate::a; // crate::b\n#[cfg(test)]\nmod tests {\nuse crate::c;\n}\n");
    let refs: Vec<String> = lines
        .iter()
        .flat_map(|(_, l)| crate_references(l))
        .collect();
    assert_eq!(refs, vec!["a"]);
}

/// The module files ARCHITECTURE.md names: `dir/file.rs` in backticks, relative to `src/`
/// (paths under `src/` or `tests/` written out in full are other files).
fn mapped_modules(map: &str) -> BTreeSet<String> {
    map.split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| {
            name.ends_with(".rs")
                && name.contains('/')
                && !name.starts_with("src/")
                && !name.starts_with("tests/")
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_/.".contains(c))
        })
        .map(str::to_string)
        .collect()
}

/// Every module file as ARCHITECTURE.md names it: `agent/assign.rs`; a top-level single-file
/// module by its name as a `- \`name\`` list entry.
#[test]
fn the_architecture_map_names_every_module_and_no_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut nested = BTreeSet::new();
    let mut single = BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        if rel.contains('/') {
            nested.insert(rel);
        } else if !matches!(rel.as_str(), "lib.rs" | "main.rs") {
            single.insert(rel.trim_end_matches(".rs").to_string());
        }
    }
    let mapped = mapped_modules(&map);
    let unnamed: Vec<&String> = nested.difference(&mapped).collect();
    let stale: Vec<&String> = mapped.difference(&nested).collect();
    let single_unnamed: Vec<&String> = single
        .iter()
        .filter(|m| !map.contains(&format!("- `{m}` — ")))
        .collect();
    assert!(
        unnamed.is_empty() && stale.is_empty() && single_unnamed.is_empty(),
        "ARCHITECTURE.md and src/ differ:\n  modules it does not name: {unnamed:?} {single_unnamed:?}\n  \
         names of modules that do not exist: {stale:?}"
    );
}

#[test]
fn the_map_check_reads_names_in_backticks_only() {
    let map = "- `agent/assign.rs` — x\n`ftdi/usb.rs::read_eeprom` and `make test`, `a/b.rs`, \
               `mod.rs`, `tests/layering.rs`";
    assert_eq!(
        mapped_modules(map),
        BTreeSet::from(["agent/assign.rs".to_string(), "a/b.rs".to_string()])
    );
}

/// The submodule a source file is (`src/agent/cable.rs` → (`agent`, `cable`);
/// `src/sim/ft232h/usb.rs` → (`sim::ft232h`, `usb`); a `mod.rs` is its directory's module
/// itself, `(parent, dir)`).
fn submodule_of(src: &Path, file: &Path) -> Option<(String, String)> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.len() < 2 {
        return None;
    }
    let name = parts.pop()?;
    Some((parts.join("::"), name))
}

/// The sibling submodules of `parent` a line mentions: `crate::parent::x`, `super::x` (from
/// a file directly in `parent`), grouped forms included.
fn sibling_references(line: &str, parent: &str) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in [format!("crate::{parent}::"), "super::".to_string()] {
        let mut rest = line;
        while let Some(at) = rest.find(&prefix) {
            let before = &rest[..at];
            let after = &rest[at + prefix.len()..];
            rest = after;
            // `super::super::x` is a grandparent's child, and `a::super::x` not a path of ours.
            if prefix == "super::" && after.starts_with("super::") {
                rest = after.trim_start_matches("super::");
                continue;
            }
            if prefix == "super::" && before.ends_with("::") {
                continue;
            }
            let names: Vec<&str> = match after.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
                None => vec![after],
            };
            for part in names {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != "super" && name != "self" {
                    found.push(name);
                }
            }
        }
    }
    found
}

/// Within each directory module, the files use each other without a cycle: a reader can go
/// from the leaves up (`agent/assign.rs` before `agent/supervisor.rs`), never in circles.
#[test]
fn submodules_do_not_use_each_other_in_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    // parent → (file's module → (sibling → where)).
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> = BTreeMap::new();
    let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some((parent, name)) = submodule_of(&src, file) else {
            continue;
        };
        members.entry(parent).or_default().insert(name);
    }
    for file in &files {
        let Some((parent, name)) = submodule_of(&src, file) else {
            continue;
        };
        // In `dir/x.rs` and in `dir/x/mod.rs` alike, `super::` is `dir`.
        let text = std::fs::read_to_string(file).unwrap();
        for (line_no, code) in code_lines(&text) {
            for to in sibling_references(&code, &parent) {
                if to != name && members[&parent].contains(&to) {
                    graphs
                        .entry(parent.clone())
                        .or_default()
                        .entry(name.clone())
                        .or_default()
                        .entry(to)
                        .or_insert(format!(
                            "src/{}:{line_no}",
                            file.strip_prefix(&src).unwrap().display()
                        ));
                }
            }
        }
    }
    let mut cycles = Vec::new();
    for (parent, graph) in &graphs {
        if let Some(cycle) = find_cycle(graph) {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{parent}::{} → {} ({})", w[0], w[1], graph[&w[0]][&w[1]]))
                .collect();
            cycles.push(steps.join("\n"));
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n\n"));
}

/// The first cycle of a directed graph, as the nodes along it (first = last).
fn find_cycle(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|m| m.keys()) {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_submodule_check_sees_super_and_crate_paths() {
    assert_eq!(
        sibling_references("use super::{cable::Lifecycle, state};", "agent"),
        vec!["cable", "state"]
    );
    assert_eq!(
        sibling_references(
            "let x = crate::agent::wiring::bind(); use super::super::y;",
            "agent"
        ),
        vec!["wiring"]
    );
    let src = Path::new("/s");
    assert_eq!(
        submodule_of(src, Path::new("/s/sim/ft232h/usb.rs")),
        Some(("sim::ft232h".into(), "usb".into()))
    );
    assert_eq!(
        submodule_of(src, Path::new("/s/sim/ft232h/mod.rs")),
        Some(("sim".into(), "ft232h".into()))
    );
    assert_eq!(submodule_of(src, Path::new("/s/agent/mod.rs")), None);
    let mut g: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    g.entry("a".into())
        .or_default()
        .insert("b".into(), "x".into());
    assert_eq!(find_cycle(&g), None);
    g.entry("b".into())
        .or_default()
        .insert("a".into(), "y".into());
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
}
