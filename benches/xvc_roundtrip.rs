//! XVC over loopback TCP against a zero-latency simulated cable: round-trip time of a 64-bit
//! shift (p50/p99, and as a ratio to a plain TCP echo on the same machine in the same run) and
//! throughput of 1 MiB shifts. Prints figures; asserts nothing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
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
    let server = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        CableServer::start(
            listener,
            Some(Box::new(DirectCable::new(JtagChain::xc7a35t()))),
            ServerSettings::new("bench"),
            None,
        )
        .unwrap()
    });
    let addr = server.local_addr();
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_nodelay(true).unwrap();

    // 64-bit shift staying in Run-Test/Idle: TMS all 0.
    let request = encode_shift(64, &[0; 8], &[0xA5; 8]);
    let xvc = time_round_trips(&mut c, &request, 8);
    let echo = echo_baseline(&request, 8);
    let (x50, x99) = (percentile(&xvc, 0.5), percentile(&xvc, 0.99));
    let (e50, e99) = (percentile(&echo, 0.5), percentile(&echo, 0.99));
    println!("64-bit shift round trip over loopback ({ROUND_TRIPS} samples):");
    println!(
        "  xvc-agent  p50 {:>7.1} us   p99 {:>7.1} us",
        us(x50),
        us(x99)
    );
    println!(
        "  TCP echo   p50 {:>7.1} us   p99 {:>7.1} us",
        us(e50),
        us(e99)
    );
    println!(
        "  ratio xvc/echo p50 {:.2}, p99 {:.2}; p50 / 50 us target {:.2}",
        ratio(x50, e50),
        ratio(x99, e99),
        us(x50) / 50.0
    );

    // 1 MiB vectors (8 Mbit per shift) in Shift-DR-like TMS-0 runs.
    let nbytes = 1 << 20;
    let tdi: Vec<u8> = (0..nbytes).map(|i| (i * 31 + 7) as u8).collect();
    let request = encode_shift((nbytes * 8) as u32, &vec![0; nbytes], &tdi);
    let mut reply = vec![0u8; nbytes];
    let shifts = 16;
    let t = Instant::now();
    for _ in 0..shifts {
        c.write_all(&request).unwrap();
        c.read_exact(&mut reply).unwrap();
    }
    let el = t.elapsed().as_secs_f64();
    let payload_mb = (shifts * nbytes) as f64 / 1e6;
    println!("1 MiB shifts ({shifts} of them) through the bit-level chain model:");
    println!(
        "  {:.1} MB/s of TDI payload = {:.1} Mbit/s of TCK ({:.2}x a 30 MHz HS2)",
        payload_mb / el,
        payload_mb * 8.0 / el,
        payload_mb * 8.0 / el / 30.0
    );
    drop(c);
    rt.block_on(server.shutdown(Duration::from_secs(5)));
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
