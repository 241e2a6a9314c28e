//! Which JTAG an attached FTDI device is, decided the way Vivado decides it: from the identity
//! Digilent and Xilinx write into the EEPROM user area, with the USB strings only as a
//! fallback. Exists because udev strings cannot tell an HS2 from an HS3, an SMT2-NC or an
//! Analog Discovery, nor a channel-A board from a channel-B one, and a wrong guess drives pins
//! against the target (a DPTI FIFO, POR_B/SRST_B).
//!
//! Pure and table-driven: [`identify`] takes the udev facts and the EEPROM bytes (or why they
//! could not be read) and returns a [`Verdict`] — serve with a row of [`boards::BOARDS`], never
//! serve, or ask for a rule — with the evidence that decided it, plus whether the USB serial
//! can be the device's identity. The supervisor and `xvc-agent list` call it once per
//! attached device, with the image [`eeprom_reader`](crate::ftdi::eeprom_reader) read.
//!
//! Order of evidence:
//! 1. not FTDI (VID ≠ 0403) → never; an FTDI chip other than FT232H/FT2232H/FT4232H, or one
//!    whose bcdDevice or interface count is not the chip's (a clone or a reprogrammed chip) →
//!    ask for a rule;
//! 2. a valid EEPROM image (checksum, VID:PID) with a Digilent block: instruments (firmware
//!    class 0x60, a "Discovery" name) → never; else the row whose name prefix is longest, if
//!    its firmware classes (where a source gives them) include the device's and a channel-A
//!    row is not given a class that has a DPTI FIFO; else the firmware class alone when every
//!    row of that class on that chip is wired alike; else ask;
//! 3. a Xilinx `program_ftdi` block: the row whose board-string prefix matches, on its chip;
//!    else ask (a custom board: ADBUS4..7 unknown);
//! 4. no usable EEPROM: strings only. Served only where they are unambiguous: an FT232H saying
//!    "Digilent" / "Digilent Adept USB Device" is an HS2 (unless its serial prefix names
//!    another product); everything else asks for a rule, with the serial prefix as a hint.
//!
//! # Rows built from documentation only, and the disagreements
//! Real EEPROM images back `hs2`, `smt1`, `pynq-z2`, `vcu1525` (konosubakonoakua/jtag_ftdi_dumps)
//! and `minized` (an image published with d-hawkins/avnet_minized_tutorial). Every other row
//! rests on documentation: the firmware classes in
//! prjunnamed/prjcombine, product names as hw_server prints them in public xsct scripts,
//! board strings from Xilinx's FTDI programming script, and the layouts of OpenOCD and
//! openFPGALoader: `hs3`, `zedboard`, `smt2`, `smt2-nc`, `discovery`, `hs1`, `arty`,
//! `basys3`, `nexys4`, `zybo-z7`, `arty-z7`, `cmod-a7`, `genesys-zu`, `eclypse-z7`,
//! `nexys-video`, `genesys2`, `zcu104`, `vck190`, `sp701`, `vcu128`.
//!
//! Where the reference tools disagree, the row drives fewer pins:
//! - Digilent FT2232H boards (SMT1, Arty, Basys 3, Nexys, Zybo Z7, Arty Z7, Cmod A7; also
//!   Nexys Video and Genesys 2 on channel B): openFPGALoader E8/EB + 00/60, OpenOCD 88/8B.
//!   Chosen 88/8B with the high byte left alone.
//! - ZedBoard: openFPGALoader the HS2 layout (ACBUS5 low), OpenOCD the SMT2 layout
//!   (ADBUS5..7, ACBUS0..5 driven), prjcombine the HS3 class. Chosen the HS3 layout.
//! - PYNQ-Z2: openFPGALoader writes ACBUS 08/0B; chosen to leave ACBUS alone.
//! - TDO edge: openFPGALoader samples on the falling edge at ≥ 15 MHz only when the USB product
//!   is "Digilent USB Device"; OpenOCD always on the falling edge for Nexys Video and Genesys 2
//!   (which it runs at 30 MHz). Chosen: `auto` (falling from 15 MHz) for every Digilent FT2232H
//!   row, and for the FT232H cables whose USB product is "Digilent USB Device"; rising for the
//!   Xilinx rows, for which no tool samples on the falling edge.
//! - Cmod S7 (OpenOCD ADBUS7 low, openFPGALoader high) has no row: its EEPROM name and class
//!   were not found; it asks for a rule.
//!
//! Left out for want of a source giving their EEPROM identity or wiring (they ask for a rule):
//! Kria KV260/KR260 (board string not found), Cmod S7, the original Zybo (OpenOCD drives
//! ACBUS4/5 on it, openFPGALoader has no entry), JTAG-SMT3/SMT4, PYNQ-Z1 (its serial prefix is
//! the Arty Z7's; board string not found). FT232H units whose EEPROM says "JTAG-HS1" (seen in
//! hw_server names with HS2 serials: clones) match no name and are served only by their class.

pub mod boards;
pub mod eeprom;

use std::fmt;

use crate::ftdi::chip;
use crate::ftdi::profiles::{Profile, TdoEdge, GENERIC};
use boards::{Action, Board, Key, BOARDS};
use eeprom::{Chip, DigilentInfo, UserArea, XilinxInfo};

/// What udev tells about a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsbFacts<'a> {
    pub vid: u16,
    pub pid: u16,
    pub manufacturer: Option<&'a str>,
    pub product: Option<&'a str>,
    pub serial: Option<&'a str>,
    pub bcd_device: u16,
    /// bNumInterfaces of the active configuration.
    pub interfaces: u8,
}

