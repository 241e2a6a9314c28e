//! What an FTDI EEPROM image says about the board behind the chip.
//!
//! Exists because USB strings do not tell Digilent's and Xilinx's FTDI devices apart: the
//! identity their own tools rely on is written into the EEPROM's *user area* (the bytes between
//! the chip's configuration words and its string descriptors). Pure: bytes in, facts out. The
//! image is the first 128 words of the EEPROM (a 93C56; a 93C66 holds the same first 128 words),
//! read word by word with the read-only vendor request `0xC0 0x90 wIndex=word`.
//!
//! Layout, as found in public dumps and notes (never in an FTDI or vendor document):
//! - the FTDI header: bytes 2..6 VID and PID, 6..8 bcdDevice (dumps in
//!   konosubakonoakua/jtag_ftdi_dumps: `digilent_hs2.bin` 0403:6014 bcd 9.00,
//!   `digilent_smt1.bin` 0403:6010 7.00, `ft4232h.bin` 0403:6011 8.00); the last word is a
//!   checksum (start 0xAAAA; per word: xor, then rotate left by one), which every dump in that
//!   repository satisfies;
//! - the user area starts at byte 0x20 on an FT232H (`digilent_hs2.bin`) and at 0x1A on an
//!   FT2232H and FT4232H (`digilent_smt1.bin`, `pynqz2_ftdi.bin`, `ft4232h.bin`);
//! - Digilent (user area + n): 0 u16 (1), 2 OEM id (u32 LE 0x356A92C7 in both Digilent dumps;
//!   bvanheu/libsigrok-ad README also lists 0x44696769 and 0x586F656D), 6 product id (u32 LE:
//!   board id bits 20..31, variant 8..19, firmware class 0..7, prjunnamed/prjcombine
//!   `docs/src/digilent/README.md`), 10 user name (16 bytes), 27 product name (28 bytes, NUL
//!   terminated unless full, garbage after the NUL: prjcombine), 56 firmware version (u16). In
//!   absolute FT232H offsets this is libsigrok-ad's table (OEM id 0x22, product id 0x26,
//!   product name 0x3B, firmware 0x58); its user-name offset (0x30) disagrees with the HS2 dump,
//!   where the name starts at 0x2A — the dump wins;
//! - Xilinx `program_ftdi` (user area + n): 0 u32 LE firmware id 0x584A000n ("JX" in its high
//!   half; n = 1 TUL, 2 FT232H, 3 FT2232H, 4 FT4232H), then the vendor and the board as
//!   NUL-terminated strings (the board table of Xilinx's FTDI programming Tcl script, which
//!   writes `binary format ia*a* fwid vendor\0 product\0` as the user area; dumps
//!   `pynqz2_ftdi.bin` "Xilinx"/"TUL", `ft4232h.bin` "Xilinx"/"HW-U1-VCU1525 FT4232H").

use thiserror::Error;

use crate::ftdi::chip;

/// Bytes of EEPROM image the decoder needs: 128 words.
pub const IMAGE_LEN: usize = 256;

/// Digilent's OEM id, as found in the HS2 and SMT1 dumps.
pub const DIGILENT_OEM_ID: u32 = 0x356A_92C7;
/// Other OEM ids bvanheu/libsigrok-ad lists as valid for the same layout.
const OTHER_DIGILENT_OEM_IDS: [u32; 2] = [0x4469_6769, 0x586F_656D];
/// High half of a Xilinx `program_ftdi` firmware id: "JX".
const XILINX_SIGNATURE: u16 = 0x584A;

/// Which FTDI high-speed chip a device is (from its USB product id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chip {
    Ft232h,
    Ft2232h,
    Ft4232h,
}

impl Chip {
    /// The chip behind FTDI product id `pid`, if it is one of the three.
    pub fn from_pid(pid: u16) -> Option<Chip> {
        match pid {
            chip::PID_FT232H => Some(Chip::Ft232h),
            chip::PID_FT2232H => Some(Chip::Ft2232h),
            chip::PID_FT4232H => Some(Chip::Ft4232h),
            _ => None,
        }
    }

