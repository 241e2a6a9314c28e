//! MPSSE path figures, printed from one run (no assertions): encoder+decoder throughput, host
//! turnarounds per XVC shift and wire bytes per payload byte (from the FT232H emulator's
//! counters), and the modeled time to send a 2 MiB bitstream at 30 MHz as a ratio to the TCK
//! limit. The emulator's TCK edges take no time, so that time is modeled rather than measured:
//! `turnarounds × 250 µs + max(bits / TCK, wire bytes / 40 MB/s)`, where 250 µs stands for one
//! host round trip over high-speed USB (a bulk OUT issued while the chip has nothing left to
//! send or execute, see `Counters::turnarounds`), 40 MB/s for the bulk throughput an FT232H
//! sustains, and bits / TCK for the clocking itself. README.md's "Limits and performance"
//! table quotes these figures; `make bench` runs this.

use std::time::{Duration, Instant};
use xvc_agent::ftdi::mpsse::{self, Edge, Encoder, Plan};
use xvc_agent::ftdi::profiles::HS2;
use xvc_agent::ftdi::{FtdiCable, TdoEdge};
use xvc_agent::jtag::Cable;
use xvc_agent::sim::ft232h::Ft232h;
use xvc_agent::sim::JtagChain;

const TURNAROUND: f64 = 250e-6;
const TCK_HZ: f64 = 30e6;
const USB_BYTES_PER_S: f64 = 40e6;