/// What reading the EEPROM gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EepromRead<'a> {
    /// The first [`eeprom::IMAGE_LEN`] bytes, as read word by word.
    Image(&'a [u8]),
    /// The read failed; why.
    Unreadable(&'a str),
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve with `board`'s wiring; `tdo_edge` is its default TDO edge for this unit.
    Serve {
        board: &'static Board,
        tdo_edge: TdoEdge,
    },
    /// Never drive it (not a JTAG: an instrument, or not an FTDI chip).
    Never,
    /// Do not drive it until a rule names a profile; `hint` is the row the evidence points to,
    /// if any.
    AskForRule { hint: Option<&'static Board> },
}

/// What names the device to rules and leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// Its USB serial.
    Serial,
    /// Its USB port path: it has no serial.
    UsbPathNoSerial,
    /// Its USB port path: its serial is one every unit of its board carries.
    UsbPathFixedSerial,
}

/// The decision, the evidence for it, and how to name the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    pub verdict: Verdict,
    /// Short, human: what decided (for logs, `list`, status).
    pub evidence: String,
    pub identity: Identity,
    /// The name the EEPROM gives the device (Digilent product name, or Xilinx vendor and
    /// board), when it holds one: what Vivado calls it.
    pub eeprom_name: Option<String>,
}

impl Identification {
    /// The served row, if any.
    pub fn board(&self) -> Option<&'static Board> {
        match self.verdict {
            Verdict::Serve { board, .. } => Some(board),
            _ => None,
        }
    }

    /// The served row's profile: what the device is opened with when no rule names one.
    pub fn profile(&self) -> Option<&'static Profile> {
        self.board().and_then(|b| b.wiring()).map(|w| &w.profile)
    }
}

/// Firmware classes whose devices have a DPTI FIFO (prjcombine): on an FT2232H that FIFO is a
/// channel, so a class like these on a channel-A row contradicts the row.
const DPTI_CLASSES: [u8; 5] = [0x55, 0x56, 0x59, 0x60, 0x62];

/// The USB product string of the Digilent units whose TDO openFPGALoader samples on the falling
/// edge at ≥ 15 MHz.
const DIGILENT_USB_DEVICE: &str = "Digilent USB Device";
const DIGILENT_ADEPT: &str = "Digilent Adept USB Device";

/// Serial prefixes (first 6 characters) seen on one product each in public logs and scripts
/// (hw_server names): hints only — clones copy serials, and some prefixes are shared (003017:
/// Arty Z7 and PYNQ-Z1), so those are left out.
const SERIAL_HINTS: &[(&str, &str)] = &[
    ("210249", "hs2"),
    ("210299", "hs3"),
    ("210248", "zedboard"),
    ("210251", "smt2"),
    ("210308", "smt2-nc"),
    ("210321", "discovery"),
    ("210205", "hs1"),
    ("210203", "smt1"),
    ("210319", "arty"),
    ("210183", "basys3"),
    ("210274", "nexys4"),
    ("210292", "nexys4"),
    ("210351", "zybo-z7"),
    ("210328", "cmod-a7"),
    ("210383", "genesys-zu"),
    ("210393", "eclypse-z7"),
    ("210276", "nexys-video"),
    ("200300", "genesys2"),
];

/// Identifies a device from its udev facts and its EEPROM.
pub fn identify(usb: &UsbFacts<'_>, eeprom: EepromRead<'_>) -> Identification {
    // Decoded once, for the decision and for the name shown.
    let said = match (eeprom, Chip::from_pid(usb.pid)) {
        (EepromRead::Image(image), Some(chip)) => eeprom::decode(chip, usb.vid, usb.pid, image)
            .map_err(|e| format!("EEPROM not usable: {e}")),
        // Not a chip the table knows: decide stops before it looks at the EEPROM.
        (EepromRead::Image(_), None) => Err("EEPROM of an unknown chip".into()),
        (EepromRead::Unreadable(why), _) => Err(format!("EEPROM unreadable: {why}")),
    };
    let (verdict, evidence) = decide(usb, &said);
    Identification {
        verdict,
        evidence,
        identity: identity_of(usb),
        eeprom_name: said.ok().and_then(|area| match area {
            UserArea::Digilent(d) => Some(d.product_name).filter(|n| !n.is_empty()),
            UserArea::Xilinx(x) => Some(format!("{} {}", x.vendor, x.board)),
            UserArea::Neither => None,
        }),
    }
}

fn identity_of(usb: &UsbFacts<'_>) -> Identity {
    match usb.serial.map(str::trim) {
        None | Some("") => Identity::UsbPathNoSerial,
        Some(s) if boards::is_fixed_serial(s) => Identity::UsbPathFixedSerial,
        Some(_) => Identity::Serial,
    }
}

