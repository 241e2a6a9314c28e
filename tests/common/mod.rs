//! Helpers shared by the integration tests: a minimal blocking XVC client, readiness waits and
//! JTAG vector builders.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A blocking XVC client.
pub struct XvcClient {
    pub stream: TcpStream,
}

impl XvcClient {
    pub fn connect(addr: SocketAddr) -> std::io::Result<XvcClient> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(XvcClient { stream })
    }

    pub fn getinfo(&mut self) -> std::io::Result<String> {
        self.stream.write_all(b"getinfo:")?;
        let mut out = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            if self.stream.read(&mut byte)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            out.push(byte[0]);
            if byte[0] == b'\n' {
                return Ok(String::from_utf8_lossy(&out).into_owned());
            }
        }
    }

    pub fn settck(&mut self, period_ns: u32) -> std::io::Result<u32> {
        let mut msg = b"settck:".to_vec();
        msg.extend_from_slice(&period_ns.to_le_bytes());
        self.stream.write_all(&msg)?;
        let mut reply = [0u8; 4];
        self.stream.read_exact(&mut reply)?;
        Ok(u32::from_le_bytes(reply))
    }

    pub fn shift(&mut self, nbits: u32, tms: &[u8], tdi: &[u8]) -> std::io::Result<Vec<u8>> {
        let n = (nbits as usize).div_ceil(8);
        let mut msg = b"shift:".to_vec();
        msg.extend_from_slice(&nbits.to_le_bytes());
        msg.extend_from_slice(&tms[..n]);
        msg.extend_from_slice(&tdi[..n]);
        self.stream.write_all(&msg)?;
        let mut tdo = vec![0u8; n];
        self.stream.read_exact(&mut tdo)?;
        Ok(tdo)
    }

    /// Resets the TAP, moves to Shift-DR and reads the first 32-bit word (the IDCODE of the
    /// device nearest TDO).
    pub fn read_idcode(&mut self) -> std::io::Result<u32> {
        // Five TMS=1 (Test-Logic-Reset), then 0 1 0 0 to Shift-DR: 9 bits.
        let tms = bits_to_bytes(&[1, 1, 1, 1, 1, 0, 1, 0, 0]);
        self.shift(9, &tms, &[0, 0])?;
        // 32 bits in Shift-DR, leaving on the last bit (Exit1-DR).
        let mut tms = vec![0u8; 4];
        tms[3] = 0x80;
        let tdo = self.shift(32, &tms, &[0xFF; 4])?;
        // Exit1-DR -> Update-DR -> Run-Test/Idle.
        self.shift(2, &[0b01], &[0])?;
        Ok(u32::from_le_bytes([tdo[0], tdo[1], tdo[2], tdo[3]]))
    }

    /// True when the server has closed this connection (EOF within the timeout).
    pub fn sees_eof(&mut self, within: Duration) -> bool {
        let _ = self.stream.set_read_timeout(Some(within));
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0))
            || matches!(self.stream.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
    }
}

/// Packs 0/1 values (bit 0 first) into little-endian bytes.
pub fn bits_to_bytes(bits: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (i, &b) in bits.iter().enumerate() {
        if b != 0 {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    out
}

/// Polls `f` until it returns `Some`, or panics after `timeout` naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until a TCP connection to `addr` is accepted.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) {
    wait_for(&format!("{addr} to accept"), timeout, || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            .ok()
            .map(|_| ())
    });
}

/// Finds `count` consecutive free TCP ports on 127.0.0.1 (for agents given fixed ports),
/// below the ephemeral range: a port in that range may be taken at any moment as the source
/// port of some client connection, even of the test's own probes.
pub fn free_port_range(count: u16) -> u16 {
    let range =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let low: u16 = range
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32768);
    let (from, to) = if low > 12_000 + count {
        (10_000, low - count)
    } else {
        (61_000, 65_000 - count)
    };
    // Tests of one binary run in parallel: never hand out a port twice in this process.
    static TAKEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut taken = TAKEN.lock().unwrap();
    let mut seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
        ^ (taken.len() as u64) << 48;
    'search: for _ in 0..500 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let base = from + (seed % u64::from(to - from)) as u16;
        for p in base..base + count {
            if taken.contains(&p) || std::net::TcpListener::bind(("127.0.0.1", p)).is_err() {
                continue 'search;
            }
        }
        taken.extend(base..base + count);
        return base;
    }
    panic!("no free block of {count} ports below the ephemeral range");
}
