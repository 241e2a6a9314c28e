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

/// User + system CPU time of a process, in clock ticks (all its threads).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Voluntary context switches of each thread of a process, by thread id.
pub fn voluntary_switches(pid: u32) -> std::collections::HashMap<u64, u64> {
    let mut out = std::collections::HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let dir = task.unwrap().path();
        let Some(tid) = dir.file_name().and_then(|n| n.to_str()?.parse().ok()) else {
            continue;
        };
        if let Ok(text) = std::fs::read_to_string(dir.join("status")) {
            if let Some(n) = text
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                out.insert(tid, n);
            }
        }
    }
    out
}

/// Voluntary context switches between two readings: threads that ended in between count
/// what they did until their last reading, threads that started count all of theirs.
pub fn switches_between(
    before: &std::collections::HashMap<u64, u64>,
    after: &std::collections::HashMap<u64, u64>,
) -> u64 {
    after
        .iter()
        .map(|(tid, n)| n.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum()
}