/// The decision, from the udev facts and what the EEPROM said (its user area, or why there is
/// none to go by).
fn decide(usb: &UsbFacts<'_>, said: &Result<UserArea, String>) -> (Verdict, String) {
    if usb.vid != chip::VID {
        return (
            Verdict::Never,
            format!("{:04x}:{:04x} is not an FTDI chip", usb.vid, usb.pid),
        );
    }
    let Some(chip) = Chip::from_pid(usb.pid) else {
        return ask(
            None,
            format!(
                "FTDI {:04x}:{:04x} is not an FT232H, FT2232H or FT4232H",
                usb.vid, usb.pid
            ),
        );
    };
    if usb.bcd_device != chip.bcd_device() || usb.interfaces != chip.interfaces() {
        return ask(
            None,
            format!(
                "bcdDevice {:04x} with {} interface(s) is not an {chip} ({:04x}, {}): a clone or a reprogrammed chip",
                usb.bcd_device,
                usb.interfaces,
                chip.bcd_device(),
                chip.interfaces()
            ),
        );
    }
    match said {
        Ok(UserArea::Digilent(d)) => by_digilent(chip, usb, d),
        Ok(UserArea::Xilinx(x)) => by_xilinx(chip, usb, x),
        Ok(UserArea::Neither) => by_strings(
            chip,
            usb,
            "EEPROM holds no Digilent or Xilinx identity".into(),
        ),
        Err(why) => by_strings(chip, usb, why.clone()),
    }
}

fn ask(hint: Option<&'static Board>, evidence: String) -> (Verdict, String) {
    (Verdict::AskForRule { hint }, evidence)
}

fn serve(board: &'static Board, usb: &UsbFacts<'_>, evidence: String) -> (Verdict, String) {
    let Action::Serve(wiring) = &board.action else {
        return (
            Verdict::Never,
            format!("{evidence}: {}, never served", board.description),
        );
    };
    let mut tdo_edge = wiring.profile.default_tdo_edge;
    if board.chip == Chip::Ft232h
        && matches!(board.key, Key::Digilent { .. })
        && usb.product == Some(DIGILENT_USB_DEVICE)
    {
        tdo_edge = TdoEdge::Auto;
    }
    let evidence = format!(
        "{evidence} → {} ({wiring}, TDO edge {tdo_edge})",
        board.name
    );
    (Verdict::Serve { board, tdo_edge }, evidence)
}

fn digilent_names(board: &Board) -> Option<(&'static [u8], &'static [&'static str])> {
    match board.key {
        Key::Digilent { classes, names } => Some((classes, names)),
        Key::Xilinx { .. } => None,
    }
}

/// The row of `chip` whose name prefix is the longest one `name` starts with.
fn by_longest_prefix<'n>(
    chip: Chip,
    name: &str,
    prefixes: impl Fn(&Board) -> Option<&'n [&'n str]>,
) -> Option<&'static Board> {
    BOARDS
        .iter()
        .filter(|b| b.chip == chip)
        .filter_map(|b| {
            let best = prefixes(b)?
                .iter()
                .filter(|p| name.starts_with(**p))
                .map(|p| p.len())
                .max()?;
            Some((best, b))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, b)| b)
}

fn by_digilent(chip: Chip, usb: &UsbFacts<'_>, d: &DigilentInfo) -> (Verdict, String) {
    let class = d.firmware_class();
    let what = format!(
        "EEPROM: Digilent product {:#010x} '{}' (firmware class {class:#04x})",
        d.product_id, d.product_name
    );
    // Instruments, whatever the chip.
    if let Some(b) = BOARDS.iter().find(|b| {
        b.action == Action::Never
            && digilent_names(b).is_some_and(|(classes, names)| {
                classes.contains(&class) || names.iter().any(|n| d.product_name.contains(n))
            })
    }) {
        return (
            Verdict::Never,
            format!("{what}: {}, never served", b.description),
        );
    }
    if let Some(b) = by_longest_prefix(chip, d.short_name(), |b| digilent_names(b).map(|k| k.1)) {
        let classes = digilent_names(b).map(|k| k.0).unwrap_or_default();
        if !classes.is_empty() && !classes.contains(&class) {
            return ask(
                Some(b),
                format!(
                    "{what}: the name says {} but its firmware class is not {}",
                    b.description,
                    hex_list(classes)
                ),
            );
        }
        let channel_a = b.wiring().is_some_and(|w| w.profile.interface == 0);
        if channel_a && chip == Chip::Ft2232h && DPTI_CLASSES.contains(&class) {
            return ask(
                Some(b),
                format!(
                    "{what}: the name says {} (JTAG on channel A) but class {class:#04x} has a DPTI FIFO, which may be channel A",
                    b.description
                ),
            );
        }
        return serve(b, usb, what);
    }
    let same_class: Vec<&'static Board> = BOARDS
        .iter()
        .filter(|b| b.chip == chip)
        .filter(|b| digilent_names(b).is_some_and(|(classes, _)| classes.contains(&class)))
        .collect();
    match same_class.split_first() {
        Some((&first, rest)) if rest.iter().all(|b| b.wired_like(first)) => serve(
            first,
            usb,
            format!(
                "{what}: name not in the table, wired as its class ({})",
                first.name
            ),
        ),
        Some((&first, _)) => ask(
            Some(first),
            format!("{what}: name not in the table and its class is wired in more than one way"),
        ),
        None => ask(
            None,
            format!("{what}: neither the name nor the class is in the table for an {chip}"),
        ),
    }
}

