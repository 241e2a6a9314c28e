//! Scale and hotplug figures from an optimised build, printed from one run (no assertions):
//! 64 simulated cables served by the agent binary with 16 shifting continuously through
//! BYPASS (RSS, CPU per shifted megabyte, throughput, idle context switches), and the
//! in-process hotplug path (attach → port accepting → first XVC answer; detach → port closed).
//!
//! With `--simulate`, the agent process also runs the FT232H emulator and the JTAG chain
//! model of every cable, so its CPU per megabyte is an upper bound on what the driver alone
//! costs with real cables.

// The kit is the integration tests'; this bench uses a part of it.
#[allow(dead_code, unused_imports)]
#[path = "../tests/kit/mod.rs"]
mod kit;
// The many-cables run this binary and the bench share (kept out of the kit, which the
// integration binary uses whole).
#[path = "../tests/kit/scale.rs"]
mod scale;

use kit::{loopback, port_block, refused, InProcess, XvcClient, IDCODE};
use scale::{run, ScaleRun};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Attach/detach cycles through the supervisor's input queue, as a udev event would arrive.
fn hotplug_latencies(cycles: usize) {
    let p = port_block(1);
    let h = InProcess::simulated(&format!("listen: 127.0.0.1\nports: {p}-{p}\n"), &[]);
    let (mut bound, mut served, mut closed) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..cycles {
        let t0 = Instant::now();
        h.plug(1);
        h.status(); // applied in order: the port is bound when this answers
        bound.push(t0.elapsed());
        let mut c = XvcClient::connect(loopback(p)).unwrap();
        assert_eq!(c.read_idcode().unwrap(), IDCODE);
        served.push(t0.elapsed());
        drop(c);
        let t1 = Instant::now();
        h.unplug(1);
        h.status();
        closed.push(t1.elapsed());
        assert!(refused(p));
    }
    h.stop();
    for v in [&mut bound, &mut served, &mut closed] {
        v.sort_unstable();
    }
    println!("hotplug in-process ({cycles} cycles, emulated HS2 opened and identified each time):");
    for (what, v, target) in [
        ("attach -> port accepting", &bound, None),
        ("attach -> first XVC answer", &served, Some(100.0)),
        ("detach -> port closed", &closed, Some(50.0)),
    ] {
        let p50 = ms(percentile(v, 0.5));
        println!(
            "  {what:<28} p50 {p50:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms{}",
            ms(percentile(v, 0.99)),
            ms(*v.last().unwrap()),
            target.map_or(String::new(), |t| format!(
                "  (p50 / {t} ms target {:.3})",
                p50 / t
            ))
        );
    }
}

fn main() {
    hotplug_latencies(200);
    let figures = run(&ScaleRun {
        cables: 64,
        shifters: 16,
        shift_bytes: 64 * 1024,
        shifting: Duration::from_secs(10),
        idle: Duration::from_secs(10),
    });
    figures.print("release");
}