    pub fn pid(self) -> u16 {
        match self {
            Chip::Ft232h => chip::PID_FT232H,
            Chip::Ft2232h => chip::PID_FT2232H,
            Chip::Ft4232h => chip::PID_FT4232H,
        }
    }

    /// bcdDevice an unmodified chip reports.
    pub fn bcd_device(self) -> u16 {
        match self {
            Chip::Ft232h => chip::BCD_FT232H,
            Chip::Ft2232h => chip::BCD_FT2232H,
            Chip::Ft4232h => chip::BCD_FT4232H,
        }
    }

    /// USB interfaces (channels) the chip has.
    pub fn interfaces(self) -> u8 {
        match self {
            Chip::Ft232h => 1,
            Chip::Ft2232h => 2,
            Chip::Ft4232h => 4,
        }
    }

    /// Whether the MPSSE channels have a high GPIO byte (ACBUS/BCBUS). The FT4232H's do not.
    pub fn has_high_byte(self) -> bool {
        !matches!(self, Chip::Ft4232h)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Chip::Ft232h => "FT232H",
            Chip::Ft2232h => "FT2232H",
            Chip::Ft4232h => "FT4232H",
        }
    }

    /// Byte offset of the EEPROM user area.
    pub fn user_area(self) -> usize {
        match self {
            Chip::Ft232h => 0x20,
            Chip::Ft2232h | Chip::Ft4232h => 0x1A,
        }
    }
}

impl std::fmt::Display for Chip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an EEPROM image cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EepromError {
    #[error("EEPROM image is {0} bytes, {IMAGE_LEN} needed")]
    Short(usize),
    #[error("EEPROM checksum {stored:#06x} does not match the content ({computed:#06x}): blank or not an FTDI image")]
    Checksum { stored: u16, computed: u16 },
    #[error("EEPROM describes {vid:04x}:{pid:04x}, the device is {want_vid:04x}:{want_pid:04x}")]
    OtherDevice {
        vid: u16,
        pid: u16,
        want_vid: u16,
        want_pid: u16,
    },
}

/// A Digilent identity block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigilentInfo {
    pub oem_id: u32,
    /// Board id (bits 20..31), variant (8..19), firmware class (0..7).
    pub product_id: u32,
    pub product_name: String,
    pub user_name: String,
    pub firmware_version: u16,
}

impl DigilentInfo {
    /// The firmware class: devices with one class have the same control wiring (prjcombine).
    pub fn firmware_class(&self) -> u8 {
        self.product_id as u8
    }

    pub fn board_id(&self) -> u16 {
        (self.product_id >> 20) as u16
    }

    pub fn variant(&self) -> u16 {
        ((self.product_id >> 8) & 0xFFF) as u16
    }

    /// The product name without the "Digilent " every name starts with.
    pub fn short_name(&self) -> &str {
        self.product_name
            .strip_prefix("Digilent ")
            .unwrap_or(&self.product_name)
    }
}

/// A Xilinx `program_ftdi` identity block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XilinxInfo {
    /// The low half of the firmware id (1..4).
    pub code: u16,
    pub vendor: String,
    pub board: String,
}

/// What the user area holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserArea {
    Digilent(DigilentInfo),
    Xilinx(XilinxInfo),
    /// A valid image with neither identity (a generic FTDI product, or a blank user area).
    Neither,
}

/// The checksum FTDI chips verify: over every word but the last.
pub fn checksum(image: &[u8]) -> u16 {
    let words = image.len() / 2;
    (0..words.saturating_sub(1)).fold(0xAAAA_u16, |sum, i| {
        (sum ^ word(image, 2 * i)).rotate_left(1)
    })
}

