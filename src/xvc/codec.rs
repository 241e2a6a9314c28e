//! XVC 1.0 command parsing and reply formatting: pure, streaming, bounded.
//!
//! [`decode`] looks at the bytes received so far and returns the first complete command, asks
//! for more, or rejects the stream. It makes no assumption about how TCP split the bytes: a
//! command may arrive one byte at a time, and one read may hold several pipelined commands.
//! Memory stays bounded because a `shift:` larger than the limit is rejected from its 10-byte
//! header, before its vectors are buffered.

use bytes::{Buf, BytesMut};

const GETINFO: &[u8] = b"getinfo:";
const SETTCK: &[u8] = b"settck:";
const SHIFT: &[u8] = b"shift:";

/// One client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `getinfo:` — asks for the server version and vector limit.
    GetInfo,
    /// `settck:<period ns>` — asks for a TCK period.
    SetTck { period_ns: u32 },
    /// `shift:<nbits><tms><tdi>` — clocks `nbits` cycles. `vectors` holds the TMS vector
    /// followed by the TDI vector, `ceil(nbits / 8)` bytes each.
    Shift { nbits: u32, vectors: BytesMut },
}

impl Command {
    /// TMS and TDI of a shift, split out of its vectors.
    pub(crate) fn shift_vectors(vectors: &[u8]) -> (&[u8], &[u8]) {
        vectors.split_at(vectors.len() / 2)
    }
}

/// Why a byte stream is not valid XVC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The stream starts like the TCF protocol Vivado's `hw_server` speaks to its own agents.
    #[error("received TCF, not XVC: a hw_server was pointed at this port as if it were another hw_server; in Vivado use `open_hw_target -xvc_url <host>:<port>`")]
    TcfNotXvc,
    /// Bytes that begin no known command.
    #[error("unknown command starting with {0:?}")]
    UnknownCommand(String),
    /// A `shift:` with vectors over the advertised limit.
    #[error("shift of {nbits} bits needs {bytes} bytes per vector, over the {limit}-byte limit")]
    VectorTooLarge {
        nbits: u32,
        bytes: usize,
        limit: usize,
    },
}

/// Outcome of looking at the buffered bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A complete command, removed from the buffer.
    Command(Command),
    /// Not enough bytes yet; at least this many bytes in total are needed.
    Incomplete { needed: usize },
}

/// Decodes the first command in `buf`, removing it when complete.
///
/// `max_vector_bytes` bounds each of the TMS and TDI vectors. On error the buffer is left as it
/// was and the connection should be closed.
pub fn decode(buf: &mut BytesMut, max_vector_bytes: usize) -> Result<Decoded, CodecError> {
    if buf.is_empty() {
        return Ok(Decoded::Incomplete { needed: 1 });
    }
    if buf[0] == b'E' {
        return Err(CodecError::TcfNotXvc);
    }
    if let Some(d) = prefix_state(buf, GETINFO) {
        return Ok(match d {
            Prefix::Partial => Decoded::Incomplete {
                needed: GETINFO.len(),
            },
            Prefix::Complete => {
                buf.advance(GETINFO.len());
                Decoded::Command(Command::GetInfo)
            }
        });
    }
    if let Some(d) = prefix_state(buf, SETTCK) {
        let total = SETTCK.len() + 4;
        if matches!(d, Prefix::Partial) || buf.len() < total {
            return Ok(Decoded::Incomplete { needed: total });
        }
        let period_ns = read_u32_le(&buf[SETTCK.len()..]);
        buf.advance(total);
        return Ok(Decoded::Command(Command::SetTck { period_ns }));
    }
    if let Some(d) = prefix_state(buf, SHIFT) {
        let header = SHIFT.len() + 4;
        if matches!(d, Prefix::Partial) || buf.len() < header {
            return Ok(Decoded::Incomplete { needed: header });
        }
        let nbits = read_u32_le(&buf[SHIFT.len()..]);
        let bytes = crate::jtag::bytes_for_bits(nbits);
        if bytes > max_vector_bytes {
            return Err(CodecError::VectorTooLarge {
                nbits,
                bytes,
                limit: max_vector_bytes,
            });
        }
        let total = header + 2 * bytes;
        if buf.len() < total {
            return Ok(Decoded::Incomplete { needed: total });
        }
        buf.advance(header);
        let vectors = buf.split_to(2 * bytes);
        return Ok(Decoded::Command(Command::Shift { nbits, vectors }));
    }
    let shown = &buf[..buf.len().min(16)];
    Err(CodecError::UnknownCommand(
        String::from_utf8_lossy(shown).into_owned(),
    ))
}

