//! Log output: readable lines on stderr, or structured entries in the systemd journal.
//!
//! Under systemd, stderr is connected to the journal and `JOURNAL_STREAM` names that stream
//! (`device:inode`); then we log natively to journald so fields such as `CABLE_SERIAL` become
//! journal fields that `journalctl CABLE_SERIAL=…` can filter on.
//!
//! On stderr a line is for a person: colour only on a terminal (and not with `NO_COLOR`), so a
//! file or a pipe gets plain text, and no `message_id` (a 32-digit key only the journal
//! indexes).

use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;
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
pub(crate) fn stderr_is_journal() -> bool {
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
pub(crate) fn init(target: LogTarget) {
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
        .with_ansi(use_colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .fmt_fields(PlainFields)
        .try_init();
}

/// Colour on a terminal unless `NO_COLOR` is set to anything but the empty string
/// (no-color.org).
fn use_colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Fields as `name=value` after the message, without the journal's `message_id`.
struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(
        &self,
        writer: Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: std::fmt::Result,
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.result.is_err() || field.name() == "message_id" {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = match field.name() {
            "message" => write!(self.writer, "{separator}{value:?}"),
            name => write!(
                self.writer,
                "{separator}{}={value:?}",
                name.strip_prefix("r#").unwrap_or(name)
            ),
        };
    }
}

/// The journal fields of one cable (`CABLE_SERIAL`, `CABLE_PATH`, `XVC_PORT`), written by
/// [`cable_log!`] on every line about that cable.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CableFields<'a> {
    /// The cable's identity: its serial (with the channel letter on a multi-channel board),
    /// else its USB path. Logged as `cable_serial` (journal `CABLE_SERIAL`), the field name
    /// operators filter on.
    pub identity: &'a str,
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
            cable_serial = %fields.identity,
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
    pub(crate) const CABLE_ATTACHED: &str = "84d05639231d4ea6b64180d8a227e642";
    pub(crate) const CABLE_IDENTIFIED: &str = "a3060728cc7c4df6b3057fb87ebf896e";
    pub(crate) const CABLE_SERVING: &str = "544ad36a04d64aae8cba0df20efe7051";
    pub(crate) const CABLE_DETACHED: &str = "e18b6574100c47e191ac26d161ab7a07";
    pub(crate) const CABLE_QUEUED: &str = "23d549a82aa04ca5871db8ae6d8eafd9";
    pub(crate) const CLIENT_CONNECTED: &str = "413f3ccc56ab42b4ad35654517e7d85f";
    pub(crate) const CLIENT_DISCONNECTED: &str = "7b9cc386d05a4181b4d2b66e93c69440";
    pub(crate) const CLIENT_REFUSED: &str = "cd4a915799ca49948d5d44d13be1411e";
    pub(crate) const USB_ERROR: &str = "363cfe45b8564142b20988c209dd0e5e";
    pub(crate) const CABLE_OFFLINE: &str = "6eb7dac57878436aa80774757795d3ca";
    pub(crate) const CONFIG_RELOADED: &str = "f8584acc2add4554b61f31ab54a30f44";
    pub(crate) const CABLE_RESERVED: &str = "3345804f9cde47f8bcf975f29b0cfe57";
    pub(crate) const RESERVATION_EXTENDED: &str = "0158999668eb4cb5b693e42bba13ce21";
    pub(crate) const RESERVATION_RELEASED: &str = "c11cb58947254afd9dfbef0271458335";
    pub(crate) const RESERVATION_EXPIRED: &str = "988bff61023440249758fd72b7a57c53";
    pub(crate) const RESERVATION_BROKEN: &str = "86cf87d8251d430babde9895f33c7cfa";
    pub(crate) const RESERVATIONS_DAMAGED: &str = "8b3e4e69d6d14cda95efca0b3b1c5dcc";
}

#[cfg(test)]
mod tests {
    use super::*;
    use message_id::*;

    /// Every ID with its event name (for documentation and tests).
    const ALL: &[(&str, &str)] = &[
        ("cable attached", CABLE_ATTACHED),
        ("cable identified", CABLE_IDENTIFIED),
        ("cable serving", CABLE_SERVING),
        ("cable detached", CABLE_DETACHED),
        ("cable queued", CABLE_QUEUED),
        ("client connected", CLIENT_CONNECTED),
        ("client disconnected", CLIENT_DISCONNECTED),
        ("client refused", CLIENT_REFUSED),
        ("USB error", USB_ERROR),
        ("cable offline", CABLE_OFFLINE),
        ("configuration reloaded", CONFIG_RELOADED),
        ("cable reserved", CABLE_RESERVED),
        ("reservation extended", RESERVATION_EXTENDED),
        ("reservation released", RESERVATION_RELEASED),
        ("reservation expired", RESERVATION_EXPIRED),
        ("reservation broken", RESERVATION_BROKEN),
        ("reservations file damaged", RESERVATIONS_DAMAGED),
    ];

    /// The journal field a tracing field becomes (tracing-journald upper-cases names, and we log
    /// without its default `F_` prefix).
    fn journal_field(tracing_field: &str) -> String {
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

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
    }

    /// What the stderr formatter writes for one event.
    fn plain_line(event: impl FnOnce()) -> String {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || WriteTo(sink.clone()))
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_level(false)
            .fmt_fields(PlainFields)
            .finish();
        tracing::subscriber::with_default(subscriber, event);
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct WriteTo(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for WriteTo {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn stderr_lines_keep_the_cable_fields_and_drop_the_message_id() {
        let fields = CableFields {
            identity: "210249A85F1B",
            usb_path: "1-2.4",
            port: Some(2542),
        };
        let line = plain_line(|| {
            cable_log!(info, fields, peer = %"10.0.0.5:51000",
                message_id = message_id::CLIENT_CONNECTED, "client connected")
        });
        assert_eq!(
            line.trim(),
            "client connected cable_serial=210249A85F1B cable_path=1-2.4 xvc_port=2542 \
             peer=10.0.0.5:51000"
        );
        let without_port = plain_line(|| {
            cable_log!(
                info,
                CableFields {
                    port: None,
                    ..fields
                },
                name = "x",
                "attached"
            )
        });
        assert_eq!(
            without_port.trim(),
            "attached cable_serial=210249A85F1B cable_path=1-2.4 name=\"x\""
        );
    }

    #[test]
    fn message_ids_are_distinct_128_bit_hex() {
        let mut seen = std::collections::HashSet::new();
        for (name, id) in ALL {
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