/// Decodes the user area of `image`, the EEPROM of a `chip` at `vid:pid`.
pub fn decode(chip: Chip, vid: u16, pid: u16, image: &[u8]) -> Result<UserArea, EepromError> {
    if image.len() < IMAGE_LEN {
        return Err(EepromError::Short(image.len()));
    }
    let image = &image[..IMAGE_LEN];
    let stored = word(image, IMAGE_LEN - 2);
    let computed = checksum(image);
    if stored != computed {
        return Err(EepromError::Checksum { stored, computed });
    }
    let (evid, epid) = (word(image, 2), word(image, 4));
    if (evid, epid) != (vid, pid) {
        return Err(EepromError::OtherDevice {
            vid: evid,
            pid: epid,
            want_vid: vid,
            want_pid: pid,
        });
    }
    let ua = chip.user_area();
    let oem_id = dword(image, ua + 2);
    if oem_id == DIGILENT_OEM_ID || OTHER_DIGILENT_OEM_IDS.contains(&oem_id) {
        return Ok(UserArea::Digilent(DigilentInfo {
            oem_id,
            product_id: dword(image, ua + 6),
            user_name: fixed_string(&image[ua + 10..ua + 26]),
            product_name: fixed_string(&image[ua + 27..ua + 55]),
            firmware_version: word(image, ua + 56),
        }));
    }
    let fwid = dword(image, ua);
    if (fwid >> 16) as u16 == XILINX_SIGNATURE {
        let strings = &image[ua + 4..strings_start(image).max(ua + 4)];
        let mut parts = strings.split(|&b| b == 0);
        let vendor = parts.next().map(text).unwrap_or_default();
        let board = parts.next().map(text).unwrap_or_default();
        return Ok(UserArea::Xilinx(XilinxInfo {
            code: fwid as u16,
            vendor,
            board,
        }));
    }
    Ok(UserArea::Neither)
}

/// Where the string descriptors begin (the user area ends there): the manufacturer string's
/// byte address, at 0x0E of a 93C56 image (0xA0 in the HS2 dump, 0x9A in the others).
fn strings_start(image: &[u8]) -> usize {
    match usize::from(image[0x0E]) {
        0 => IMAGE_LEN - 2,
        at => at.min(IMAGE_LEN - 2),
    }
}

fn word(image: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([image[at], image[at + 1]])
}

fn dword(image: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([image[at], image[at + 1], image[at + 2], image[at + 3]])
}

/// A fixed-length field: up to its first NUL (or the whole field), printable ASCII only.
fn fixed_string(field: &[u8]) -> String {
    text(field.split(|&b| b == 0).next().unwrap_or_default())
}