enum Prefix {
    Partial,
    Complete,
}

/// Whether `buf` starts with `name` (Complete) or is a strict prefix of it (Partial).
fn prefix_state(buf: &[u8], name: &[u8]) -> Option<Prefix> {
    let n = buf.len().min(name.len());
    if buf[..n] != name[..n] {
        None
    } else if n == name.len() {
        Some(Prefix::Complete)
    } else {
        Some(Prefix::Partial)
    }
}

fn read_u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The `getinfo:` reply: `xvcServer_v1.0:<max vector bytes>\n`.
pub fn getinfo_reply(max_vector_bytes: usize) -> Vec<u8> {
    format!("xvcServer_v1.0:{max_vector_bytes}\n").into_bytes()
}

/// The `settck:` reply: the applied period, u32 little-endian.
pub(crate) fn settck_reply(applied_ns: u32) -> [u8; 4] {
    applied_ns.to_le_bytes()
}

/// Encodes a command as a client would send it (for clients, tests and benchmarks).
pub fn encode(cmd: &Command) -> Vec<u8> {
    match cmd {
        Command::GetInfo => GETINFO.to_vec(),
        Command::SetTck { period_ns } => [SETTCK, &period_ns.to_le_bytes()].concat(),
        Command::Shift { nbits, vectors } => [SHIFT, &nbits.to_le_bytes(), vectors].concat(),
    }
}

