//! 64 simulated cables served by the agent binary at once, 16 of them shifting continuously
//! through BYPASS: memory stays under 64 MiB, every reply is bit-exact, and once the sessions
//! end the agent sleeps (a bounded count of voluntary context switches, not busy polling).
//! The figures are printed; `benches/scale.rs` prints the same from an optimised build.
//!
//! `XVC_SCALE_SHIFT_SECONDS` and `XVC_SCALE_IDLE_SECONDS` lengthen the two phases
//! (`make stress`).

// The kit serves every integration test; this binary uses a part of it.
#[allow(dead_code, unused_imports)]
mod kit;
// The many-cables run this binary and the bench share (kept out of the kit, which the
// integration binary uses whole).
#[path = "kit/scale.rs"]
mod scale;

use kit::env_count;
use scale::{run, ScaleRun};
use std::time::Duration;

#[test]
fn sixty_four_cables_sixteen_shifting() {
    let figures = run(&ScaleRun {
        cables: 64,
        shifters: 16,
        shift_bytes: 16 * 1024,
        shifting: Duration::from_secs(env_count("XVC_SCALE_SHIFT_SECONDS", 3) as u64),
        idle: Duration::from_secs(env_count("XVC_SCALE_IDLE_SECONDS", 10) as u64),
    });
    figures.print("debug");
    assert_eq!(figures.mismatches, 0, "replies not bit-exact");
    assert!(figures.shifts >= 16, "every shifter shifted: {figures:?}");
    assert!(
        figures.rss_peak_kib <= 64 * 1024,
        "RSS {} KiB over 64 MiB",
        figures.rss_peak_kib
    );
    // A count, not a timing: a loop polling even every 100 ms would show about 10 per second
    // per thread; an agent waiting on events shows next to none.
    assert!(
        figures.idle_switches_per_sec() < 50.0,
        "{:.1} voluntary context switches per second while idle",
        figures.idle_switches_per_sec()
    );
}
