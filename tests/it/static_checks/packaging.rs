//! The packaged files agree with the code: the udev rules cover exactly the cable profile
//! table, the man pages document every command-line flag and configuration key, and the unit,
//! the sysusers file and the udev rules name the same service user.

use clap::CommandFactory;
use std::collections::BTreeSet;
use std::path::Path;
use xvc_agent::cli::Cli;
use xvc_agent::ftdi::identify::boards::BOARDS;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// udev rules

/// One `KEY op "value"` assignment or match of a udev rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    key: String,
    op: String,
    value: String,
}

/// The rules of a udev rules file: comments and blank lines dropped, `\` continuations joined,
/// each rule split into its terms.
fn parse_udev_rules(text: &str) -> Vec<Vec<Term>> {
    let mut joined = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(line);
        joined.push(std::mem::take(&mut pending));
    }
    joined
        .iter()
        .map(|rule| {
            rule.split(',')
                .map(|term| {
                    let term = term.trim();
                    let ops = ["==", "!=", "+=", "-=", ":=", "="];
                    let (at, op) = ops
                        .iter()
                        .filter_map(|op| term.find(op).map(|at| (at, *op)))
                        .min_by_key(|(at, op)| (*at, std::cmp::Reverse(op.len())))
                        .unwrap_or_else(|| panic!("no operator in udev term {term:?}"));
                    let value = term[at + op.len()..].trim();
                    let value = value
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("unquoted value in udev term {term:?}"));
                    Term {
                        key: term[..at].trim().to_string(),
                        op: op.to_string(),
                        value: value.to_string(),
                    }
                })
                .collect()
        })
        .collect()
}

/// (vid, pid, manufacturer) of one device a rule grants access to.
type DeviceKey = (String, String, Option<String>);

fn matched(rule: &[Term], key: &str) -> Option<String> {
    rule.iter()
        .find(|t| t.key == key && t.op == "==")
        .map(|t| t.value.clone())
}

/// The devices the rules give to the service, checking on the way that every rule is a
/// minimal, safe one: USB device nodes only, group xvc-agent, mode 0660.
fn devices_granted(rules: &[Vec<Term>]) -> Result<BTreeSet<DeviceKey>, String> {
    let mut devices = BTreeSet::new();
    for rule in rules {
        for t in rule.iter().filter(|t| t.key == "MODE") {
            let mode = u32::from_str_radix(&t.value, 8)
                .map_err(|_| format!("MODE {:?} is not octal", t.value))?;
            if mode & 0o007 != 0 {
                return Err(format!("MODE {:?} gives access to every user", t.value));
            }
        }
        let group = rule.iter().find(|t| t.key == "GROUP").map(|t| &t.value);
        if group.map(String::as_str) != Some("xvc-agent") {
            return Err(format!("rule without GROUP=\"xvc-agent\": {rule:?}"));
        }
        if rule
            .iter()
            .find(|t| t.key == "MODE")
            .map(|t| t.value.as_str())
            != Some("0660")
        {
            return Err(format!("rule without MODE=\"0660\": {rule:?}"));
        }
        if matched(rule, "SUBSYSTEM").as_deref() != Some("usb")
            || matched(rule, "ENV{DEVTYPE}").as_deref() != Some("usb_device")
        {
            return Err(format!(
                "rule not limited to SUBSYSTEM==\"usb\", ENV{{DEVTYPE}}==\"usb_device\": {rule:?}"
            ));
        }
        let vid = matched(rule, "ATTR{idVendor}").ok_or("rule without ATTR{idVendor}")?;
        let pid = matched(rule, "ATTR{idProduct}").ok_or("rule without ATTR{idProduct}")?;
        devices.insert((vid, pid, matched(rule, "ATTR{manufacturer}")));
    }
    Ok(devices)
}

/// The devices of the board table (served or not: the agent reads every one's EEPROM to tell
/// what it is), in the form the rules name them. A generic profile a rule may name
/// (`digilent-onboard`) is a Digilent FT2232H, which the table has too.
fn profile_devices() -> BTreeSet<DeviceKey> {
    BOARDS
        .iter()
        .map(|b| {
            (
                // Every row is an FTDI chip.
                "0403".to_string(),
                format!("{:04x}", b.chip.pid()),
                Some(b.usb_manufacturer().to_string()),
            )
        })
        .collect()
}

#[test]
fn udev_rules_cover_exactly_the_profile_table() {
    let rules = parse_udev_rules(&read("udev-rules/70-xvc-agent.rules"));
    assert!(!rules.is_empty(), "70-xvc-agent.rules has no rule");
    let granted = devices_granted(&rules).unwrap_or_else(|e| panic!("70-xvc-agent.rules: {e}"));
    let wanted = profile_devices();
    let missing: Vec<_> = wanted.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&wanted).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "udev-rules/70-xvc-agent.rules and ftdi::identify::boards::BOARDS differ:\n  \
         profiles without a rule (vid, pid, manufacturer): {missing:?}\n  \
         rules without a profile: {extra:?}"
    );
}