/// Encodes a `shift:` from separate TMS and TDI vectors.
pub fn encode_shift(nbits: u32, tms: &[u8], tdi: &[u8]) -> Vec<u8> {
    let n = crate::jtag::bytes_for_bits(nbits);
    let mut out = Vec::with_capacity(SHIFT.len() + 4 + 2 * n);
    out.extend_from_slice(SHIFT);
    out.extend_from_slice(&nbits.to_le_bytes());
    out.extend_from_slice(&tms[..n]);
    out.extend_from_slice(&tdi[..n]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMIT: usize = 1 << 20;

    fn decode_all(chunks: &[&[u8]], limit: usize) -> Result<Vec<Command>, CodecError> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Decoded::Command(c) = decode(&mut buf, limit)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    fn sample_stream() -> (Vec<u8>, Vec<Command>) {
        let cmds = vec![
            Command::GetInfo,
            Command::SetTck { period_ns: 100 },
            Command::Shift {
                nbits: 13,
                vectors: BytesMut::from(&[0xFF, 0x1F, 0x00, 0x0A][..]),
            },
            Command::Shift {
                nbits: 0,
                vectors: BytesMut::new(),
            },
            Command::Shift {
                nbits: 64,
                vectors: BytesMut::from(&[0x55; 16][..]),
            },
        ];
        let bytes = cmds.iter().flat_map(encode).collect();
        (bytes, cmds)
    }

    #[test]
    fn every_split_point_parses_the_same() {
        let (bytes, cmds) = sample_stream();
        for cut in 0..=bytes.len() {
            let got = decode_all(&[&bytes[..cut], &bytes[cut..]], LIMIT).unwrap();
            assert_eq!(got, cmds, "split at {cut}");
        }
    }

    #[test]
    fn byte_at_a_time_and_all_at_once() {
        let (bytes, cmds) = sample_stream();
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode_all(&singles, LIMIT).unwrap(), cmds);
        assert_eq!(decode_all(&[&bytes], LIMIT).unwrap(), cmds);
    }

    #[test]
    fn partial_byte_vectors_split_evenly() {
        let bytes = encode_shift(13, &[0xAB, 0x1C], &[0x12, 0x03]);
        let got = decode_all(&[&bytes], LIMIT).unwrap();
        match &got[..] {
            [Command::Shift { nbits: 13, vectors }] => {
                let (tms, tdi) = Command::shift_vectors(vectors);
                assert_eq!(tms, &[0xAB, 0x1C]);
                assert_eq!(tdi, &[0x12, 0x03]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn incomplete_reports_what_is_needed() {
        let mut buf = BytesMut::from(&b"shift:"[..]);
        assert_eq!(
            decode(&mut buf, LIMIT),
            Ok(Decoded::Incomplete { needed: 10 })
        );
        buf.extend_from_slice(&16u32.to_le_bytes());
        assert_eq!(
            decode(&mut buf, LIMIT),
            Ok(Decoded::Incomplete { needed: 14 })
        );
        let mut buf = BytesMut::from(&b"get"[..]);
        assert_eq!(
            decode(&mut buf, LIMIT),
            Ok(Decoded::Incomplete { needed: 8 })
        );
    }

    #[test]
    fn limit_is_checked_from_the_header() {
        let mut buf = BytesMut::from(&b"shift:"[..]);
        buf.extend_from_slice(&(8 * 1024 + 1u32).to_le_bytes());
        assert_eq!(
            decode(&mut buf, 1024),
            Err(CodecError::VectorTooLarge {
                nbits: 8193,
                bytes: 1025,
                limit: 1024
            })
        );
        let mut buf = BytesMut::from(&b"shift:"[..]);
        buf.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode(&mut buf, LIMIT),
            Err(CodecError::VectorTooLarge { .. })
        ));
        // Exactly at the limit is fine.
        let bytes = encode_shift(8 * 1024, &[0; 1024], &[1; 1024]);
        assert_eq!(decode_all(&[&bytes], 1024).unwrap().len(), 1);
    }

    #[test]
    fn unknown_and_tcf_are_rejected() {
        let mut buf = BytesMut::from(&b"getinfx:"[..]);
        assert!(matches!(
            decode(&mut buf, LIMIT),
            Err(CodecError::UnknownCommand(_))
        ));
        let mut buf = BytesMut::from(&b"E\0Locator\0"[..]);
        assert_eq!(decode(&mut buf, LIMIT), Err(CodecError::TcfNotXvc));
        let mut buf = BytesMut::from(&b"x"[..]);
        assert!(decode(&mut buf, LIMIT).is_err());
    }

    #[test]
    fn replies() {
        assert_eq!(getinfo_reply(1048576), b"xvcServer_v1.0:1048576\n");
        assert_eq!(settck_reply(100), [100, 0, 0, 0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary bytes in arbitrary chunks: never panics, and the buffer never has to hold
        /// more than one maximal command plus one chunk.
        #[test]
        fn arbitrary_streams_are_safe(
            data in proptest::collection::vec(any::<u8>(), 0..2048),
            cuts in proptest::collection::vec(1usize..64, 1..64),
        ) {
            let limit = 64;
            let max_command = SHIFT.len() + 4 + 2 * limit;
            let mut buf = BytesMut::new();
            let mut rest = &data[..];
            let mut cut = cuts.iter().cycle();
            'outer: while !rest.is_empty() {
                let n = (*cut.next().unwrap()).min(rest.len());
                buf.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                loop {
                    match decode(&mut buf, limit) {
                        Ok(Decoded::Command(_)) => {}
                        Ok(Decoded::Incomplete { needed }) => {
                            prop_assert!(needed <= max_command);
                            prop_assert!(buf.len() < needed);
                            break;
                        }
                        Err(_) => break 'outer,
                    }
                }
                prop_assert!(buf.len() < max_command);
            }
        }

        /// Valid command streams survive any chunking.
        #[test]
        fn valid_streams_any_chunking(
            shifts in proptest::collection::vec((0u32..200, any::<u8>()), 1..20),
            cuts in proptest::collection::vec(1usize..40, 1..20),
        ) {
            let cmds: Vec<Command> = shifts.iter().map(|&(nbits, fill)| {
                let n = crate::jtag::bytes_for_bits(nbits);
                Command::Shift { nbits, vectors: BytesMut::from(&vec![fill; 2 * n][..]) }
            }).collect();
            let bytes: Vec<u8> = cmds.iter().flat_map(encode).collect();
            let mut chunks = Vec::new();
            let mut rest = &bytes[..];
            let mut cut = cuts.iter().cycle();
            while !rest.is_empty() {
                let n = (*cut.next().unwrap()).min(rest.len());
                chunks.push(&rest[..n]);
                rest = &rest[n..];
            }
            prop_assert_eq!(decode_all(&chunks, LIMIT).unwrap(), cmds);
        }
    }
}
