//! Many cables at once: the agent binary serving simulated cables, some of them shifting
//! continuously through BYPASS (every reply checked bit for bit), while its memory, CPU time
//! and context switches are read from /proc. Shared by `tests/stress_scale.rs` (assertions,
//! debug build) and `benches/scale.rs` (figures, optimised build).

use crate::kit::{loopback, poll, port_block, XvcClient};
use crate::kit::{Agent, IDCODE, T};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to run.
pub struct ScaleRun {
    pub cables: usize,
    pub shifters: usize,
    /// Bytes per vector of each shift.
    pub shift_bytes: usize,
    pub shifting: Duration,
    pub idle: Duration,
}

/// What was measured.
#[derive(Debug)]
pub struct ScaleFigures {
    pub cables: usize,
    pub shifters: usize,
    pub rss_served_kib: u64,
    pub rss_peak_kib: u64,
    pub threads_served: usize,
    pub threads_shifting: usize,
    pub shifted_bytes: u64,
    pub shifts: u64,
    pub shifting_secs: f64,
    pub cpu_secs_shifting: f64,
    pub idle_secs: f64,
    pub idle_switches: u64,
    pub idle_cpu_secs: f64,
    /// Shifts whose TDO was not TDI delayed by one bit (must be 0).
    pub mismatches: u64,
}

impl ScaleFigures {
    pub fn shifted_mb(&self) -> f64 {
        self.shifted_bytes as f64 / 1e6
    }

    pub fn cpu_ms_per_mb(&self) -> f64 {
        self.cpu_secs_shifting * 1e3 / self.shifted_mb()
    }

    pub fn idle_switches_per_sec(&self) -> f64 {
        self.idle_switches as f64 / self.idle_secs
    }

    pub fn print(&self, build: &str) {
        println!(
            "scale ({build} build): {} simulated cables served, {} shifting continuously",
            self.cables, self.shifters
        );
        println!(
            "  RSS: {:.1} MiB with all served and idle, peak {:.1} MiB while shifting (limit 64 MiB: {:.2} of it)",
            self.rss_served_kib as f64 / 1024.0,
            self.rss_peak_kib as f64 / 1024.0,
            self.rss_peak_kib as f64 / (64.0 * 1024.0)
        );
        println!(
            "  threads: {} served and idle, {} while shifting",
            self.threads_served, self.threads_shifting
        );
        println!(
            "  shifted {:.1} MB of TDI in {} shifts over {:.1} s ({:.2} MB/s together, {:.1} Mbit/s of TCK), every reply bit-exact: {}",
            self.shifted_mb(),
            self.shifts,
            self.shifting_secs,
            self.shifted_mb() / self.shifting_secs,
            self.shifted_mb() * 8.0 / self.shifting_secs,
            self.mismatches == 0
        );
        println!(
            "  agent CPU while shifting: {:.2} s = {:.1} ms per shifted MB",
            self.cpu_secs_shifting,
            self.cpu_ms_per_mb()
        );
        println!(
            "  idle for {:.1} s: {} voluntary context switches ({:.2}/s), {:.2} s of CPU",
            self.idle_secs,
            self.idle_switches,
            self.idle_switches_per_sec(),
            self.idle_cpu_secs
        );
    }
}

/// Test-Logic-Reset, BYPASS in the (6-bit) IR of the single xc7a35t, then Shift-DR.
fn enter_bypass(c: &mut XvcClient) {
    c.shift(5, &[0x1F], &[0]).unwrap();
    c.shift(5, &[0x06], &[0]).unwrap(); // Run-Test/Idle, Select-DR, Select-IR, Capture-IR, Shift-IR
    c.shift(6, &[0x20], &[0x3F]).unwrap(); // IR = 111111, Exit1-IR on the last bit
    c.shift(5, &[0x05], &[0]).unwrap(); // Update-IR, Run-Test/Idle, Select-DR, Capture-DR, Shift-DR
}