#[test]
fn udev_rule_checks_catch_drift_and_unsafe_rules() {
    let hs2 = r#"SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ATTR{idVendor}=="0403", \
        ATTR{idProduct}=="6014", ATTR{manufacturer}=="Digilent", GROUP="xvc-agent", MODE="0660""#;
    let parsed = parse_udev_rules(&format!("# comment\n\n{hs2}\n"));
    let granted = devices_granted(&parsed).unwrap();
    assert_eq!(
        granted,
        BTreeSet::from([("0403".into(), "6014".into(), Some("Digilent".into()))])
    );

    // A rule for a device that is not in the table shows up as extra.
    let generic = hs2.replace(r#", ATTR{manufacturer}=="Digilent""#, "");
    let both = devices_granted(&parse_udev_rules(&format!("{hs2}\n{generic}\n"))).unwrap();
    assert_eq!(both.len(), 2);
    assert!(both.contains(&("0403".into(), "6014".into(), None)));

    for (bad, why) in [
        (hs2.replace("0660", "0666"), "every user"),
        (hs2.replace("\"xvc-agent\"", "\"plugdev\""), "GROUP"),
        (hs2.replace("usb_device", "usb_interface"), "usb_device"),
        (hs2.replace(r#"ATTR{idProduct}=="6014", "#, ""), "idProduct"),
    ] {
        let err = devices_granted(&parse_udev_rules(&bad)).unwrap_err();
        assert!(
            err.contains(why),
            "{bad}: error {err:?} does not mention {why}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// man pages

/// Generated roff with the escapes that do not matter for finding a word removed.
fn roff_text(rel: &str) -> String {
    read(rel).replace("\\&", "").replace("\\-", "-")
}

/// Every visible subcommand path and long flag of the command line, e.g. ("run", "--config").
fn cli_surface() -> (BTreeSet<String>, BTreeSet<String>) {
    fn walk(cmd: &clap::Command, subcommands: &mut BTreeSet<String>, flags: &mut BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            if arg.is_hide_set() {
                continue;
            }
            if let Some(long) = arg.get_long() {
                flags.insert(format!("--{long}"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            subcommands.insert(sub.get_name().to_string());
            walk(sub, subcommands, flags);
        }
    }
    let mut cmd = Cli::command();
    cmd.build();
    let (mut subcommands, mut flags) = (BTreeSet::new(), BTreeSet::new());
    walk(&cmd, &mut subcommands, &mut flags);
    (subcommands, flags)
}

#[test]
fn man_page_documents_every_command_and_flag() {
    let (subcommands, flags) = cli_surface();
    assert!(subcommands.contains("run") && flags.contains("--config"));
    for (rel, bold) in [
        ("man/xvc-agent.8", ("\\fB", "\\fR")),
        ("man/xvc-agent.8.scd", ("*", "*")),
    ] {
        let page = if rel.ends_with(".scd") {
            read(rel)
        } else {
            roff_text(rel)
        };
        let missing: Vec<_> = subcommands
            .iter()
            .chain(&flags)
            .filter(|word| !page.contains(&format!("{}{word}{}", bold.0, bold.1)))
            .collect();
        assert!(
            missing.is_empty(),
            "{rel} does not document (in bold) {missing:?}"
        );
    }
}

#[test]
fn completions_subcommand_is_hidden_and_generates_scripts() {
    let (subcommands, _) = cli_surface();
    assert!(!subcommands.contains("completions"));
    let cmd = Cli::command();
    let completions = cmd
        .find_subcommand("completions")
        .expect("hidden completions subcommand");
    assert!(completions.is_hide_set());
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "xvc-agent", &mut out);
        let script = String::from_utf8(out).unwrap();
        assert!(
            script.contains("config") && script.contains("run"),
            "{shell} completion lacks the run command or its flags"
        );
    }
}

#[test]
fn config_page_documents_every_key() {
    let page = roff_text("man/xvc-agent.yaml.5");
    let scd = read("man/xvc-agent.yaml.5.scd");
    // Taken from the key table the parser reads files with, so a new key cannot go
    // undocumented, and an entry's heading gives the key's value as the parser takes it
    // (`*preempt* (_idle_ | _never_)`: the words of the enumeration, in the table's order).
    let keys = xvc_agent::config::key_docs();
    assert!(keys.len() > 20, "{keys:?}");
    let missing: Vec<_> = keys
        .iter()
        .filter(|key| {
            let heading = format!("*{}* ({})", key.name, key.value);
            !page.contains(&format!("\\fB{}\\fR", key.name))
                || !scd.lines().any(|line| line == heading)
        })
        .map(|key| format!("*{}* ({}): {}", key.name, key.value, key.doc))
        .collect();
    assert!(
        missing.is_empty(),
        "xvc-agent.yaml(5) lacks an entry headed {missing:#?}"
    );
}

#[test]
fn man_pages_are_generated_from_their_sources() {
    for (page, title) in [
        ("man/xvc-agent.8", ".TH \"xvc-agent\" \"8\""),
        ("man/xvc-agent.yaml.5", ".TH \"xvc-agent.yaml\" \"5\""),
    ] {
        let roff = read(page);
        assert!(roff.starts_with(".\\\" Generated by scdoc"), "{page}");
        assert!(roff.contains(title), "{page} lacks {title}");
    }
}

// ---------------------------------------------------------------------------------------------
// systemd unit and service user

/// `Key=value` settings of a unit file, in order, comments and section headers dropped.
fn unit_settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn unit_runs_the_agent_as_its_user_with_usb_and_udev_access() {
    let settings = unit_settings(&read("packaging/xvc-agent.service"));
    let get = |key: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(get("Type"), ["notify"]);
    // No ExecStartPre check: systemd applies RestartPreventExitStatus= to the main process
    // only, so a check-config exiting 78 there was restarted until the start limit; `run`
    // validates the file itself and exits 78.
    assert!(get("ExecStartPre").is_empty(), "{:?}", get("ExecStartPre"));
    assert_eq!(get("RestartPreventExitStatus"), ["78"]);
    assert_eq!(get("ExecStart"), ["/usr/bin/xvc-agent run"]);
    assert_eq!(get("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    assert_eq!(get("User"), ["xvc-agent"]);
    assert_eq!(get("Group"), ["xvc-agent"]);
    assert_eq!(get("DevicePolicy"), ["closed"]);
    assert_eq!(get("DeviceAllow"), ["char-usb_device rw"]);
    assert_eq!(get("CapabilityBoundingSet"), [""]);
    // /dev/bus/usb must stay visible, and the udev monitor needs netlink.
    assert!(get("PrivateDevices").iter().all(|v| *v == "no"));
    let families: Vec<&str> = get("RestrictAddressFamilies")
        .iter()
        .flat_map(|v| v.split_whitespace())
        .collect();
    for family in ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"] {
        assert!(families.contains(&family), "{family} not allowed");
    }
    // The service must be reachable from the network it serves.
    assert!(get("IPAddressDeny").is_empty());
    for dir in [
        "RuntimeDirectory",
        "StateDirectory",
        "ConfigurationDirectory",
    ] {
        assert_eq!(get(dir), ["xvc-agent"], "{dir}");
    }
}

#[test]
fn sysusers_declares_the_user_the_unit_and_the_rules_name() {
    let sysusers = read("packaging/xvc-agent.sysusers");
    let users: Vec<Vec<&str>> = sysusers
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(&users[0][..2], ["u", "xvc-agent"]);
    assert!(sysusers.contains("/usr/sbin/nologin"));
    assert!(read("udev-rules/70-xvc-agent.rules").contains("GROUP=\"xvc-agent\""));
}

/// The group must exist before the udev rules are unpacked (udevd ignores an unknown
/// GROUP= and does not look again while the files are unchanged), so the pre-install
/// scripts create the user from a copy of the sysusers line: it must be the same line.
#[test]
fn pre_install_scripts_create_the_user_the_sysusers_file_declares() {
    let sysusers = read("packaging/xvc-agent.sysusers");
    let line = sysusers
        .lines()
        .find(|l| l.starts_with("u "))
        .expect("a u line in the sysusers file");
    for script in ["packaging/deb/preinst", "packaging/rpm/pre.sh"] {
        let text = read(script);
        assert!(
            text.contains(&format!("'{line}'")),
            "{script} does not create the user with `{line}`"
        );
        assert!(text.contains("--replace=/usr/lib/sysusers.d/xvc-agent.conf"));
    }
    assert!(read("Cargo.toml").contains("pre_install_script = \"packaging/rpm/pre.sh\""));
}

#[test]
fn debian_changelog_describes_the_crate_version() {
    let changelog = read("packaging/changelog");
    let first = changelog.lines().next().unwrap_or_default();
    let version = first
        .strip_prefix("xvc-agent (")
        .and_then(|rest| rest.split_once(')'))
        .map(|(v, _)| v)
        .unwrap_or_else(|| panic!("packaging/changelog starts with {first:?}"));
    let upstream = version.rsplit_once('-').map_or(version, |(u, _)| u);
    assert_eq!(
        upstream,
        env!("CARGO_PKG_VERSION"),
        "packaging/changelog needs an entry for the version in Cargo.toml"
    );
}
