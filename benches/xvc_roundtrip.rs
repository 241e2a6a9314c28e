//! XVC over loopback TCP against simulated cables: round-trip time of a 64-bit shift (p50/p99,
//! and as a ratio to a plain TCP echo on the same machine in the same run) and throughput of
//! 1 MiB shifts. Two cables: the bare TAP model (the protocol layer's own cost) and the
//! production path (FTDI driver over the FT232H emulator, zero USB latency). Prints figures;
//! asserts nothing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use xvc_agent::agent::opener::{CableOpener, SimulatedOpener};
use xvc_agent::ftdi::CableOptions;
use xvc_agent::jtag::Cable;
use xvc_agent::sim::{DirectCable, JtagChain};
use xvc_agent::xvc::codec::encode_shift;
use xvc_agent::xvc::server::{CableServer, ServerSettings};

const ROUND_TRIPS: usize = 20_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn time_round_trips(stream: &mut TcpStream, request: &[u8], reply_len: usize) -> Vec<Duration> {
    let mut reply = vec![0u8; reply_len];
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let t = Instant::now();
        stream.write_all(request).unwrap();
        stream.read_exact(&mut reply).unwrap();
        samples.push(t.elapsed());
    }
    samples.sort_unstable();
    samples
}

/// A plain blocking echo server: the floor any TCP request/response server pays here.
fn echo_baseline(request: &[u8], reply_len: usize) -> Vec<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let req_len = request.len();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = vec![0u8; req_len];
        let reply = vec![0u8; reply_len];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&reply).is_err() {
                break;
            }
        }
    });
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_nodelay(true).unwrap();
    let samples = time_round_trips(&mut c, request, reply_len);
    drop(c);
    server.join().unwrap();
    samples
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let request = encode_shift(64, &[0; 8], &[0xA5; 8]);
    let echo = echo_baseline(&request, 8);
    let (e50, e99) = (percentile(&echo, 0.5), percentile(&echo, 0.99));
    println!("64-bit shift round trip over loopback ({ROUND_TRIPS} samples each):");
    println!(
        "  TCP echo (floor)         p50 {:>7.1} us   p99 {:>7.1} us",
        us(e50),
        us(e99)
    );

    let info = xvc_agent::hotplug::simulated::sim_cable(1);
    let hs2 = &xvc_agent::ftdi::profiles::HS2;
    let cables: [(&str, Box<dyn Cable>); 2] = [
        (
            "TAP model",
            Box::new(DirectCable::new(JtagChain::xc7a35t())),
        ),
        (
            "FTDI+FT232H",
            SimulatedOpener::default()
                .open(&info, hs2, &CableOptions::default())
                .unwrap(),
        ),
    ];
    let mut throughput = Vec::new();
    for (label, cable) in cables {
        let server = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            CableServer::start(listener, Some(cable), ServerSettings::new("bench"), None).unwrap()
        });
        let mut c = TcpStream::connect(server.local_addr()).unwrap();
        c.set_nodelay(true).unwrap();
        let xvc = time_round_trips(&mut c, &request, 8);
        let (x50, x99) = (percentile(&xvc, 0.5), percentile(&xvc, 0.99));
        println!(
            "  xvc-agent, {label:<12} p50 {:>7.1} us   p99 {:>7.1} us   ratio to echo p50 {:.2}, p99 {:.2}; p50 / 50 us target {:.2}",
            us(x50),
            us(x99),
            ratio(x50, e50),
            ratio(x99, e99),
            us(x50) / 50.0
        );

        // 1 MiB vectors (8 Mbit per shift), TMS 0 (a long Shift-DR run).
        let nbytes = 1 << 20;
        let tdi: Vec<u8> = (0..nbytes).map(|i| (i * 31 + 7) as u8).collect();
        let shift = encode_shift((nbytes * 8) as u32, &vec![0; nbytes], &tdi);
        let mut reply = vec![0u8; nbytes];
        let shifts = 8;
        let t = Instant::now();
        for _ in 0..shifts {
            c.write_all(&shift).unwrap();
            c.read_exact(&mut reply).unwrap();
        }
        let mb = (shifts * nbytes) as f64 / 1e6;
        throughput.push((label, mb / t.elapsed().as_secs_f64()));
        drop(c);
        rt.block_on(server.shutdown(Duration::from_secs(5)));
    }
    println!("1 MiB shifts, TDI payload throughput (a 30 MHz HS2 moves 3.75 MB/s):");
    for (label, mbs) in throughput {
        println!(
            "  {label:<12} {mbs:>7.1} MB/s = {:.1}x the TCK limit of a 30 MHz HS2",
            mbs / 3.75
        );
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
