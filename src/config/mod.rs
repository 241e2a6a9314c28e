//! Configuration: the schema of `config.yaml`, loading, and validation that reports every
//! mistake of a file at once as `FILE:LINE:COLUMN: message`.
//!
//! It exists so the rest of the agent only ever sees a valid [`Config`]: ports in range,
//! networks parsed, patterns compiled, defaults filled in. An operator editing the file gets
//! all problems in one run of `xvc-agent check-config`, and a reload (SIGHUP) with a bad file
//! is refused before anything changes.
//!
//! Reading goes YAML text → position-aware tree ([`yaml`]) → each key of the key table
//! ([`keys`]) reading its value → checks across keys → [`Config`] ([`validate`]). Printing
//! (`--dump-config`) goes the other way through the same table, then `yaml_serde`.

mod draft;
mod error;
mod glob;
mod keys;
mod schema;
mod validate;
mod values;
mod walker;
mod yaml;

pub use error::{ConfigError, Diagnostic};
pub(crate) use schema::{AdvertiseMode, CableSettings, Preempt};
pub use schema::{Config, ReservationLimits};
pub(crate) use values::parse_net;
pub use values::{format_duration, parse_duration};
pub use walker::KeyDoc;
// What the agent's unit tests build configurations from.
impl Config {
    /// The configuration as YAML (`xvc-agent run --dump-config`), every key written the way
    /// an operator would write it (`5s`, `2542-2573`, `15MHz`). Parsing the output gives back
    /// an equal `Config`. Here rather than in `schema.rs` so the data types do not depend on
    /// the key table that reads and prints them.
    pub fn to_yaml(&self) -> String {
        yaml_serde::to_string(&keys::print(keys::TOP, self)).expect("config serialises to YAML")
    }
}

#[cfg(test)]
pub(crate) use {
    glob::Glob,
    schema::{Match, Rule},
    values::PortPool,
};

use std::path::Path;

/// Where the config is read from unless `--config` names another file.
pub(crate) const DEFAULT_PATH: &str = "/etc/xvc-agent/config.yaml";

/// Exit status for a bad config file (`EX_CONFIG` from sysexits.h).
pub const EX_CONFIG: u8 = 78;

/// Where a loaded config came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Read from the file.
    File,
    /// No file at the default path: the built-in defaults.
    BuiltIn,
}

/// Every key a config file may hold, as the documentation names them: `ports`,
/// `http.listen`, `cables[].priority`, `cables[].match.serial`, …
pub fn keys() -> Vec<String> {
    key_docs().into_iter().map(|k| k.name).collect()
}

/// Every key a config file may hold, with its kind of value and what it is for, from the key
/// table that also reads and prints them.
pub fn key_docs() -> Vec<KeyDoc> {
    keys::docs(keys::TOP, "")
}