fn by_xilinx(chip: Chip, usb: &UsbFacts<'_>, x: &XilinxInfo) -> (Verdict, String) {
    let what = format!(
        "EEPROM: program_ftdi JX{:04x}, vendor '{}', board '{}'",
        x.code, x.vendor, x.board
    );
    let boards_of = |b: &Board| match b.key {
        Key::Xilinx { boards } => Some(boards),
        Key::Digilent { .. } => None,
    };
    if let Some(b) = by_longest_prefix(chip, &x.board, boards_of) {
        return serve(b, usb, what);
    }
    let other_chip = [Chip::Ft232h, Chip::Ft2232h, Chip::Ft4232h]
        .into_iter()
        .filter(|c| *c != chip)
        .find_map(|c| by_longest_prefix(c, &x.board, boards_of));
    match other_chip {
        Some(b) => ask(
            Some(b),
            format!("{what}: that board has an {}, this is an {chip}", b.chip),
        ),
        None => ask(
            None,
            format!("{what}: board not in the table (its ADBUS4..7 wiring is unknown)"),
        ),
    }
}

fn by_strings(chip: Chip, usb: &UsbFacts<'_>, why: String) -> (Verdict, String) {
    let what = format!(
        "strings only ({why}): {:04x}:{:04x} {:?} {:?} serial {:?}",
        usb.vid,
        usb.pid,
        usb.manufacturer.unwrap_or(""),
        usb.product.unwrap_or(""),
        usb.serial.unwrap_or("")
    );
    let hint = serial_hint(usb.serial);
    let hinted = |what: String, tail: &str| match hint {
        Some(b) => format!("{what}: {tail}; the serial prefix suggests {}", b.name),
        None => format!("{what}: {tail}"),
    };
    match (usb.manufacturer, chip, usb.product) {
        (Some("Digilent"), Chip::Ft232h, Some(DIGILENT_ADEPT)) => match hint {
            Some(b) if b.name != "hs2" => ask(
                Some(b),
                hinted(what, "an HS2 by its strings, but not by its serial"),
            ),
            _ => serve(
                boards::by_name("hs2").expect("the table has an hs2 row"),
                usb,
                what,
            ),
        },
        (Some("Digilent"), Chip::Ft232h, _) => ask(
            hint,
            hinted(what, "shared by JTAG-HS2, JTAG-HS3, JTAG-SMT2-NC and the Analog Discovery"),
        ),
        (Some("Digilent"), Chip::Ft2232h, _) => ask(
            hint,
            hinted(
                what,
                "Digilent boards put JTAG on channel A, except Nexys Video and Genesys 2 (channel B)",
            ),
        ),
        (Some("Digilent"), _, _) => ask(hint, hinted(what, "no Digilent row for this chip")),
        (Some("Xilinx"), _, _) => ask(
            None,
            format!("{what}: a Xilinx-programmed chip without its program_ftdi block"),
        ),
        _ => ask(
            None,
            format!("{what}: a generic FTDI chip (it may be a UART adapter): a rule must name a profile"),
        ),
    }
}

fn serial_hint(serial: Option<&str>) -> Option<&'static Board> {
    let prefix = serial?.get(..6)?;
    SERIAL_HINTS
        .iter()
        .find(|(p, _)| *p == prefix)
        .and_then(|(_, name)| boards::by_name(name))
}

fn hex_list(classes: &[u8]) -> String {
    classes
        .iter()
        .map(|c| format!("{c:#04x}"))
        .collect::<Vec<_>>()
        .join("/")
}

impl fmt::Display for boards::Wiring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.profile;
        let channel = (b'A' + p.interface) as char;
        write!(
            f,
            "channel {channel}, low {:02X}/{:02X}",
            p.gpio.low.value, p.gpio.low.dir
        )?;
        if p.writes_high {
            write!(
                f,
                ", high {:02X}/{:02X}",
                p.gpio.high.value, p.gpio.high.dir
            )
        } else {
            f.write_str(", high byte untouched")
        }
    }
}

/// Looks a profile up by the name a rule gives it (`profile: nexys-video`): a served row of
/// the board table, else a generic profile.
pub fn profile_by_name(name: &str) -> Option<&'static Profile> {
    boards::by_name(name)
        .and_then(|b| b.wiring())
        .map(|w| &w.profile)
        .or_else(|| GENERIC.iter().find(|p| p.name == name))
}

/// Every profile name a rule may use, in table order.
pub fn profile_names() -> impl Iterator<Item = &'static str> {
    BOARDS
        .iter()
        .filter(|b| b.wiring().is_some())
        .map(|b| b.name)
        .chain(GENERIC.iter().map(|p| p.name))
}

#[cfg(test)]
mod tests {
    use super::eeprom::{dumps, IMAGE_LEN};
    use super::*;
    use proptest::prelude::*;