fn pseudo_random(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// Encode + decode of TMS-0 payloads, MB of payload per second on one core.
fn codec_throughput(payload: usize) -> f64 {
    let tdi = pseudo_random(payload, 1);
    let tms = vec![0u8; payload];
    let mut enc = Encoder::new(Edge::Rising);
    enc.set_tms_pin(false);
    let mut out = Vec::with_capacity(payload + 64);
    let mut plan = Plan::default();
    enc.encode((payload * 8) as u32, &tms, &tdi, &mut out, &mut plan);
    // The reply a chip would send: the TDO bytes (here the TDI echoed) and the echo guard.
    let mut reply = tdi.clone();
    reply.extend_from_slice(&[0xFA, 0xAA]);
    let mut tdo = vec![0u8; payload];
    let mut bytes = 0usize;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(600) {
        out.clear();
        enc.encode((payload * 8) as u32, &tms, &tdi, &mut out, &mut plan);
        mpsse::decode(&plan, &reply, &mut tdo).expect("decode");
        bytes += payload;
    }
    std::hint::black_box(&tdo);
    bytes as f64 / t0.elapsed().as_secs_f64() / 1e6
}

fn open_cable() -> (Ft232h, FtdiCable<Ft232h>) {
    let chip = Ft232h::hs2(JtagChain::xc7a35t());
    let mut cable = FtdiCable::open(chip.clone(), &HS2, TdoEdge::Rising).expect("open");
    // Test-Logic-Reset, then Run-Test/Idle with the TMS pin low.
    let mut tdo = [0u8; 1];
    cable.shift(6, &[0x1F], &[0], &mut tdo).expect("reset");
    (chip, cable)
}

struct Run {
    shifts: u64,
    turnarounds: u64,
    wire_out: u64,
    payload_bytes: u64,
    wall: Duration,
}

/// Sends `total` payload bytes of TMS-0 data in shifts of `shift_bytes`.
fn stream(total: usize, shift_bytes: usize) -> Run {
    let sizes: Vec<usize> = (0..total)
        .step_by(shift_bytes)
        .map(|sent| shift_bytes.min(total - sent))
        .collect();
    stream_sizes(&sizes)
}

/// Sends TMS-0 data in shifts of the given sizes (bytes).
fn stream_sizes(sizes: &[usize]) -> Run {
    let (chip, mut cable) = open_cable();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let tdi = pseudo_random(largest, 3);
    let tms = vec![0u8; largest];
    let mut tdo = vec![0u8; largest];
    chip.reset_counters();
    let t0 = Instant::now();
    for &n in sizes {
        cable
            .shift((n * 8) as u32, &tms[..n], &tdi[..n], &mut tdo[..n])
            .expect("shift");
    }
    let wall = t0.elapsed();
    let c = chip.counters();
    Run {
        shifts: sizes.len() as u64,
        turnarounds: c.turnarounds,
        wire_out: c.bytes_out,
        payload_bytes: sizes.iter().sum::<usize>() as u64,
        wall,
    }
}

/// The shifts openFPGALoader makes of a `total`-byte SRAM load through a server advertising
/// `n`: bursts of a hundredth of the file (its progress bar), each cut into vectors of at
/// most n/2 bytes.
fn openfpgaloader_shifts(total: usize, n: usize) -> Vec<usize> {
    let burst = total / 100;
    let mut sizes = Vec::new();
    let mut at = 0;
    while at < total {
        let mut left = burst.min(total - at);
        at += left;
        while left > 0 {
            let k = left.min(n / 2);
            sizes.push(k);
            left -= k;
        }
    }
    sizes
}

/// The modeled time of `run` at 30 MHz (see the module documentation), as a ratio to the
/// TCK limit of its payload.
fn modeled_ratio(run: &Run) -> (f64, f64) {
    let bits = (run.payload_bytes * 8) as f64;
    let limit = bits / TCK_HZ;
    let modeled = run.turnarounds as f64 * TURNAROUND
        + (bits / TCK_HZ).max(run.wire_out as f64 / USB_BYTES_PER_S);
    (modeled, modeled / limit)
}

fn small_shift_latency() -> (Duration, Duration) {
    let (_chip, mut cable) = open_cable();
    let mut tdo = [0u8; 8];
    let mut samples: Vec<Duration> = (0..5000)
        .map(|_| {
            let t = Instant::now();
            cable
                .shift(64, &[0; 8], &[0xA5; 8], &mut tdo)
                .expect("shift");
            t.elapsed()
        })
        .collect();
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

fn main() {
    println!("== MPSSE encoder + decoder (TMS-0 payloads, one core)");
    for size in [4 << 10, 64 << 10, 1 << 20] {
        println!(
            "  {:>8} B per shift: {:>8.0} MB/s  (target >= 1000)",
            size,
            codec_throughput(size)
        );
    }

    println!("== Host turnarounds and wire bytes (emulated FT232H, TMS-0 shifts)");
    for size in [8, 512, 4 << 10, 64 << 10, 1 << 20] {
        let r = stream((2 << 20).max(size * 16).min(8 << 20), size);
        println!(
            "  {:>8} B per shift: {:.3} turnarounds/shift, wire {:.5} B per payload byte, {:>7.1} MB/s through the emulator",
            size,
            r.turnarounds as f64 / r.shifts as f64,
            r.wire_out as f64 / r.payload_bytes as f64,
            r.payload_bytes as f64 / r.wall.as_secs_f64() / 1e6,
        );
    }

    println!(
        "== Modeled 2 MiB bitstream at 30 MHz: turnarounds x 250 us + max(bits/TCK, wire/40 MB/s)"
    );
    let total = 2 << 20;
    let limit = (total * 8) as f64 / TCK_HZ;
    for shift in [
        1 << 20,
        256 << 10,
        64 << 10,
        32 << 10,
        16 << 10,
        8 << 10,
        4 << 10,
    ] {
        let r = stream(total, shift);
        let (modeled, ratio) = modeled_ratio(&r);
        println!(
            "  {:>8} B shifts: {:>4} turnarounds, {:.3} s vs TCK limit {:.3} s -> ratio {:.3} (target <= 1.10)",
            shift, r.turnarounds, modeled, limit, ratio
        );
    }

    let n = xvc_agent::xvc::DEFAULT_MAX_VECTOR_BYTES;
    println!("== The same 2 MiB with the default vector limit N = {n}, as each client splits it");
    let clients = [
        (
            "openFPGALoader (file/100 bursts, N/2 per vector)",
            openfpgaloader_shifts(total, n),
        ),
        (
            "Vivado, OpenOCD (N/2 per vector)",
            vec![n / 2; total / (n / 2)],
        ),
        ("probe-rs (N per vector)", vec![n; total / n]),
    ];
    for (client, sizes) in clients {
        let r = stream_sizes(&sizes);
        let (modeled, ratio) = modeled_ratio(&r);
        println!(
            "  {client}: {} shifts, {} turnarounds, {:.3} s -> ratio {:.3}",
            r.shifts, r.turnarounds, modeled, ratio
        );
    }

    let (p50, p99) = small_shift_latency();
    println!(
        "== 64-bit shift through FtdiCable + emulator (no TCP): p50 {:.1} us, p99 {:.1} us",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
}
