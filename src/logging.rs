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
                    .with(layer.with_syslog_identifier("xvc-agent".into()))
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
