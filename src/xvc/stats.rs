//! Per-cable counters and the shift latency histogram: updated with atomics on the shift path
//! (no lock), read at any time for status and metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    /// Peer outside the allowlist (strict access).
    NotAllowed,
    /// Another client holds the cable.
    Busy,
    /// Waited in the queue longer than allowed.
    QueueTimeout,
    /// The cable failed and is being reopened.
    CableUnavailable,
    /// The cable is reserved and the peer is not among the reservation's addresses.
    Reserved,
}

impl RefuseReason {
    pub(crate) const ALL: [RefuseReason; 5] = [
        RefuseReason::NotAllowed,
        RefuseReason::Busy,
        RefuseReason::QueueTimeout,
        RefuseReason::CableUnavailable,
        RefuseReason::Reserved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefuseReason::NotAllowed => "not_allowed",
            RefuseReason::Busy => "busy",
            RefuseReason::QueueTimeout => "queue_timeout",
            RefuseReason::CableUnavailable => "cable_unavailable",
            RefuseReason::Reserved => "reserved",
        }
    }
}

/// Upper bounds (seconds) of the shift latency histogram buckets: from a short scan on a fast
/// cable to a megabyte at a slow clock.
pub const SHIFT_LATENCY_BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
];

/// A fixed-bucket latency histogram updated with atomics (no lock on the shift path).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Per-bucket counts (not cumulative); the last slot is `+Inf`.
    counts: [AtomicU64; SHIFT_LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    pub(crate) fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = SHIFT_LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(SHIFT_LATENCY_BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket bound (the last is `+Inf`, i.e. the total) and the sum in
    /// seconds, as Prometheus wants them.
    pub(crate) fn snapshot(&self) -> (Vec<u64>, f64) {
        let mut total = 0;
        let cumulative = self
            .counts
            .iter()
            .map(|c| {
                total += c.load(Ordering::Relaxed);
                total
            })
            .collect();
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        (cumulative, sum)
    }
}

/// Counters kept per cable, readable at any time.
#[derive(Debug, Default)]
pub struct CableStats {
    pub sessions: AtomicU64,
    pub shifts: AtomicU64,
    pub bits: AtomicU64,
    /// Refused connections, indexed like [`RefuseReason::ALL`].
    pub refused: [AtomicU64; RefuseReason::ALL.len()],
    pub shift_latency: LatencyHistogram,
}
