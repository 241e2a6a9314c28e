//! The one XVC client of the Rust tests: blocking, over real TCP, built on the crate's own
//! codec (`codec::encode` / `codec::encode_shift`) so that the words it sends are the ones the
//! server parses. Plus the JTAG helpers tests use to walk the TAP with it.

use super::T;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use xvc_agent::jtag::bytes_for_bits;
use xvc_agent::xvc::codec::{self, Command};

/// One connection to an XVC server.
pub struct XvcClient {
    pub stream: TcpStream,
}

impl XvcClient {
    /// Connects (5 s), with a 10 s read timeout and TCP_NODELAY as real clients set it.
    pub fn connect(addr: SocketAddr) -> std::io::Result<XvcClient> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(XvcClient { stream })
    }

    /// Sends `getinfo:` and returns the reply line (with its `\n`).
    pub fn getinfo(&mut self) -> std::io::Result<String> {
        self.stream.write_all(&codec::encode(&Command::GetInfo))?;
        let mut out = Vec::new();
        let mut byte = [0u8; 1];
        while !out.ends_with(b"\n") {
            if self.stream.read(&mut byte)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            out.push(byte[0]);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Asks for a TCK period; returns the period applied.
    pub fn settck(&mut self, period_ns: u32) -> std::io::Result<u32> {
        self.stream
            .write_all(&codec::encode(&Command::SetTck { period_ns }))?;
        let mut reply = [0u8; 4];
        self.stream.read_exact(&mut reply)?;
        Ok(u32::from_le_bytes(reply))
    }

    /// Clocks `nbits` cycles (the first ceil(nbits / 8) bytes of `tms` and `tdi`); returns TDO.
    pub fn shift(&mut self, nbits: u32, tms: &[u8], tdi: &[u8]) -> std::io::Result<Vec<u8>> {
        self.stream
            .write_all(&codec::encode_shift(nbits, tms, tdi))?;
        let mut tdo = vec![0u8; bytes_for_bits(nbits)];
        self.stream.read_exact(&mut tdo)?;
        Ok(tdo)
    }

    /// Clocks (tms, tdi) pairs and returns the TDO bits.
    pub fn bits(&mut self, seq: &[(bool, bool)]) -> std::io::Result<Vec<bool>> {
        let tms: Vec<u8> = seq.iter().map(|&(m, _)| u8::from(m)).collect();
        let tdi: Vec<u8> = seq.iter().map(|&(_, d)| u8::from(d)).collect();
        let tdo = self.shift(seq.len() as u32, &bits_to_bytes(&tms), &bits_to_bytes(&tdi))?;
        Ok((0..seq.len())
            .map(|i| tdo[i / 8] >> (i % 8) & 1 != 0)
            .collect())
    }

    /// Walks the TAP along `path` (TMS values) with TDI held at 0.
    pub fn tms_path(&mut self, path: &[bool]) -> std::io::Result<()> {
        let seq: Vec<_> = path.iter().map(|&m| (m, false)).collect();
        self.bits(&seq).map(|_| ())
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

/// A client that has read the IDCODE on `addr`, retrying until one is served (the port may
/// not be bound yet, or the cable may still be held by the previous session).
pub fn session(addr: SocketAddr) -> XvcClient {
    super::poll(&format!("an XVC session on {addr}"), T, || {
        let mut c = XvcClient::connect(addr).ok()?;
        c.read_idcode().ok().map(|_| c)
    })
}

/// A bare TCP connection for clients that misbehave on purpose (garbage, half commands,
/// crowds): timeouts of [`T`] and TCP_NODELAY, and nothing sent yet.
pub fn raw_stream(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, T).expect("connect");
    s.set_read_timeout(Some(T)).unwrap();
    s.set_nodelay(true).unwrap();
    s
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
