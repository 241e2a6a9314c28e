//! Readings of a process's resources from /proc (descriptors, threads, RSS, CPU time, context
//! switches): what the stress tests and the scale bench compare before and after.

use std::path::{Path, PathBuf};

/// What a process holds at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    pub fds: usize,
    pub threads: usize,
    pub rss_kib: u64,
}

impl std::fmt::Display for Resources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} fds, {} threads, RSS {:.1} MiB",
            self.fds,
            self.threads,
            self.rss_kib as f64 / 1024.0
        )
    }
}

/// `/proc/<pid>` or `/proc/self`.
pub fn proc_dir(pid: Option<u32>) -> PathBuf {
    match pid {
        Some(p) => PathBuf::from(format!("/proc/{p}")),
        None => PathBuf::from("/proc/self"),
    }
}

/// A `Key:   value kB` field of /proc/<pid>/status, as its number.
pub fn status_field(dir: &Path, key: &str) -> u64 {
    let text = std::fs::read_to_string(dir.join("status")).expect("read /proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {}", dir.display()))
}

pub fn resources(pid: Option<u32>) -> Resources {
    let dir = proc_dir(pid);
    Resources {
        fds: std::fs::read_dir(dir.join("fd")).expect("read fds").count(),
        threads: status_field(&dir, "Threads") as usize,
        rss_kib: status_field(&dir, "VmRSS"),
    }
}