/// Parses and validates config text. `file_name` is only used in error messages.
pub fn parse(text: &str, file_name: &str) -> Result<Config, ConfigError> {
    let invalid = |errors: Vec<(yaml::Pos, String)>| ConfigError::Invalid {
        file: file_name.to_string(),
        errors: errors
            .into_iter()
            .map(|(pos, message)| Diagnostic {
                line: pos.line,
                column: pos.column,
                message,
            })
            .collect(),
    };
    let tree = yaml::parse(text).map_err(|e| invalid(vec![(e.pos, e.message)]))?;
    validate::config_from_tree(tree.as_ref()).map_err(invalid)
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Loads `path`, where a missing file means the built-in defaults unless the file was named
/// explicitly (`--config`): then a missing file is an error like any other. The caller logs
/// [`ConfigSource::BuiltIn`] once.
pub(crate) fn load_or_default(
    path: &Path,
    explicit: bool,
) -> Result<(Config, ConfigSource), ConfigError> {
    match load(path) {
        Ok(config) => Ok((config, ConfigSource::File)),
        Err(ConfigError::Read { source, .. })
            if !explicit && source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok((Config::default(), ConfigSource::BuiltIn))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xvc::access::AccessMode;
    use schema::{TdoEdge, DEFAULT_PRIORITY};
    use std::time::Duration;

    fn errors(text: &str) -> Vec<String> {
        match parse(text, "t.yaml") {
            Ok(c) => panic!("expected errors, got {c:?}"),
            Err(e) => e.to_string().lines().map(String::from).collect(),
        }
    }

    fn ok(text: &str) -> Config {
        parse(text, "t.yaml").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn keys_name_every_level() {
        let keys = keys();
        for k in [
            "ports",
            "metrics.listen",
            "cables",
            "cables[].match",
            "cables[].match.vid_pid",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
        }
        assert!(!keys.iter().any(|x| x == "metrics"));
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(ok(""), Config::default());
        assert_eq!(ok("# nothing\n"), Config::default());
        assert_eq!(ok("{}\n"), Config::default());
    }

    #[test]
    fn the_example_from_the_documentation() {
        let c = ok(r#"
listen: 0.0.0.0
ports: 2542-2573
auto_serve: true
max_cables: 32
preempt: idle
allow: [127.0.0.0/8, ::1/128, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7]
access: strict
on_busy: refuse
idle_timeout: 0s
shutdown_timeout: 5s
max_vector_bytes: 16384
state_dir: /var/lib/xvc-agent
metrics: { listen: 127.0.0.1:9542 }
cables:
  - name: zcu104-a
    match: { serial: "210249A2B6C1" }
    port: 2600
    priority: 1
    allow: [192.168.10.0/24]
  - name: spare
    match: { usb_path: "1-1.*" }
    port: 2600
    priority: 50
"#);
        assert_eq!(c.listen, "0.0.0.0".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(c.allow, Config::default().allow);
        assert_eq!(c.http.unwrap().listen.port(), 9542);
        assert_eq!(c.cables.len(), 2);
        assert_eq!(c.cables[0].name.as_deref(), Some("zcu104-a"));
        assert_eq!(c.cables[0].port, Some(2600));
        assert_eq!(c.cables[0].priority, 1);
        assert_eq!(c.cables[1].priority, 50);
        assert_eq!(c.cables[1].allow, None);
        assert_eq!(
            c.cables[1].matcher.usb_path.as_ref().map(|g| g.as_str()),
            Some("1-1.*")
        );
    }

    #[test]
    fn every_rule_override() {
        let c = ok(r#"
on_busy: queue
queue_timeout: 10s
idle_timeout: 10m
cables:
  - match: { vid_pid: "0403:6014", product: "FT232H*" }
    profile: hs2
    listen: 192.168.10.1
    access: permissive
    max_frequency: 7.5MHz
    tdo_edge: auto
"#);
        let rule = &c.cables[0];
        assert_eq!(rule.priority, DEFAULT_PRIORITY);
        assert_eq!(rule.profile.as_deref(), Some("hs2"));
        assert_eq!(rule.max_frequency, Some(7_500_000));
        assert_eq!(rule.tdo_edge, Some(TdoEdge::Auto));
        let s = c.cable_settings(Some(rule));
        assert_eq!(s.listen.to_string(), "192.168.10.1");
        assert_eq!(s.access.mode, AccessMode::Permissive);
        assert_eq!(
            s.on_busy,
            crate::xvc::server::OnBusy::Queue(Duration::from_secs(10))
        );
        assert_eq!(s.idle_timeout, Some(Duration::from_secs(600)));
    }

    #[test]
    fn numeric_serials_and_null_values() {
        let c = ok("listen:\ncables:\n  - match: { serial: 123456 }\n");
        assert_eq!(c.listen, Config::default().listen);
        assert_eq!(
            c.cables[0].matcher.serial.as_ref().map(|g| g.as_str()),
            Some("123456")
        );
        assert_eq!(ok("cables:\n").cables, vec![]);
    }

    #[test]
    fn anchors_can_share_allow_lists() {
        let c = ok(r#"
allow: &lab [10.1.0.0/16]
cables:
  - match: { serial: A }
    allow: *lab
"#);
        assert_eq!(c.cables[0].allow.as_ref(), Some(&c.allow));
    }

    #[test]
    fn dump_parses_back_to_the_same_config() {
        let c = ok(r#"
listen: "::1"
ports: 3000
max_cables: 4
preempt: never
allow: [10.0.0.0/8, 127.0.0.1]
access: off
on_busy: queue
queue_timeout: 1500ms
idle_timeout: 1h
max_vector_bytes: 4096
state_dir: /tmp/state
metrics: {}
cables:
  - name: "123"
    match: { serial: "00*", usb_path: "1-[12].4", vid_pid: "0403:6014", product: "yes" }
    port: 2600
    priority: 7
    allow: []
    access: off
    listen: 0.0.0.0
    max_frequency: 458Hz
    tdo_edge: falling
    profile: hs2
"#);
        let yaml = c.to_yaml();
        assert_eq!(
            parse(&yaml, "dump").unwrap_or_else(|e| panic!("{e}\n{yaml}")),
            c
        );
        let d = Config::default();
        assert_eq!(parse(&d.to_yaml(), "dump").unwrap(), d);
    }

    #[test]
    fn reservations_have_a_default_and_a_longest_duration() {
        let d = Config::default().reservations;
        assert_eq!(d.default, Duration::from_secs(4 * 3600));
        assert_eq!(d.max, Duration::from_secs(24 * 3600));
        let c = ok("reservations: { default: 30m, max: 8h }\n");
        assert_eq!(c.reservations.default, Duration::from_secs(1800));
        assert_eq!(c.reservations.max, Duration::from_secs(8 * 3600));
        assert_eq!(parse(&c.to_yaml(), "dump").unwrap(), c);
        let e = errors("reservations: { default: 8h, max: 1h }\n");
        assert_eq!(
            e,
            ["t.yaml:1:15: reservations: default 8h is longer than max 1h"]
        );
        let e = errors("reservations: { max: forever }\n");
        assert!(
            e[0].contains("reservations.max") && e[0].contains("invalid duration"),
            "{e:?}"
        );
        let e = errors("reservations: { default: 0s }\n");
        assert!(e[0].contains("too short"), "{e:?}");
        let e = errors("reservations: { maximum: 1h }\n");
        assert!(e[0].contains("reservations.maximum"), "{e:?}");
        let e = errors("reservations: 4h\n");
        assert!(e[0].contains("a mapping"), "{e:?}");
    }

    #[test]
    fn keepalive_is_a_bound_or_off() {
        assert_eq!(Config::default().keepalive, Some(Duration::from_secs(45)));
        assert_eq!(
            ok("keepalive: 2m\n").keepalive,
            Some(Duration::from_secs(120))
        );
        assert_eq!(ok("keepalive: off\n").keepalive, None);
        let off = ok("keepalive: off\n");
        assert_eq!(parse(&off.to_yaml(), "dump").unwrap(), off);
        let e = errors("keepalive: 2s\n");
        assert!(
            e[0].starts_with("t.yaml:1:12: keepalive: \"2s\" is too short"),
            "{e:?}"
        );
        let e = errors("keepalive: sometimes\n");
        assert!(
            e[0].contains("invalid duration") && e[0].ends_with("or off"),
            "{e:?}"
        );
    }

    #[test]
    fn all_errors_in_one_pass() {
        let e = errors(
            r#"listen: here
ports: 2600-2500
max_cables: -1
preempt: always
allow: [10.0.0.0/33, 10.0.0.0/8]
access: strcit
idle_timeout: 5 minutes
colour: blue
cables:
  - name: a
    match: { serial: "[AB" }
    port: 70000
    prot: 1
  - name: a
    match: {}
  - port: 2700
    profile: hs9
"#,
        );
        let expected = [
            "t.yaml:1:9: listen: invalid address",
            "t.yaml:2:8: ports: empty port pool",
            "t.yaml:3:13: max_cables: -1 is out of range; must be at least 1",
            "t.yaml:4:10: preempt: invalid value \"always\"",
            "t.yaml:5:9: allow[0]: invalid network",
            "t.yaml:6:9: access: invalid value \"strcit\"",
            "t.yaml:7:15: idle_timeout: invalid duration",
            "t.yaml:8:1: colour: unknown key",
            "t.yaml:11:22: cables[0].match.serial: unclosed `[`",
            "t.yaml:12:11: cables[0].port: 70000 is out of range",
            "t.yaml:13:5: cables[0].prot: unknown key; did you mean \"port\"?",
            "t.yaml:14:11: cables[1].name: duplicate cable name \"a\" (first used at line 10)",
            "t.yaml:15:12: cables[1].match: give at least one",
            "t.yaml:16:5: cables[2]: a rule needs `match:`",
            "t.yaml:17:14: cables[2].profile: unknown cable profile \"hs9\"",
        ];
        assert_eq!(e.len(), expected.len(), "{e:#?}");
        for (got, want) in e.iter().zip(expected) {
            assert!(got.starts_with(want), "got {got:?}\nwant {want:?}");
        }
    }

    #[test]
    fn wrong_types() {
        let e = errors(
            "auto_serve: yes\nmax_cables: \"4\"\nallow: 10.0.0.0/8\ncables: {}\nports: [1]\n",
        );
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(e[0].contains("auto_serve: expected true or false, found \"yes\""));
        assert!(e[1].contains("max_cables: expected a whole number, found a string"));
        assert!(e[2].contains("allow: expected a list of networks"));
        assert!(e[3].contains("cables: expected a list of rules, found a mapping"));
        assert!(e[4].contains("ports: expected a single value, found a list"));
    }

    #[test]
    fn fixed_port_inside_the_pool() {
        let e = errors("cables:\n  - match: { serial: A }\n    port: 2550\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("t.yaml:3:11: cables[0].port: port 2550 is inside the pool 2542-2573 (the default `ports:`)"), "{e:?}");
        // Two rules naming one port is fine: a spare standing in for a main cable.
        ok("ports: 3000-3009\ncables:\n  - match: { serial: A }\n    port: 2550\n  - match: { serial: B }\n    port: 2550\n");
    }

    #[test]
    fn duplicate_keys() {
        let e = errors("access: strict\naccess: off\n");
        assert_eq!(
            e,
            ["t.yaml:2:1: access: duplicate key (first given at line 1)"]
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = errors("cables:\n  - match: { serial: A\n  - port: 1\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("t.yaml:"), "{e:?}");
        assert!(e[0].contains("YAML syntax error"), "{e:?}");
    }

    #[test]
    fn unquoted_ipv6_wildcard_gets_a_hint() {
        let e = errors("listen: ::\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("must be quoted"), "{e:?}");
        assert_eq!(ok("listen: \"::\"\n").listen, Config::default().listen);
    }

    #[test]
    fn top_level_must_be_a_mapping() {
        let e = errors("- a\n- b\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("t.yaml:1:1: the config must be a mapping"));
    }

    #[test]
    fn missing_files() {
        let missing = Path::new("/nonexistent/xvc-agent/config.yaml");
        let (config, source) = load_or_default(missing, false).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(source, ConfigSource::BuiltIn);
        let err = load_or_default(missing, true).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err
            .to_string()
            .starts_with("/nonexistent/xvc-agent/config.yaml: cannot read"));
    }

    #[test]
    fn shipped_config_is_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/config.yaml");
        let (config, source) = load_or_default(&path, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(source, ConfigSource::File);
        assert_eq!(config, Config::default());
    }
}
