//! End to end over real TCP: an XVC client loads a 2 MiB random "bitstream" through the
//! per-cable server, the FTDI driver and the FT232H emulator into the 7-series configuration
//! model, in randomly sized shifts; the model must have received exactly those bits.

use crate::kit::{XvcClient, T};
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Duration;
use xvc_agent::ftdi::profiles::HS2;
use xvc_agent::ftdi::{FtdiCable, TdoEdge};
use xvc_agent::sim::ft232h::Ft232h;
use xvc_agent::sim::parts::{series7, XC7A35T};
use xvc_agent::sim::series7::write_packets;
use xvc_agent::sim::JtagChain;
use xvc_agent::xvc::server::{CableServer, ServerSettings};

/// From Run-Test/Idle: loads a 6-bit instruction, back to Run-Test/Idle; returns the captured
/// IR value.
fn load_ir(c: &mut XvcClient, instr: u64) -> u64 {
    let mut seq = vec![(true, false), (true, false), (false, false), (false, false)];
    seq.extend((0..6).map(|i| (i == 5, instr >> i & 1 != 0)));
    seq.extend([(true, false), (false, false)]);
    let out = c.bits(&seq).unwrap();
    (0..6).fold(0, |acc, i| acc | u64::from(out[4 + i]) << i)
}

/// Bits `off..off + n` of `src` as a fresh little-endian vector.
fn bit_slice(src: &[u8], off: usize, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n.div_ceil(8)];
    if off % 8 == 0 {
        out.copy_from_slice(&src[off / 8..off / 8 + n.div_ceil(8)]);
        if n % 8 != 0 {
            *out.last_mut().unwrap() &= (1u8 << (n % 8)) - 1;
        }
        return out;
    }
    let sh = off % 8;
    for (j, o) in out.iter_mut().enumerate() {
        let b = off / 8 + j;
        let lo = src[b] >> sh;
        let hi = src.get(b + 1).map_or(0, |x| x << (8 - sh));
        *o = lo | hi;
    }
    if n % 8 != 0 {
        *out.last_mut().unwrap() &= (1u8 << (n % 8)) - 1;
    }
    out
}

fn program(addr: SocketAddr, chip: &Ft232h, payload: &[u8], seed: u64) {
    let mut c = XvcClient::connect(addr).unwrap();
    c.stream.set_read_timeout(Some(T)).unwrap();
    let info = c.getinfo().unwrap();
    assert!(info.as_bytes().starts_with(b"xvcServer_v1.0:"));

    // Test-Logic-Reset, Run-Test/Idle, JPROGRAM, housecleaning clocks, CFG_IN.
    c.tms_path(&[true, true, true, true, true, false]).unwrap();
    let cap = load_ir(&mut c, series7::JPROGRAM);
    assert_eq!(cap & 0b11, 0b01);
    c.tms_path(&[false; 100]).unwrap();
    let cap = load_ir(&mut c, series7::CFG_IN);
    assert_ne!(cap & series7::CAPTURE_INIT, 0, "INIT after housecleaning");
    c.tms_path(&[true, false, false]).unwrap(); // Shift-DR

    let total = payload.len() * 8;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let before = chip.counters();
    let mut off = 0;
    let mut shifts = 0u64;
    while off < total {
        let size = if rng.gen_ratio(1, 4) {
            rng.gen_range(1..=64)
        } else {
            rng.gen_range(1..=(1 << 21))
        };
        let n = size.min(total - off);
        let tdi = bit_slice(payload, off, n);
        let mut tms = vec![0u8; n.div_ceil(8)];
        if off + n == total {
            tms[(n - 1) / 8] |= 1 << ((n - 1) % 8); // last bit leaves to Exit1-DR
        }
        c.shift(n as u32, &tms, &tdi).unwrap();
        off += n;
        shifts += 1;
    }
    let after = chip.counters();
    assert_eq!(
        after.turnarounds - before.turnarounds,
        shifts,
        "one host turnaround per XVC shift"
    );
    c.tms_path(&[true, false]).unwrap(); // Update-DR, Run-Test/Idle

    load_ir(&mut c, series7::JSTART);
    c.tms_path(&[false; 32]).unwrap();
    let cap = load_ir(&mut c, series7::BYPASS);
    assert_ne!(cap & series7::CAPTURE_DONE, 0, "DONE after JSTART");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_mib_bitstream_arrives_bit_exact() {
    let chip = Ft232h::hs2(JtagChain::xc7a35t());
    let cable = FtdiCable::open(chip.clone(), &HS2, TdoEdge::Rising).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = CableServer::start(
        listener,
        Some(Box::new(cable)),
        ServerSettings {
            // Shifts of up to 256 KiB: a vector limit raised in the configuration.
            max_vector_bytes: 1 << 20,
            ..ServerSettings::new("emulated-hs2")
        },
        None,
    )
    .unwrap();
    let addr = server.local_addr();

    // A well-formed 2 MiB bitstream body around random frame data, shifted MSB first per
    // byte as programmers do; the model records it in that order.
    let mut frames = vec![0u32; (2 << 20) / 4 - 64];
    rand::rngs::StdRng::seed_from_u64(7).fill(&mut frames[..]);
    let body = write_packets(XC7A35T.idcode, &frames);
    let payload: Vec<u8> = body.iter().map(|b| b.reverse_bits()).collect();
    let want: [u8; 32] = Sha256::digest(&body).into();

    let client_chip = chip.clone();
    tokio::task::spawn_blocking(move || program(addr, &client_chip, &payload, 11))
        .await
        .unwrap();

    assert_eq!(chip.with_chain(|c| c.cfg_in_bits()), 8 * body.len() as u64);
    assert_eq!(chip.with_chain(|c| c.cfg_in_sha256()), want);
    assert!(chip.with_chain(|c| c.done()));
    assert_eq!(chip.counters().eeprom_writes, 0);
    assert!(server.shutdown(Duration::from_secs(5)).await.is_some());
}
