//! Log output: readable lines on stderr, or structured entries in the systemd journal.
//!
//! Under systemd, stderr is connected to the journal and `JOURNAL_STREAM` names that stream
//! (`device:inode`); then we log natively to journald so fields such as `CABLE_SERIAL` become
//! journal fields that `journalctl CABLE_SERIAL=…` can filter on.

use std::os::unix::fs::MetadataExt;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// Where logs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogTarget {
    /// journald when stderr is the journal (`JOURNAL_STREAM`), stderr otherwise.
    #[default]
    Auto,
    Stderr,
    Journald,
}

/// True when `JOURNAL_STREAM` names the file our stderr is connected to.
pub fn stderr_is_journal() -> bool {
    let Ok(value) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(m) => m.dev() == dev && m.ino() == ino,
        Err(_) => false,
    }
}

/// Installs the global subscriber. `RUST_LOG` overrides the default level (`info`).
pub fn init(target: LogTarget) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let use_journal = match target {
        LogTarget::Journald => true,
        LogTarget::Stderr => false,
        LogTarget::Auto => stderr_is_journal(),
    };
    if use_journal {
        match tracing_journald::layer() {
            Ok(layer) => {
                let _ = tracing_subscriber::registry()
                    .with(filter)
                    .with(
                        layer
                            .with_syslog_identifier("xvc-agent".into())
                            .with_field_prefix(None),
                    )
                    .try_init();
                return;
            }
            Err(e) => eprintln!("xvc-agent: journald unavailable ({e}), logging to stderr"),
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// The journal fields of one cable (`CABLE_SERIAL`, `CABLE_PATH`, `XVC_PORT`), written by
/// [`cable_log!`] on every line about that cable.
#[derive(Debug, Clone, Copy)]
pub struct CableFields<'a> {
    /// The serial, else the USB path.
    pub serial: &'a str,
    pub usb_path: &'a str,
    /// The port, while it has one.
    pub port: Option<u16>,
}

/// Logs at `$level` with the cable's fields from a [`CableFields`], then the usual tracing
/// fields and message: `cable_log!(info, cable.fields(), message_id = …, "serving on {addr}")`.
macro_rules! cable_log {
    ($level:ident, $fields:expr, $($rest:tt)+) => {{
        let fields: $crate::logging::CableFields<'_> = $fields;
        tracing::$level!(
            cable_serial = %fields.serial,
            cable_path = %fields.usb_path,
            xvc_port = fields.port,
            $($rest)+
        )
    }};
}
pub(crate) use cable_log;

/// Fixed `MESSAGE_ID`s of lifecycle events, so `journalctl MESSAGE_ID=…` finds every event of
/// one kind. Log them as the `message_id` field; cable events also carry `cable_serial`,
/// `cable_path` and `xvc_port`, client events `peer` (journald: `CABLE_SERIAL`, `CABLE_PATH`,
/// `XVC_PORT`, `PEER`).
pub mod message_id {
    pub const CABLE_ATTACHED: &str = "84d05639231d4ea6b64180d8a227e642";
    pub const CABLE_SERVING: &str = "544ad36a04d64aae8cba0df20efe7051";
    pub const CABLE_DETACHED: &str = "e18b6574100c47e191ac26d161ab7a07";
    pub const CABLE_QUEUED: &str = "23d549a82aa04ca5871db8ae6d8eafd9";
    pub const CLIENT_CONNECTED: &str = "413f3ccc56ab42b4ad35654517e7d85f";
    pub const CLIENT_DISCONNECTED: &str = "7b9cc386d05a4181b4d2b66e93c69440";
    pub const CLIENT_REFUSED: &str = "cd4a915799ca49948d5d44d13be1411e";
    pub const USB_ERROR: &str = "363cfe45b8564142b20988c209dd0e5e";
    pub const CABLE_OFFLINE: &str = "6eb7dac57878436aa80774757795d3ca";
    pub const CONFIG_RELOADED: &str = "f8584acc2add4554b61f31ab54a30f44";

    /// Every ID with its event name (for documentation and tests).
    pub const ALL: &[(&str, &str)] = &[
        ("cable attached", CABLE_ATTACHED),
        ("cable serving", CABLE_SERVING),
        ("cable detached", CABLE_DETACHED),
        ("cable queued", CABLE_QUEUED),
        ("client connected", CLIENT_CONNECTED),
        ("client disconnected", CLIENT_DISCONNECTED),
        ("client refused", CLIENT_REFUSED),
        ("USB error", USB_ERROR),
        ("cable offline", CABLE_OFFLINE),
        ("configuration reloaded", CONFIG_RELOADED),
    ];
}

/// The journal field a tracing field becomes (tracing-journald upper-cases names, and we log
/// without its default `F_` prefix).
pub fn journal_field(tracing_field: &str) -> String {
    tracing_field
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_distinct_128_bit_hex() {
        let mut seen = std::collections::HashSet::new();
        for (name, id) in message_id::ALL {
            assert_eq!(id.len(), 32, "{name}");
            assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
            assert!(seen.insert(*id), "{name} reuses an id");
        }
    }

    #[test]
    fn field_names_map_to_the_documented_journal_fields() {
        assert_eq!(journal_field("cable_serial"), "CABLE_SERIAL");
        assert_eq!(journal_field("cable_path"), "CABLE_PATH");
        assert_eq!(journal_field("xvc_port"), "XVC_PORT");
        assert_eq!(journal_field("peer"), "PEER");
        assert_eq!(journal_field("message_id"), "MESSAGE_ID");
    }
}
