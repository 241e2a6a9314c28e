//! The fuzz targets' bodies: what is checked for any input, shared by the coverage-guided
//! targets in `fuzz_targets/` (`cargo fuzz`, `make fuzz`) and by the randomized run in
//! `tests/fuzz.rs` that `make test` runs on the stable toolchain.
//!
//! Each body takes raw bytes, derives its input from them, and panics when a property fails.
//! This file uses only `xvc_agent`, `bytes` and `std`, so the test harness can include it.

use bytes::BytesMut;
use xvc_agent::ftdi::mpsse::{self, DecodeError, Edge, Encoder, Plan};
use xvc_agent::jtag::bytes_for_bits;
use xvc_agent::xvc::codec::{self, Command, Decoded};

/// Reads bytes off the front of the fuzz input; past its end everything is zero.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    fn rest(&mut self) -> &[u8] {
        std::mem::take(&mut self.0)
    }
}

/// XVC codec over an arbitrary byte stream cut into arbitrary chunks.
///
/// Never panics; asks for more only when it needs more, and never for more than one maximal
/// command; keeps its buffer below one maximal command plus one chunk; a decoded command
/// re-encodes to exactly the bytes it consumed; a rejected stream leaves the buffer as it was.
pub fn xvc_codec(data: &[u8]) {
    let mut input = Input(data);
    let limit = 1 + usize::from(input.byte()) * 4; // vectors of 1..=1021 bytes
    let chunk_sizes: Vec<usize> = input
        .bytes(4)
        .into_iter()
        .map(|b| 1 + usize::from(b))
        .collect();
    let stream = input.rest();
    let max_command = b"shift:".len() + 4 + 2 * limit;
    let mut buf = BytesMut::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let n = chunk_sizes[i % chunk_sizes.len()].min(rest.len());
        i += 1;
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            let before = buf.clone();
            match codec::decode(&mut buf, limit) {
                Ok(Decoded::Command(cmd)) => {
                    let consumed = before.len() - buf.len();
                    assert_eq!(
                        codec::encode(&cmd),
                        &before[..consumed],
                        "{cmd:?} does not re-encode to its bytes"
                    );
                    assert_eq!(
                        &before[consumed..],
                        &buf[..],
                        "bytes after the command changed"
                    );
                    if let Command::Shift { nbits, vectors } = &cmd {
                        let bytes = bytes_for_bits(*nbits);
                        assert!(
                            bytes <= limit,
                            "{nbits} bits accepted over a {limit}-byte limit"
                        );
                        assert_eq!(vectors.len(), 2 * bytes);
                    }
                }
                Ok(Decoded::Incomplete { needed }) => {
                    assert!(
                        needed > buf.len(),
                        "asked for {needed} with {} buffered",
                        buf.len()
                    );
                    assert!(
                        needed <= max_command,
                        "asked for {needed} over {max_command}"
                    );
                    break;
                }
                Err(_) => {
                    assert_eq!(buf, before, "a rejected stream changed the buffer");
                    return;
                }
            }
        }
        assert!(buf.len() < max_command, "buffer grew to {}", buf.len());
    }
}

/// MPSSE reply decoder: plans from arbitrary shifts (any TMS/TDI, edge, guard, carried TMS
/// level), replies of arbitrary bytes and length, TDO buffers of arbitrary size.
///
/// Never panics; a reply of the wrong length or a TDO buffer too small is an error, not a
/// read out of bounds; with a reply of the right length and a good guard it decodes, and the
/// TDO padding bits above `nbits` are zero.
pub fn mpsse_reply(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.byte();
    let edge = if flags & 1 == 0 {
        Edge::Rising
    } else {
        Edge::Falling
    };
    let mut enc = Encoder::new(edge);
    enc.set_echo_guard(flags & 2 != 0);
    enc.set_tms_pin(flags & 4 != 0);
    let shifts = 1 + usize::from(flags >> 5);
    let mut out = Vec::new();
    let mut plan = Plan::default();
    for _ in 0..shifts {
        let nbits = u32::from(input.u16() % 4096);
        let n = bytes_for_bits(nbits);
        let tms = input.bytes(n);
        let tdi = input.bytes(n);
        out.clear();
        enc.encode(nbits, &tms, &tdi, &mut out, &mut plan);
        assert_eq!(plan.nbits(), nbits as usize);

        // An arbitrary reply, of arbitrary length, into an arbitrary TDO buffer.
        let len_choice = input.byte();
        let reply_len = match len_choice % 4 {
            0 => plan.reply_len(),
            1 => plan
                .reply_len()
                .saturating_sub(1 + usize::from(len_choice >> 2)),
            2 => plan.reply_len() + 1 + usize::from(len_choice >> 2),
            _ => usize::from(input.u16()),
        };
        let mut reply = input.bytes(reply_len);
        if flags & 8 != 0 && reply.len() >= 2 && reply_len == plan.reply_len() {
            let end = reply.len();
            reply[end - 2..].copy_from_slice(&[0xFA, 0xAA]);
        }
        let tdo_len = match input.byte() % 3 {
            0 => n,
            1 => n.saturating_sub(1),
            _ => n + 3,
        };
        let mut tdo = vec![0xA5u8; tdo_len];
        match mpsse::decode(&plan, &reply, &mut tdo) {
            Ok(()) => {
                assert_eq!(reply.len(), plan.reply_len());
                assert!(tdo_len >= n);
                if nbits % 8 != 0 {
                    let pad = tdo[n - 1] >> (nbits % 8);
                    assert_eq!(pad, 0, "TDO padding bits set");
                }
            }
            Err(DecodeError::Length { got, want }) => {
                assert_eq!((got, want), (reply.len(), plan.reply_len()));
                assert_ne!(got, want);
            }
            Err(DecodeError::TdoTooSmall { got, .. }) => assert!(got < n),
            Err(DecodeError::Guard { .. }) => assert!(reply.len() >= 2),
        }
    }
}

/// Config loader: any text (UTF-8 or not, YAML or not) is either a valid config or a list of
/// diagnostics pointing into the text; never a panic. A valid config printed as YAML
/// (`--dump-config`) parses back to the same config.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match xvc_agent::config::parse(&text, "fuzz.yaml") {
        Ok(cfg) => {
            let yaml = cfg.to_yaml();
            match xvc_agent::config::parse(&yaml, "dump.yaml") {
                Ok(again) => assert_eq!(again, cfg, "dump does not parse back the same:\n{yaml}"),
                Err(e) => panic!("dump of a valid config is invalid: {e}\n{yaml}\nfrom:\n{text}"),
            }
        }
        Err(xvc_agent::config::ConfigError::Invalid { errors, .. }) => {
            assert!(!errors.is_empty(), "invalid without a diagnostic");
            // YAML breaks lines at LF, CRLF and a lone CR.
            let breaks = text.matches('\n').count() + text.matches('\r').count()
                - text.matches("\r\n").count();
            let lines = breaks + 2;
            for d in &errors {
                assert!(
                    d.line >= 1 && d.column >= 1,
                    "position {}:{}",
                    d.line,
                    d.column
                );
                assert!(d.line <= lines, "line {} of a {lines}-line text", d.line);
            }
        }
        Err(other) => panic!("parse of text gave {other}"),
    }
}
