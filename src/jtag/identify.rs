//! Reading the IDCODEs on a cable's scan chain, to name the board behind it.
//!
//! After Test-Logic-Reset every device selects IDCODE (32 bits, bit 0 = 1) or BYPASS (1 bit,
//! captured 0), so one Shift-DR pass with TDI held at 1 reads the whole chain: a 0 bit is a
//! bypass-only device, a 1 bit starts a 32-bit IDCODE, and all ones means the end of the
//! chain. The TAP is left in Test-Logic-Reset, where any client expects to find it.

use crate::jtag::{get_bit, Cable, CableError};

/// Longest chain read.
pub const MAX_DEVICES: usize = 16;

/// One device found on the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainEntry {
    /// A device answering with its IDCODE.
    Idcode(u32),
    /// A device with only a bypass register.
    BypassOnly,
}

/// Builds the TMS/TDI vectors of the scan: reset, go to Shift-DR, shift `data_bits`, reset.
/// Returns (nbits, tms, tdi, offset of the first data bit).
fn scan_vectors(data_bits: usize) -> (u32, Vec<u8>, Vec<u8>, usize) {
    // 5 × TMS=1 (Test-Logic-Reset), 0 (Run-Test/Idle), 1 (Select-DR), 0 (Capture-DR),
    // 0 (Shift-DR).
    let head = [1u8, 1, 1, 1, 1, 0, 1, 0, 0];
    let total = head.len() + data_bits + 5;
    let mut tms = vec![0u8; total.div_ceil(8)];
    let tdi = vec![0xFFu8; total.div_ceil(8)];
    let tail_start = head.len() + data_bits;
    for i in 0..total {
        let one = if i < head.len() {
            head[i] == 1
        } else {
            i >= tail_start
        };
        if one {
            tms[i / 8] |= 1 << (i % 8);
        }
    }
    (total as u32, tms, tdi, head.len())
}

/// Splits the bits read in Shift-DR into devices (nearest TDO first).
pub fn parse_chain(tdo: &[u8], offset: usize, data_bits: usize) -> Vec<ChainEntry> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data_bits && out.len() < MAX_DEVICES {
        if !get_bit(tdo, offset + pos) {
            out.push(ChainEntry::BypassOnly);
            pos += 1;
            continue;
        }
        if pos + 32 > data_bits {
            break;
        }
        let word = (0..32).fold(0u32, |w, i| {
            w | (u32::from(get_bit(tdo, offset + pos + i)) << i)
        });
        if word == u32::MAX {
            break;
        }
        out.push(ChainEntry::Idcode(word));
        pos += 32;
    }
    out
}

/// Reads the devices on the chain (nearest TDO first) and leaves the TAP in Test-Logic-Reset.
pub fn read_chain(cable: &mut dyn Cable) -> Result<Vec<ChainEntry>, CableError> {
    let data_bits = (MAX_DEVICES + 1) * 32;
    let (nbits, tms, tdi, offset) = scan_vectors(data_bits);
    let mut tdo = vec![0u8; tms.len()];
    cable.shift(nbits, &tms, &tdi, &mut tdo)?;
    Ok(parse_chain(&tdo, offset, data_bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jtag::TapState;
    use crate::sim::parts::{ARM_DAP, XC7A35T, XC7Z020};
    use crate::sim::{DirectCable, JtagChain};

    #[test]
    fn reads_a_two_device_chain_and_resets() {
        let mut cable = DirectCable::new(JtagChain::new(&[ARM_DAP, XC7Z020, XC7A35T]));
        let chain = read_chain(&mut cable).unwrap();
        assert_eq!(
            chain,
            vec![
                ChainEntry::Idcode(XC7A35T.idcode),
                ChainEntry::Idcode(XC7Z020.idcode),
                ChainEntry::Idcode(ARM_DAP.idcode)
            ]
        );
        assert_eq!(cable.chain().state(), TapState::TestLogicReset);
    }

    #[test]
    fn empty_chain_and_bypass_only_devices() {
        let mut tdo = vec![0xFFu8; 20];
        assert_eq!(parse_chain(&tdo, 0, 64), vec![]);
        // A bypass-only device (0 bit) followed by an IDCODE and the end marker.
        tdo[0] = 0b0000_0110; // bit 0 = 0 (bypass), bit 1 starts the IDCODE 0x...3 (bits 1,2)
        let got = parse_chain(&tdo, 0, 100);
        assert_eq!(got[0], ChainEntry::BypassOnly);
        assert!(matches!(got[1], ChainEntry::Idcode(_)));
    }
}