/// Shifts pseudo-random TDI through BYPASS until `stop`, checking TDO is TDI one bit late.
/// Returns (bytes shifted, shifts, mismatches).
fn shift_through_bypass(port: u16, nbytes: usize, seed: u64, stop: &AtomicBool) -> (u64, u64, u64) {
    let mut c = XvcClient::connect(loopback(port)).unwrap();
    c.stream.set_read_timeout(Some(T)).unwrap();
    enter_bypass(&mut c);
    let tms = vec![0u8; nbytes];
    let mut tdi = vec![0u8; nbytes];
    let mut expected = vec![0u8; nbytes];
    let mut state = seed | 1;
    // BYPASS captures 0 in Capture-DR: that is the first bit out.
    let mut carry = 0u8;
    let (mut bytes, mut shifts, mut mismatches) = (0u64, 0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        for (t, e) in tdi.iter_mut().zip(expected.iter_mut()) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *t = state as u8;
            *e = (*t << 1) | carry;
            carry = *t >> 7;
        }
        let tdo = c
            .shift((nbytes * 8) as u32, &tms, &tdi)
            .expect("a shifting session failed");
        if tdo != expected {
            mismatches += 1;
        }
        bytes += nbytes as u64;
        shifts += 1;
    }
    (bytes, shifts, mismatches)
}

/// Number of cables the status shows in `state`.
fn count_state(agent: &Agent, state: &str) -> usize {
    agent.status()["cables"]
        .as_array()
        .map_or(0, |cs| cs.iter().filter(|c| c["state"] == state).count())
}

pub fn run(spec: &ScaleRun) -> ScaleFigures {
    let n = spec.cables;
    let p = port_block(n as u16);
    let mut agent = Agent::start(
        &indoc::formatdoc!(
            "
            listen: 127.0.0.1
            ports: {p}-{}
            max_cables: {n}
            ",
            p + n as u16 - 1
        ),
        &["--simulate", &n.to_string()],
    );
    let pid = agent.pid();
    assert_eq!(count_state(&agent, "serving"), n, "all cables served");
    // Every cable answers on its own port.
    for port in p..p + n as u16 {
        let mut c = XvcClient::connect(loopback(port)).unwrap();
        assert_eq!(c.read_idcode().unwrap(), IDCODE, "cable on port {port}");
    }
    poll("every session closed", T, || {
        (count_state(&agent, "serving") == n).then_some(())
    });
    let served = agent.resources();

    let stop = Arc::new(AtomicBool::new(false));
    let ticks0 = cpu_ticks(pid);
    let started = Instant::now();
    let shifters: Vec<_> = (0..spec.shifters)
        .map(|i| {
            let stop = stop.clone();
            let port = p + i as u16;
            let nbytes = spec.shift_bytes;
            std::thread::spawn(move || {
                shift_through_bypass(port, nbytes, 0x9E37_79B9 * (i as u64 + 1), &stop)
            })
        })
        .collect();
    // Sample memory and threads while the shifters run.
    let mut rss_peak = served.rss_kib;
    let mut threads_shifting = 0;
    while started.elapsed() < spec.shifting {
        let r = agent.resources();
        rss_peak = rss_peak.max(r.rss_kib);
        threads_shifting = threads_shifting.max(r.threads);
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let (mut bytes, mut shifts, mut mismatches) = (0, 0, 0);
    for s in shifters {
        let (b, n, m) = s.join().expect("shifter");
        bytes += b;
        shifts += n;
        mismatches += m;
    }
    let shifting_secs = started.elapsed().as_secs_f64();
    let cpu_secs_shifting = (cpu_ticks(pid) - ticks0) as f64 / clock_ticks_per_second() as f64;

    // Idle: every session closed, nothing to do but wait for events.
    poll("the shifting sessions and their threads to end", T, || {
        (count_state(&agent, "serving") == n && agent.resources().threads <= served.threads)
            .then_some(())
    });
    let switches0 = voluntary_switches(pid);
    let idle_ticks0 = cpu_ticks(pid);
    let idle_started = Instant::now();
    std::thread::sleep(spec.idle);
    let idle_switches = switches_between(&switches0, &voluntary_switches(pid));
    let idle_secs = idle_started.elapsed().as_secs_f64();
    let idle_cpu_secs = (cpu_ticks(pid) - idle_ticks0) as f64 / clock_ticks_per_second() as f64;
    assert_eq!(count_state(&agent, "serving"), n, "all still served");
    let (status, _) = agent.terminate();
    assert!(status.success());

    ScaleFigures {
        cables: n,
        shifters: spec.shifters,
        rss_served_kib: served.rss_kib,
        rss_peak_kib: rss_peak,
        threads_served: served.threads,
        threads_shifting,
        shifted_bytes: bytes,
        shifts,
        shifting_secs,
        cpu_secs_shifting,
        idle_secs,
        idle_switches,
        idle_cpu_secs,
        mismatches,
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