    fn usb<'a>(
        chip: Chip,
        manufacturer: &'a str,
        product: &'a str,
        serial: &'a str,
    ) -> UsbFacts<'a> {
        UsbFacts {
            vid: chip::VID,
            pid: chip.pid(),
            manufacturer: Some(manufacturer),
            product: Some(product),
            serial: Some(serial),
            bcd_device: chip.bcd_device(),
            interfaces: chip.interfaces(),
        }
    }

    /// An EEPROM image of `chip` with `user_area` and a valid checksum.
    fn image(chip: Chip, user_area: &[u8]) -> [u8; IMAGE_LEN] {
        let mut img = [0u8; IMAGE_LEN];
        img[2..4].copy_from_slice(&chip::VID.to_le_bytes());
        img[4..6].copy_from_slice(&chip.pid().to_le_bytes());
        img[6..8].copy_from_slice(&chip.bcd_device().to_le_bytes());
        img[0x0E] = 0xA0;
        let ua = chip.user_area();
        img[ua..ua + user_area.len()].copy_from_slice(user_area);
        let sum = eeprom::checksum(&img);
        img[IMAGE_LEN - 2..].copy_from_slice(&sum.to_le_bytes());
        img
    }

    /// Identifies a `chip` whose EEPROM holds `user_area`, with these USB strings.
    fn identify_with(
        chip: Chip,
        user_area: &[u8],
        manufacturer: &str,
        product: &str,
        serial: &str,
    ) -> Identification {
        let img = image(chip, user_area);
        identify(
            &usb(chip, manufacturer, product, serial),
            EepromRead::Image(&img),
        )
    }

    fn digilent_area(product_id: u32, name: &str) -> Vec<u8> {
        let mut a = vec![1, 0];
        a.extend_from_slice(&eeprom::DIGILENT_OEM_ID.to_le_bytes());
        a.extend_from_slice(&product_id.to_le_bytes());
        a.extend_from_slice(&[0; 17]); // user name, one spare byte
        let mut n = name.as_bytes().to_vec();
        n.resize(28, 0);
        a.extend_from_slice(&n);
        a.extend_from_slice(&[1, 0]); // firmware version
        a
    }

    fn xilinx_area(code: u16, vendor: &str, board: &str) -> Vec<u8> {
        let mut a = (0x584A_0000u32 | u32::from(code)).to_le_bytes().to_vec();
        for s in [vendor, board] {
            a.extend_from_slice(s.as_bytes());
            a.push(0);
        }
        a
    }

    /// A plausible EEPROM image for a row, built from its key.
    fn image_for(b: &Board) -> [u8; IMAGE_LEN] {
        match b.key {
            Key::Digilent { classes, names } => {
                // Rows without a documented class get 0x61 ("DJTG", no DPTI).
                let class = classes.first().copied().unwrap_or(0x61);
                let name = format!("Digilent {}", names[0]);
                image(
                    b.chip,
                    &digilent_area(0x1230_0100 | u32::from(class), &name),
                )
            }
            Key::Xilinx { boards } => {
                let code = match b.chip {
                    Chip::Ft232h => 2,
                    Chip::Ft2232h => 3,
                    Chip::Ft4232h => 4,
                };
                let board = format!("{} {}", boards[0], b.chip);
                image(b.chip, &xilinx_area(code, "Xilinx", &board))
            }
        }
    }

    fn served(id: &Identification) -> &'static str {
        id.board().map(|b| b.name).unwrap_or("(not served)")
    }

    #[test]
    fn every_row_is_identified_from_its_eeprom() {
        for b in BOARDS {
            let img = image_for(b);
            let manufacturer = match b.key {
                Key::Digilent { .. } => "Digilent",
                Key::Xilinx { .. } => "Xilinx",
            };
            let id = identify(
                &usb(b.chip, manufacturer, "Digilent USB Device", "210000ABCDEF"),
                EepromRead::Image(&img),
            );
            match b.action {
                Action::Serve(_) => assert_eq!(served(&id), b.name, "{}", id.evidence),
                Action::Never => assert_eq!(id.verdict, Verdict::Never, "{}", id.evidence),
            }
            assert!(id.evidence.starts_with("EEPROM: "), "{}", id.evidence);
        }
    }

    #[test]
    fn real_hs2_is_served_whichever_product_string_it_reports() {
        let img = dumps::HS2;
        let id = identify(
            &usb(
                Chip::Ft232h,
                "Digilent",
                "Digilent USB Device",
                "210249B868A9",
            ),
            EepromRead::Image(&img),
        );
        assert_eq!(served(&id), "hs2");
        assert!(
            id.evidence
                .starts_with("EEPROM: Digilent product 0x30900152 'Digilent JTAG-HS2'"),
            "{}",
            id.evidence
        );
        // openFPGALoader's rule: "Digilent USB Device" units sample TDO on the falling edge
        // from 15 MHz.
        assert!(matches!(
            id.verdict,
            Verdict::Serve {
                tdo_edge: TdoEdge::Auto,
                ..
            }
        ));
        assert_eq!(id.identity, Identity::Serial);

        let id = identify(
            &usb(Chip::Ft232h, "Digilent", DIGILENT_ADEPT, "210249810909"),
            EepromRead::Image(&img),
        );
        assert_eq!(served(&id), "hs2");
        assert!(matches!(
            id.verdict,
            Verdict::Serve {
                tdo_edge: TdoEdge::Rising,
                ..
            }
        ));
    }

    #[test]
    fn real_smt1_pynq_z2_minized_and_vcu1525_dumps() {
        let id = identify(
            &usb(Chip::Ft2232h, "Digilent", DIGILENT_ADEPT, "210203A7E6C9"),
            EepromRead::Image(&dumps::SMT1),
        );
        assert_eq!(served(&id), "smt1", "{}", id.evidence);
        assert!(matches!(
            id.verdict,
            Verdict::Serve {
                tdo_edge: TdoEdge::Auto,
                ..
            }
        ));

        let id = identify(
            &usb(Chip::Ft2232h, "Xilinx", "JTAG+Serial", "1234-oj1"),
            EepromRead::Image(&dumps::MINIZED),
        );
        assert_eq!(served(&id), "minized", "{}", id.evidence);
        assert!(
            id.evidence.contains("board 'MiniZed V1'"),
            "{}",
            id.evidence
        );
        assert_eq!(id.identity, Identity::UsbPathFixedSerial);

        let id = identify(
            &usb(Chip::Ft2232h, "Xilinx", "TUL", "1234-tul"),
            EepromRead::Image(&dumps::PYNQ_Z2),
        );
        assert_eq!(served(&id), "pynq-z2", "{}", id.evidence);
        assert!(id.evidence.contains("board 'TUL'"), "{}", id.evidence);
        assert_eq!(id.identity, Identity::UsbPathFixedSerial);

        let id = identify(
            &usb(
                Chip::Ft4232h,
                "Xilinx",
                "Xilinx VCU1525 Dev Kit",
                "12809621t348",
            ),
            EepromRead::Image(&dumps::VCU1525),
        );
        assert_eq!(served(&id), "vcu1525", "{}", id.evidence);
        assert_eq!(
            id.board().unwrap().wiring().unwrap().profile.max_tck_hz,
            15_000_000
        );
    }

    #[test]
    fn strings_alone_serve_only_the_unambiguous_hs2() {
        let unreadable = EepromRead::Unreadable("timed out");
        // "Adept" on an FT232H: the HS2 (and the serial agrees, or says nothing).
        for serial in ["210249810909", "ABC"] {
            let id = identify(
                &usb(Chip::Ft232h, "Digilent", DIGILENT_ADEPT, serial),
                unreadable,
            );
            assert_eq!(served(&id), "hs2", "{}", id.evidence);
            assert!(id
                .evidence
                .starts_with("strings only (EEPROM unreadable: timed out)"));
        }
        // ... unless its serial prefix names another product (a ZedBoard).
        let id = identify(
            &usb(Chip::Ft232h, "Digilent", DIGILENT_ADEPT, "210248763397"),
            unreadable,
        );
        assert_eq!(
            id.verdict,
            Verdict::AskForRule {
                hint: boards::by_name("zedboard")
            },
            "{}",
            id.evidence
        );
        // "Digilent USB Device": HS2, HS3, SMT2-NC or an Analog Discovery — ask, with a hint.
        for (serial, hint) in [
            ("210249B868A9", "hs2"),
            ("210299B71F97", "hs3"),
            ("210308A5F038", "smt2-nc"),
            ("210321A18CE2", "discovery"),
        ] {
            let id = identify(
                &usb(Chip::Ft232h, "Digilent", DIGILENT_USB_DEVICE, serial),
                unreadable,
            );
            assert_eq!(
                id.verdict,
                Verdict::AskForRule {
                    hint: boards::by_name(hint)
                },
                "{}",
                id.evidence
            );
        }
        // A blank EEPROM is no better than an unreadable one.
        let id = identify(
            &usb(Chip::Ft232h, "Digilent", DIGILENT_USB_DEVICE, "x"),
            EepromRead::Image(&[0xFF; IMAGE_LEN]),
        );
        assert!(matches!(id.verdict, Verdict::AskForRule { hint: None }));
        assert!(id.evidence.contains("checksum"), "{}", id.evidence);
    }

    #[test]
    fn an_ft2232h_without_eeprom_asks_because_the_channel_is_unknown() {
        for (product, serial, hint) in [
            (DIGILENT_USB_DEVICE, "210319788597", Some("arty")),
            (DIGILENT_USB_DEVICE, "210276724184", Some("nexys-video")),
            (DIGILENT_ADEPT, "200300AD1911", Some("genesys2")),
            (DIGILENT_ADEPT, "003017A6FFE5", None),
        ] {
            let id = identify(
                &usb(Chip::Ft2232h, "Digilent", product, serial),
                EepromRead::Unreadable("pipe"),
            );
            assert_eq!(
                id.verdict,
                Verdict::AskForRule {
                    hint: hint.and_then(boards::by_name)
                },
                "{}",
                id.evidence
            );
        }
    }

    #[test]
    fn discovery_is_never_served() {
        // By its firmware class, whatever the name; and by its name, whatever the class.
        for (pid, name) in [
            (0x0170_0060, "Digilent Analog Discovery 2"),
            (0x0170_0060, "Digilent Unknown"),
            (0x0170_0052, "Digilent Digital Discovery"),
        ] {
            let id = identify_with(
                Chip::Ft232h,
                &digilent_area(pid, name),
                "Digilent",
                DIGILENT_USB_DEVICE,
                "210321A18CE2",
            );
            assert_eq!(id.verdict, Verdict::Never, "{}", id.evidence);
        }
    }

    #[test]
    fn nexys_video_and_genesys_2_are_served_on_channel_b_only() {
        for (name, row) in [
            ("Digilent Nexys Video", "nexys-video"),
            ("Digilent Genesys 2", "genesys2"),
        ] {
            // Even with a class that has a DPTI FIFO (its channel A).
            for class in [0x55, 0x56, 0x61] {
                let id = identify_with(
                    Chip::Ft2232h,
                    &digilent_area(0x0100_0100 | class, name),
                    "Digilent",
                    DIGILENT_USB_DEVICE,
                    "210276724184",
                );
                assert_eq!(served(&id), row, "{}", id.evidence);
                let w = id.board().unwrap().wiring().unwrap();
                assert_eq!(w.profile.interface, 1);
                assert!(id.evidence.contains("channel B"), "{}", id.evidence);
            }
        }
        // "Genesys ZU" is not "Genesys 2".
        let id = identify_with(
            Chip::Ft2232h,
            &digilent_area(0x0100_0161, "Digilent Genesys ZU - 3EG"),
            "Digilent",
            DIGILENT_ADEPT,
            "210383B7F02D",
        );
        assert_eq!(served(&id), "genesys-zu");
        assert_eq!(id.board().unwrap().wiring().unwrap().profile.interface, 0);
    }

    #[test]
    fn contradicting_name_and_class_ask_for_a_rule() {
        // A channel-A name with a DPTI class: channel A may be the FIFO.
        let id = identify_with(
            Chip::Ft2232h,
            &digilent_area(0x0100_0155, "Digilent Cmod A7 - 35T"),
            "Digilent",
            DIGILENT_ADEPT,
            "210328A414AD",
        );
        assert!(
            matches!(id.verdict, Verdict::AskForRule { .. }),
            "{}",
            id.evidence
        );
        // An Arty name with the HS2's class.
        let id = identify_with(
            Chip::Ft2232h,
            &digilent_area(0x0100_0152, "Digilent Arty A7-35T"),
            "Digilent",
            DIGILENT_USB_DEVICE,
            "210319788597",
        );
        assert!(
            matches!(id.verdict, Verdict::AskForRule { .. }),
            "{}",
            id.evidence
        );
        // "JTAG-SMT2NC" is the SMT2-NC, not the SMT2 (longest prefix).
        let id = identify_with(
            Chip::Ft232h,
            &digilent_area(0x0100_0152, "Digilent JTAG-SMT2NC"),
            "Digilent",
            DIGILENT_USB_DEVICE,
            "210308A5F038",
        );
        assert_eq!(served(&id), "smt2-nc", "{}", id.evidence);
    }

    #[test]
    fn an_unknown_name_is_served_by_its_class_only_where_the_class_is_wired_one_way() {
        // Class 0x51 (SMT1, Arty, Basys 3): one wiring → served as the class.
        let id = identify_with(
            Chip::Ft2232h,
            &digilent_area(0x0990_0151, "Digilent USB104 A7"),
            "Digilent",
            DIGILENT_USB_DEVICE,
            "210000000000",
        );
        assert_eq!(id.board().unwrap().wiring().unwrap().profile.interface, 0);
        assert!(
            id.evidence.contains("wired as its class"),
            "{}",
            id.evidence
        );
        // A class no row has → ask.
        let id = identify_with(
            Chip::Ft2232h,
            &digilent_area(0x0990_0156, "Digilent Whatever"),
            "Digilent",
            DIGILENT_USB_DEVICE,
            "210000000000",
        );
        assert_eq!(
            id.verdict,
            Verdict::AskForRule { hint: None },
            "{}",
            id.evidence
        );
    }

    #[test]
    fn xilinx_boards_keep_adbus4_6_7_as_inputs_and_leave_the_high_byte() {
        for b in BOARDS
            .iter()
            .filter(|b| matches!(b.key, Key::Xilinx { .. }))
        {
            let w = b.wiring().unwrap();
            assert_eq!(w.profile.interface, 0, "{}", b.name);
            assert_eq!(
                w.profile.gpio.low.dir & 0xD0,
                0,
                "{}: ADBUS4/6/7 driven",
                b.name
            );
            assert!(!w.profile.writes_high, "{}", b.name);
            assert_eq!(w.profile.default_tdo_edge, TdoEdge::Rising);
        }
        // An unknown program_ftdi board asks; so does a known board on the wrong chip.
        let id = identify_with(
            Chip::Ft4232h,
            &xilinx_area(4, "Xilinx", "HW-FOO-BAR FT4232H"),
            "Xilinx",
            "JTAG+3Serial",
            "1",
        );
        assert_eq!(id.verdict, Verdict::AskForRule { hint: None });
        let id = identify_with(
            Chip::Ft2232h,
            &xilinx_area(3, "Xilinx", "HW-Z1-ZCU104 FT4232H"),
            "Xilinx",
            "JTAG+Serial",
            "1",
        );
        assert_eq!(
            id.verdict,
            Verdict::AskForRule {
                hint: boards::by_name("zcu104")
            }
        );
        // Without its EEPROM a Xilinx chip is not guessed at.
        let id = identify(
            &usb(Chip::Ft4232h, "Xilinx", "JTAG+3Serial", "87066"),
            EepromRead::Unreadable("stall"),
        );
        assert_eq!(id.verdict, Verdict::AskForRule { hint: None });
    }

    #[test]
    fn fixed_serials_fall_back_to_the_usb_path() {
        let img = image_for(boards::by_name("minized").unwrap());
        let id = identify(
            &usb(Chip::Ft2232h, "Xilinx", "JTAG+Serial", "1234-oj1"),
            EepromRead::Image(&img),
        );
        assert_eq!(served(&id), "minized");
        assert_eq!(id.identity, Identity::UsbPathFixedSerial);
        let id = identify(
            &usb(Chip::Ft2232h, "Xilinx", "TUL", "1234-tul"),
            EepromRead::Unreadable("x"),
        );
        assert_eq!(id.identity, Identity::UsbPathFixedSerial);
        let mut facts = usb(Chip::Ft232h, "Digilent", DIGILENT_ADEPT, "");
        assert_eq!(
            identify(&facts, EepromRead::Unreadable("x")).identity,
            Identity::UsbPathNoSerial
        );
        facts.serial = None;
        assert_eq!(
            identify(&facts, EepromRead::Unreadable("x")).identity,
            Identity::UsbPathNoSerial
        );
    }

    #[test]
    fn generic_clones_and_foreign_devices() {
        let id = identify(
            &usb(Chip::Ft232h, "FTDI", "FT232H", "FT1234"),
            EepromRead::Unreadable("x"),
        );
        assert_eq!(id.verdict, Verdict::AskForRule { hint: None });
        let mut facts = usb(Chip::Ft232h, "Digilent", DIGILENT_ADEPT, "210249810909");
        facts.vid = 0x1443;
        assert_eq!(
            identify(&facts, EepromRead::Unreadable("x")).verdict,
            Verdict::Never
        );
        let mut facts = usb(Chip::Ft232h, "Digilent", DIGILENT_ADEPT, "210249810909");
        facts.interfaces = 2;
        let id = identify(&facts, EepromRead::Image(&dumps::HS2));
        assert!(
            matches!(id.verdict, Verdict::AskForRule { .. }),
            "{}",
            id.evidence
        );
        let mut facts = usb(Chip::Ft232h, "FTDI", "FT232R", "A1");
        facts.pid = 0x6001;
        assert!(matches!(
            identify(&facts, EepromRead::Unreadable("x")).verdict,
            Verdict::AskForRule { hint: None }
        ));
    }

    /// Every product name and board string the table knows, plus noise.
    fn any_name() -> impl Strategy<Value = String> {
        let mut known: Vec<String> = Vec::new();
        for b in BOARDS {
            match b.key {
                Key::Digilent { names, .. } => {
                    known.extend(names.iter().map(|n| format!("Digilent {n}")))
                }
                Key::Xilinx { boards } => known.extend(boards.iter().map(|n| n.to_string())),
            }
        }
        prop_oneof![proptest::sample::select(known), "[ -~]{0,27}",]
    }

    fn any_chip() -> impl Strategy<Value = Chip> {
        proptest::sample::select(vec![Chip::Ft232h, Chip::Ft2232h, Chip::Ft4232h])
    }

    #[derive(Debug, Clone)]
    enum Eeprom {
        Unreadable,
        Noise(Vec<u8>),
        /// A valid image whose user area is random bytes.
        NoisyUserArea(Vec<u8>),
        Digilent(u32, String),
        Xilinx(u16, String),
    }

    fn any_eeprom() -> impl Strategy<Value = Eeprom> {
        prop_oneof![
            Just(Eeprom::Unreadable),
            proptest::collection::vec(any::<u8>(), IMAGE_LEN).prop_map(Eeprom::Noise),
            proptest::collection::vec(any::<u8>(), 0x60).prop_map(Eeprom::NoisyUserArea),
            (any::<u32>(), any_name()).prop_map(|(p, n)| Eeprom::Digilent(p, n)),
            (0u16..6, any_name()).prop_map(|(c, n)| Eeprom::Xilinx(c, n)),
        ]
    }

    proptest! {
        /// Whatever a device reports, a served row never drives a pin its board documents as
        /// an input or a reset, is a row of the device's chip, and an instrument is never
        /// served.
        #[test]
        fn no_served_row_drives_a_pin_its_board_keeps_as_input(
            chip in any_chip(),
            eeprom in any_eeprom(),
            manufacturer in proptest::sample::select(vec!["Digilent", "Xilinx", "FTDI", ""]),
            product in proptest::sample::select(vec![DIGILENT_USB_DEVICE, DIGILENT_ADEPT, "JTAG+3Serial", ""]),
            serial in "[0-9A-F]{0,12}",
        ) {
            let facts = usb(chip, manufacturer, product, &serial);
            let img = match &eeprom {
                Eeprom::Unreadable => None,
                Eeprom::Noise(bytes) => Some(bytes.clone()),
                Eeprom::NoisyUserArea(bytes) => Some(image(chip, bytes).to_vec()),
                Eeprom::Digilent(p, n) => Some(image(chip, &digilent_area(*p, n)).to_vec()),
                Eeprom::Xilinx(c, n) => Some(image(chip, &xilinx_area(*c, "Xilinx", n)).to_vec()),
            };
            let read = match &img {
                Some(bytes) => EepromRead::Image(bytes),
                None => EepromRead::Unreadable("test"),
            };
            let id = identify(&facts, read);
            prop_assert!(!id.evidence.is_empty());
            if let Verdict::Serve { board, .. } = id.verdict {
                prop_assert_eq!(board.chip, chip);
                let w = board.wiring().expect("a served row has wiring");
                prop_assert_eq!(w.profile.gpio.low.dir & board.keep_inputs.low, 0);
                if w.profile.writes_high {
                    prop_assert_eq!(w.profile.gpio.high.dir & board.keep_inputs.high, 0);
                }
                prop_assert!(u32::from(w.profile.interface) < u32::from(chip.interfaces()));
                if let Eeprom::Digilent(p, _) = eeprom {
                    prop_assert_ne!(p & 0xFF, 0x60, "an Analog Discovery was served");
                }
            }
        }
    }

    #[test]
    fn profile_names_resolve_to_their_profiles() {
        for name in profile_names() {
            assert_eq!(profile_by_name(name).map(|p| p.name), Some(name));
        }
        assert_eq!(
            profile_by_name("hs2"),
            Some(&crate::ftdi::profiles::HS2),
            "the constant is the table's hs2 row"
        );
        assert_eq!(profile_by_name("nexys-video").map(|p| p.interface), Some(1));
        assert_eq!(
            profile_by_name("discovery"),
            None,
            "an instrument has no profile"
        );
        assert_eq!(profile_by_name("nope"), None);
    }
}