fn text(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

/// Real EEPROM images: test vectors for identification, and what emulated cables answer.
pub mod dumps {
    /// konosubakonoakua/jtag_ftdi_dumps `digilent_hs2.bin` (a JTAG-HS2; its serial string was
    /// edited by the person who dumped it; USB product string "Digilent USB Device").
    pub const HS2: [u8; 256] = hex(concat!(
        "0100030414600009 80fa08000000a012 b228da1a00000000 0000000000005600",
        "0100c7926a355201 9030726f6f740073 3200000000000000 000000446967696c",
        "656e74204a544147 2d48533200000000 0000000000000000 1100000000000000",
        "0000000000000000 0000000000000000 0000000000000000 0000000000000000",
        "0000000000000000 0000480000000000 0000000000000000 0000000000000000",
        "1203440069006700 69006c0065006e00 7400280344006900 670069006c006500",
        "6e00740020005500 5300420020004400 6500760069006300 65001a0330003000",
        "3000300030003000 3000360039003400 3200300002030000 000000000000df5d",
    ));

    /// konosubakonoakua/jtag_ftdi_dumps `digilent_smt1.bin` (a JTAG-SMT1 module's FT2232H;
    /// user name edited by the person who dumped it).
    pub const SMT1: [u8; 256] = hex(concat!(
        "0108030410600007 802f080000009a12 ac34e01a00000000 66000100c7926a35",
        "510180306861636b 6564004700000000 0000000000446967 696c656e74204a54",
        "41472d534d543100 0000000000000000 0000010000000000 0000000000000000",
        "0000000000000000 0000000000000000 0000000000000000 0000000000000000",
        "0000000000000000 0000000000000000 0000000000000000 0000120344006900",
        "670069006c006500 6e00740034034400 6900670069006c00 65006e0074002000",
        "4100640065007000 7400200055005300 4200200044006500 7600690063006500",
        "1a03300030003000 3000300030003000 3000300030003600 390002030000efd6",
    ));

    /// konosubakonoakua/jtag_ftdi_dumps `pynqz2_ftdi.bin` (a TUL PYNQ-Z2; serial "1234-tul").
    pub const PYNQ_Z2: [u8; 256] = hex(concat!(
        "0108030410600007 8032080000009a0e a808b01200000000 560001004a585869",
        "6c696e780054554c 0000000000000000 0000000000000000 0000000000000000",
        "0000000000000000 0000000000000000 0000000000000000 0000000000000000",
        "0000000000000000 0000000000000000 0000000000000000 0000000000000000",
        "0000000000000000 0000000000000000 0000000000000000 00000e0358006900",
        "6c0069006e007800 0803540055004c00 1203310032003300 34002d0074007500",
        "6c00020300000000 0000000000000000 0000000000000000 0000000000000000",
        "0000000000000000 0000000000000000 0000000000000000 000000000000bd8b",
    ));

    /// konosubakonoakua/jtag_ftdi_dumps `ft4232h.bin` (a VCU1525's FT4232H).
    pub const VCU1525: [u8; 256] = hex(concat!(
        "8088030411600008 8032080000009a0e a82ed61a00000000 560004004a585869",
        "6c696e780048572d 55312d5643553135 3235204654343233 3248000000000000",
        "0000000000000000 0000000000000000 0000000000000000 0000000000000000",
        "0000000000000000 0000000000000000 0000000000000000 0000000000000000",
        "0000000000000000 0000000000000000 0000000000000000 00000e0358006900",
        "6c0069006e007800 2e03580069006c00 69006e0078002000 5600430055003100",
        "3500320035002000 4400650076002000 4b00690074001a03 3100320038003000",
        "3900360032003100 7400330034003800 0203000000000000 000000000000e659",
    ));

    /// An Avnet MiniZed's FT2232H as it leaves the factory (serial "1234-oj1"). From
    /// d-hawkins/avnet_minized_tutorial `tutorial/sections/ftdi_eeprom.tex`, figure (a): the
    /// board's own image with only its serial string changed, to "MiniZed1", and the checksum
    /// updated (that figure's checksum verifies). Here the factory serial is put back in the
    /// same eight characters and the checksum computed again.
    pub const MINIZED: [u8; 256] = hex(concat!(
        "0108030410600007 8032080000009a0e a818c01200000000 560003004a584176",
        "6e6574004d696e69 5a65642056310000 0000000000000000 0000000000000000",
        "0000000000000000 0000000000000000 0000000000000000 0000000000000000",
        "0000000000000000 0000000000000000 0000000000000000 0000000000000000",
        "0000000000000000 0000000000000000 0000000000000000 00000e0358006900",
        "6c0069006e007800 18034a0054004100 47002b0053006500 7200690061006c00",
        "1203310032003300 34002d006f006a00 3100020301000000 0000000000000000",
        "0000000000000000 0000000000000000 0000000000000000 0000000000009572",
    ));

    /// Hex digits (spaces ignored) to bytes, at compile time.
    const fn hex(s: &str) -> [u8; 256] {
        let s = s.as_bytes();
        let mut out = [0u8; 256];
        let (mut i, mut n, mut high) = (0, 0, None::<u8>);
        while i < s.len() {
            let c = s[i];
            i += 1;
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => continue,
            };
            match high {
                None => high = Some(v),
                Some(h) => {
                    out[n] = h << 4 | v;
                    n += 1;
                    high = None;
                }
            }
        }
        assert!(n == 256, "a dump is 256 bytes");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dump_has_a_valid_checksum() {
        for image in [
            dumps::HS2,
            dumps::SMT1,
            dumps::PYNQ_Z2,
            dumps::VCU1525,
            dumps::MINIZED,
        ] {
            assert_eq!(checksum(&image), word(&image, IMAGE_LEN - 2));
        }
    }

    #[test]
    fn hs2_dump_decodes_to_the_hs2_product() {
        let UserArea::Digilent(d) = decode(Chip::Ft232h, 0x0403, 0x6014, &dumps::HS2).unwrap()
        else {
            panic!("not a Digilent block");
        };
        assert_eq!(d.oem_id, DIGILENT_OEM_ID);
        assert_eq!(d.product_id, 0x3090_0152);
        assert_eq!(d.firmware_class(), 0x52);
        assert_eq!(d.board_id(), 0x309);
        assert_eq!(d.variant(), 0x001);
        assert_eq!(d.product_name, "Digilent JTAG-HS2");
        assert_eq!(d.short_name(), "JTAG-HS2");
        assert_eq!(d.user_name, "root");
        assert_eq!(d.firmware_version, 0x0011);
    }

    #[test]
    fn smt1_dump_decodes_at_the_ft2232h_offsets() {
        let UserArea::Digilent(d) = decode(Chip::Ft2232h, 0x0403, 0x6010, &dumps::SMT1).unwrap()
        else {
            panic!("not a Digilent block");
        };
        assert_eq!(d.product_id, 0x3080_0151);
        assert_eq!(d.firmware_class(), 0x51);
        assert_eq!(d.product_name, "Digilent JTAG-SMT1");
        assert_eq!(d.user_name, "hacked");
        assert_eq!(d.firmware_version, 0x0001);
    }

    #[test]
    fn xilinx_dumps_decode_vendor_and_board() {
        assert_eq!(
            decode(Chip::Ft2232h, 0x0403, 0x6010, &dumps::PYNQ_Z2),
            Ok(UserArea::Xilinx(XilinxInfo {
                code: 1,
                vendor: "Xilinx".into(),
                board: "TUL".into()
            }))
        );
        assert_eq!(
            decode(Chip::Ft4232h, 0x0403, 0x6011, &dumps::VCU1525),
            Ok(UserArea::Xilinx(XilinxInfo {
                code: 4,
                vendor: "Xilinx".into(),
                board: "HW-U1-VCU1525 FT4232H".into()
            }))
        );
        assert_eq!(
            decode(Chip::Ft2232h, 0x0403, 0x6010, &dumps::MINIZED),
            Ok(UserArea::Xilinx(XilinxInfo {
                code: 3,
                vendor: "Avnet".into(),
                board: "MiniZed V1".into()
            }))
        );
    }

    #[test]
    fn a_blank_short_or_foreign_image_is_refused() {
        assert_eq!(
            decode(Chip::Ft232h, 0x0403, 0x6014, &[0xFF; 64]),
            Err(EepromError::Short(64))
        );
        assert!(matches!(
            decode(Chip::Ft232h, 0x0403, 0x6014, &[0xFF; IMAGE_LEN]),
            Err(EepromError::Checksum { .. })
        ));
        let mut bent = dumps::HS2;
        bent[0x3C] ^= 0x20;
        assert!(matches!(
            decode(Chip::Ft232h, 0x0403, 0x6014, &bent),
            Err(EepromError::Checksum { .. })
        ));
        assert!(matches!(
            decode(Chip::Ft2232h, 0x0403, 0x6010, &dumps::HS2),
            Err(EepromError::OtherDevice { .. })
        ));
    }

    #[test]
    fn chip_facts_follow_the_product_id() {
        for chip in [Chip::Ft232h, Chip::Ft2232h, Chip::Ft4232h] {
            assert_eq!(Chip::from_pid(chip.pid()), Some(chip));
        }
        assert_eq!(Chip::from_pid(0x6001), None);
        assert!(!Chip::Ft4232h.has_high_byte());
        // bcdDevice as the dumps carry it (bytes 6..8).
        assert_eq!(word(&dumps::HS2, 6), Chip::Ft232h.bcd_device());
        assert_eq!(word(&dumps::SMT1, 6), Chip::Ft2232h.bcd_device());
        assert_eq!(word(&dumps::VCU1525, 6), Chip::Ft4232h.bcd_device());
    }
}
