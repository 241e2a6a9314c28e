//! The board table: one row per Digilent or Xilinx FTDI JTAG device class, hardware facts as
//! data. Exists apart from the decision logic ([`identify`](super::identify)) so a row can be
//! read, reviewed and checked against its sources on its own; each row names them.
//!
//! Every row drives ADBUS0 TCK, ADBUS1 TDI and ADBUS3 TMS (TMS idle high) and reads ADBUS2 TDO,
//! like every FTDI MPSSE JTAG. Beyond those, a row drives only the pins its sources agree on;
//! a pin they disagree on, or that no source names, stays an input. `keep_inputs` lists the pins
//! the board's documentation says are inputs or resets, so a test can hold every row to it.
//!
//! Names: a Digilent row matches the EEPROM product name without its "Digilent " prefix (the
//! names as Vivado's hw_server shows them, `jtag_cable_name` = product name + serial +
//! channel letter, in public xsct launch scripts: "Digilent Arty A7-35T 210319…A",
//! "Digilent Nexys Video 210276…B", "Digilent Zed 210248…"); a Xilinx row matches the board
//! string of the `program_ftdi` block ("Xilinx HW-Z1-ZCU104 FT4232H 87066A" = vendor, board,
//! serial, channel).

use crate::ftdi::chip::{self, Gpio, Port};
use crate::ftdi::identify::eeprom::Chip;
use crate::ftdi::profiles::{Profile, TdoEdge};

/// How a row is recognised in the EEPROM user area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A Digilent block. `classes`: the firmware classes (low byte of the product id) the row's
    /// devices have, as far as a source says (empty: not known; the name alone decides).
    /// `names`: product-name prefixes (after "Digilent "); the longest matching prefix wins.
    Digilent {
        classes: &'static [u8],
        names: &'static [&'static str],
    },
    /// A Xilinx `program_ftdi` block: board-string prefixes.
    Xilinx { boards: &'static [&'static str] },
}

/// What to do with a recognised device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Serve it with this wiring.
    Serve(Wiring),
    /// Never drive any pin of it (an instrument, not a JTAG cable).
    Never,
}

/// A served row's wiring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wiring {
    /// Channel, pin levels and directions, whether the high byte is written, TCK limit,
    /// default TDO edge.
    pub profile: Profile,
}

/// Pins (1 = the pin) of the JTAG channel's low and high byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pins {
    pub low: u8,
    pub high: u8,
}

/// One device class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    /// Short name (status, config, logs).
    pub name: &'static str,
    pub description: &'static str,
    pub chip: Chip,
    pub key: Key,
    pub action: Action,
    /// Pins the board documents as inputs or resets: never driven (direction bit 0).
    pub keep_inputs: Pins,
    /// Whether every unit carries the same USB serial (so it cannot be the identity).
    pub fixed_serial: Option<&'static str>,
    /// Built from documentation only (no EEPROM dump of a real unit was available).
    pub documentation_only: bool,
}

impl Board {
    pub fn wiring(&self) -> Option<&Wiring> {
        match &self.action {
            Action::Serve(w) => Some(w),
            Action::Never => None,
        }
    }

    /// The USB manufacturer string its units carry: Digilent writes "Digilent"; Xilinx's
    /// `program_ftdi` writes "Xilinx" whoever made the board (the TUL PYNQ-Z2 and VCU1525
    /// dumps). The udev rules grant the agent's group these devices by it.
    pub fn usb_manufacturer(&self) -> &'static str {
        match self.key {
            Key::Digilent { .. } => "Digilent",
            Key::Xilinx { .. } => "Xilinx",
        }
    }

    /// Whether two rows drive the same channel and pins the same way (names aside).
    pub fn wired_like(&self, other: &Board) -> bool {
        match (self.wiring(), other.wiring()) {
            (Some(a), Some(b)) => {
                let (p, q) = (&a.profile, &b.profile);
                p.writes_high == q.writes_high
                    && p.interface == q.interface
                    && p.gpio == q.gpio
                    && p.max_tck_hz == q.max_tck_hz
                    && p.default_tdo_edge == q.default_tdo_edge
            }
            (None, None) => true,
            _ => false,
        }
    }
}

/// ADBUS2 (TDO) is an input on every row.
const TDO: u8 = chip::pin::TDO;
/// ADBUS4..7 on the Xilinx reference design: 4 VCCO sense (input), 5 OE_B, 6 POR_B and 7
/// SRST_B (open-collector resets: driving them low holds the SoC in reset).
/// https://etherealwake.com/2024/06/xilinx-ftdi-jtag/ ("All JTAG connections use ADBUS0-7,
/// which corresponds to the first port", and its pin table).
const XILINX_VCCO_SENSE: u8 = 0x10;
const XILINX_OE_B: u8 = 0x20;
const XILINX_RESETS: u8 = 0xC0;

#[allow(clippy::too_many_arguments)]
const fn profile(
    name: &'static str,
    description: &'static str,
    chip: Chip,
    interface: u8,
    low: Port,
    high: Port,
    writes_high: bool,
    max_tck_hz: u64,
    default_tdo_edge: TdoEdge,
) -> Profile {
    Profile {
        name,
        description,
        vid: chip::VID,
        pid: match chip {
            Chip::Ft232h => chip::PID_FT232H,
            Chip::Ft2232h => chip::PID_FT2232H,
            Chip::Ft4232h => chip::PID_FT4232H,
        },
        interface,
        gpio: Gpio { low, high },
        writes_high,
        max_tck_hz,
        default_tdo_edge,
    }
}

/// A Digilent row served with `low`/`high` on `interface`.
#[allow(clippy::too_many_arguments)]
const fn digilent(
    name: &'static str,
    description: &'static str,
    chip: Chip,
    classes: &'static [u8],
    names: &'static [&'static str],
    interface: u8,
    low: Port,
    high: Option<Port>,
    edge: TdoEdge,
    documentation_only: bool,
) -> Board {
    let (high_port, writes_high) = match high {
        Some(p) => (p, true),
        None => (Port::new(0, 0), false),
    };
    Board {
        name,
        description,
        chip,
        key: Key::Digilent { classes, names },
        action: Action::Serve(Wiring {
            profile: profile(
                name,
                description,
                chip,
                interface,
                low,
                high_port,
                writes_high,
                30_000_000,
                edge,
            ),
        }),
        keep_inputs: Pins { low: TDO, high: 0 },
        fixed_serial: None,
        documentation_only,
    }
}

/// A Xilinx `program_ftdi` row: JTAG on channel A, no high byte written, rising edge.
#[allow(clippy::too_many_arguments)]
const fn xilinx(
    name: &'static str,
    description: &'static str,
    chip: Chip,
    boards: &'static [&'static str],
    low: Port,
    max_tck_hz: u64,
    fixed_serial: Option<&'static str>,
    documentation_only: bool,
) -> Board {
    Board {
        name,
        description,
        chip,
        key: Key::Xilinx { boards },
        action: Action::Serve(Wiring {
            profile: profile(
                name,
                description,
                chip,
                0,
                low,
                Port::new(0, 0),
                false,
                max_tck_hz,
                TdoEdge::Rising,
            ),
        }),
        keep_inputs: Pins {
            low: TDO | XILINX_VCCO_SENSE | XILINX_RESETS,
            high: 0,
        },
        fixed_serial,
        documentation_only,
    }
}

/// ADBUS: TCK, TDI, TMS out, TMS high; ADBUS4..7 inputs.
const JTAG_ONLY: Port = Port::new(0x08, 0x0B);
/// ADBUS: TCK, TDI, TMS out; ADBUS7 driven high; ADBUS4..6 inputs. OpenOCD's
/// `digilent-hs1.cfg` (0x0088/0x008b), used for the HS1, SMT1 boards, Arty S7, KC705.
const HS1_LOW: Port = Port::new(0x88, 0x8B);
/// ADBUS5..7 driven high (ADBUS5 the TMS buffer enable): the HS2's low byte, OpenOCD
/// `digilent-hs2.cfg` 0x00e8/0x60eb and openFPGALoader `digilent_hs2`.
const HS2_LOW: Port = Port::new(0xE8, 0xEB);

/// Digilent FT2232H boards: TDO sampled on the falling edge from 15 MHz (openFPGALoader does so
/// for "Digilent USB Device" at ≥ 15 MHz, `src/ftdiJtagMPSSE.cpp` `config_edge`, "with digilent
/// cable (arty)"; OpenOCD samples on the falling edge for Nexys Video, Genesys 2 and Anvyl).
const BOARD_EDGE: TdoEdge = TdoEdge::Auto;

/// The table. Order does not matter: a device matches by key (longest name prefix).
pub const BOARDS: &[Board] = &[
    // ---- FT232H cables and modules -----------------------------------------------------
    // JTAG-HS2. Class 0x52 "FT232H DJTG+DSPI (JTAG-HS2)" (prjcombine); dump `digilent_hs2.bin`
    // (product id 0x30900152, "Digilent JTAG-HS2"). Wiring: OpenOCD `digilent-hs2.cfg`
    // (ADBUS5 TMS buffer enable; ACBUS5/6 select JTAG, low) and openFPGALoader `digilent_hs2`
    // agree: E8/EB, 00/60. Edge: rising; `identify` switches to Auto for units whose USB
    // product is "Digilent USB Device", as openFPGALoader does.
    digilent(
        "hs2",
        "Digilent JTAG-HS2",
        Chip::Ft232h,
        &[0x52],
        &["JTAG-HS2"],
        0,
        HS2_LOW,
        Some(Port::new(0x00, 0x60)),
        TdoEdge::Rising,
        false,
    ),
    // JTAG-HS3. Class 0x53 "DJTG+SRST (JTAG-HS3; ZEDBOARD)" (prjcombine); name from hw_server
    // names "Digilent JTAG-HS3 210299…". Wiring: OpenOCD `digilent_jtag_hs3.cfg` ("from
    // Digilent support": ACBUS5 SRST, ACBUS4 /OE) and openFPGALoader `digilent_hs3` agree:
    // 88/8B, 20/30 — ACBUS4 low enables the cable's own SRST driver, ACBUS5 high holds it
    // released (a push-pull buffer on the cable, not the target's reset pin).
    digilent(
        "hs3",
        "Digilent JTAG-HS3",
        Chip::Ft232h,
        &[0x53],
        &["JTAG-HS3"],
        0,
        HS1_LOW,
        Some(Port::new(0x20, 0x30)),
        TdoEdge::Rising,
        true,
    ),
    // ZedBoard (on-board FT232H). Class 0x53, the HS3's (prjcombine); name "Zed" (hw_server
    // "Digilent Zed 210248…"). The tools disagree: openFPGALoader `zedboard` → HS2 layout
    // (E8/EB, 00/60: ACBUS5 driven LOW, which on the HS3-class wiring is SRST asserted);
    // OpenOCD `zedboard.cfg` → `digilent_jtag_smt2.cfg` (20E8/3FEB: ADBUS5..7 and ACBUS0..5
    // driven). Chosen: the HS3 layout of its firmware class (88/8B, 20/30): it agrees with
    // OpenOCD on ACBUS4 low / ACBUS5 high, drives 3 pins besides JTAG instead of 5 or 9, and
    // never asserts SRST.
    digilent(
        "zedboard",
        "Digilent ZedBoard (on-board JTAG)",
        Chip::Ft232h,
        &[0x53],
        &["Zed"],
        0,
        HS1_LOW,
        Some(Port::new(0x20, 0x30)),
        TdoEdge::Rising,
        true,
    ),
    // JTAG-SMT2. Class 0x54 "FT232H DJTG+DSPI+DPIO (JTAG-SMT2)" (prjcombine); name from the
    // same naming. Wiring: OpenOCD `digilent_jtag_smt2.cfg` 20E8/3FEB (ACBUS5 nSRST held
    // high; only source — openFPGALoader has no SMT2 entry), as the existing `smt2` profile.
    digilent(
        "smt2",
        "Digilent JTAG-SMT2",
        Chip::Ft232h,
        &[0x54],
        &["JTAG-SMT2"],
        0,
        HS2_LOW,
        Some(Port::new(0x20, 0x3F)),
        TdoEdge::Rising,
        true,
    ),
    // JTAG-SMT2-NC (on ZCU102/ZCU106/KCU105/VCU118 …). Firmware class not documented: the name
    // decides ("Digilent JTAG-SMT2NC 210308…" in hw_server names). Wiring: OpenOCD
    // `digilent_jtag_smt2_nc.cfg` (00e8/60eb, "the digilent_jtag_smt2 layout does not work")
    // and openFPGALoader `jtag-smt2-nc` agree: the HS2 layout.
    digilent(
        "smt2-nc",
        "Digilent JTAG-SMT2-NC",
        Chip::Ft232h,
        &[],
        &["JTAG-SMT2NC"],
        0,
        HS2_LOW,
        Some(Port::new(0x00, 0x60)),
        TdoEdge::Rising,
        true,
    ),
    // Analog Discovery 1/2, Digital Discovery: instruments (an FPGA and analog front end behind
    // the FT232H; openFPGALoader's `digilent_ad` drives ACBUS7). Class 0x60 "~DJTG+DPTI
    // (analog discovery)" (prjcombine); any product name containing "Discovery". Never served.
    Board {
        name: "discovery",
        description: "Digilent Analog/Digital Discovery (instrument)",
        chip: Chip::Ft232h,
        key: Key::Digilent {
            classes: &[0x60],
            names: &["Discovery"],
        },
        action: Action::Never,
        keep_inputs: Pins {
            low: 0xFF,
            high: 0xFF,
        },
        fixed_serial: None,
        documentation_only: true,
    },
    // ---- FT2232H: JTAG-HS1, JTAG-SMT1 and boards with JTAG on channel A -------------------
    // JTAG-HS1. Class 0x50 "FT2232H DJTG+DSPI (JTAG-HS1)" (prjcombine). OpenOCD
    // `digilent-hs1.cfg`: channel 0, 0x0088/0x008b ("channel 1 does not have any
    // functionality"). No openFPGALoader entry. High byte left alone.
    digilent(
        "hs1",
        "Digilent JTAG-HS1",
        Chip::Ft2232h,
        &[0x50],
        &["JTAG-HS1"],
        0,
        HS1_LOW,
        None,
        BOARD_EDGE,
        true,
    ),
    // JTAG-SMT1 (on AC701, KC705, ZC702, VC707). Class 0x51 (prjcombine: "JTAG-SMT1; Basys 3,
    // Arty, USB104-A7"); dump `digilent_smt1.bin` (0x30800151, "Digilent JTAG-SMT1").
    // Disagreement on the whole 0x51 class: OpenOCD `digilent-hs1.cfg` (used by `kc705.cfg`)
    // 88/8B with no high byte; openFPGALoader `digilent` (ac701, kc705, arty, basys3 …)
    // E8/EB + 00/60. Chosen: OpenOCD's, the fewer driven pins (ADBUS5/6 and ACBUS5/6 stay
    // inputs); both drive ADBUS7 high.
    digilent(
        "smt1",
        "Digilent JTAG-SMT1",
        Chip::Ft2232h,
        &[0x51],
        &["JTAG-SMT1"],
        0,
        HS1_LOW,
        None,
        BOARD_EDGE,
        false,
    ),
    // Arty / Arty A7 / Arty S7 ("Digilent Arty A7-35T 210319…A", "Arty S7 - 25"). Class 0x51
    // (prjcombine lists Arty). Channel A (hw_server letter A; openFPGALoader `arty*` →
    // `digilent` interface A; OpenOCD `arty-s7.cfg` → `digilent-hs1.cfg`); UART on B. Same
    // choice as the SMT1 row.
    digilent(
        "arty",
        "Digilent Arty (A7, S7)",
        Chip::Ft2232h,
        &[0x51],
        &["Arty"],
        0,
        HS1_LOW,
        None,
        BOARD_EDGE,
        true,
    ),
    // Basys 3 ("Digilent Basys3 210183…A"). Class 0x51 (prjcombine lists Basys 3).
    // openFPGALoader `basys3` → `digilent`. Same choice as the SMT1 row.
    digilent(
        "basys3",
        "Digilent Basys 3",
        Chip::Ft2232h,
        &[0x51],
        &["Basys3"],
        0,
        HS1_LOW,
        None,
        BOARD_EDGE,
        true,
    ),
    // Nexys 4, Nexys 4 DDR, Nexys A7 ("Digilent Nexys4 210274…A", "Digilent Nexys4DDR
    // 210292…A", "Digilent Nexys A7 -100T 210292…A"). Class not in a source read: the name
    // decides. openFPGALoader `nexys_a7_*` → `digilent` (channel A). Same choice as SMT1.
    digilent(
        "nexys4",
        "Digilent Nexys 4 / Nexys 4 DDR / Nexys A7",
        Chip::Ft2232h,
        &[],
        &["Nexys4", "Nexys A7"],
        0,
        HS1_LOW,
        None,
        BOARD_EDGE,
        true,
    ),
    // Zybo Z7 ("Digilent Zybo Z7 210351…A"). Class 0x57 "DJTG (ZYBO-Z7; TE07* onboard)"
    // (prjcombine). openFPGALoader `zybo_z7_*` → `digilent`. (OpenOCD's `zybo.cfg` is for the
    // original Zybo, "not tested with the Zybo Z7", and drives ACBUS4/5: not used here.)
    digilent(
        "zybo-z7",
        "Digilent Zybo Z7",
        Chip::Ft2232h,
        &[0x57],
        &["Zybo Z7"],
        0,
        HS1_LOW,
        None,
        BOARD_EDGE,
        true,
    ),
    // Arty Z7 ("Digilent Arty Z7 003017…A"). Class unknown; openFPGALoader `arty_z7_*` →
    // `digilent` (channel A).
    digilent(
        "arty-z7",
        "Digilent Arty Z7",
        Chip::Ft2232h,
        &[],
        &["Arty Z7"],
        0,
        HS1_LOW,
        None,
        BOARD_EDGE,
        true,
    ),
    // Cmod A7 ("Digilent Cmod A7 - 35T 210328…A"). Class unknown; openFPGALoader `cmoda7_*` →
    // `digilent` (channel A).
    digilent(
        "cmod-a7",
        "Digilent Cmod A7",
        Chip::Ft2232h,
        &[],
        &["Cmod A7"],
        0,
        HS1_LOW,
        None,
        BOARD_EDGE,
        true,
    ),
    // Genesys ZU ("Digilent Genesys ZU - 3EG 210383…A"). Class unknown; channel A by the
    // hw_server letter. No tool entry: the class-0x51 choice (88/8B) — the wiring both tools
    // use for every other Digilent channel-A board, reduced to the pins they agree on.
    digilent(
        "genesys-zu",
        "Digilent Genesys ZU",
        Chip::Ft2232h,
        &[],
        &["Genesys ZU"],
        0,
        HS1_LOW,
        None,
        BOARD_EDGE,
        true,
    ),
    // Eclypse Z7 ("Digilent Eclypse Z7 210393…A"). Class unknown; channel A by the hw_server
    // letter. No tool entry: as Genesys ZU.
    digilent(
        "eclypse-z7",
        "Digilent Eclypse Z7",
        Chip::Ft2232h,
        &[],
        &["Eclypse Z7"],
        0,
        HS1_LOW,
        None,
        BOARD_EDGE,
        true,
    ),
    // ---- FT2232H boards with JTAG on channel B (channel A is a DPTI FIFO to the FPGA) -----
    // Nexys Video ("Digilent Nexys Video 210276…B"). OpenOCD `nexys-video.cfg`: channel 1,
    // 0x0088/0x008b, falling edge at 30 MHz ("channel 0 is dedicated for Digilent's DPTI");
    // openFPGALoader `nexysVideo` → `digilent_b` (B, E8/EB + 00/60). Chosen: OpenOCD's (fewer
    // driven pins), channel B; channel A is never opened.
    digilent(
        "nexys-video",
        "Digilent Nexys Video (JTAG on channel B)",
        Chip::Ft2232h,
        &[],
        &["Nexys Video"],
        1,
        HS1_LOW,
        None,
        BOARD_EDGE,
        true,
    ),
    // Genesys 2 ("Digilent Genesys 2 200300…B"). OpenOCD `genesys-2.cfg`: channel 1,
    // 0x0088/0x008b, falling edge; openFPGALoader `genesys2` → `digilent_b`. As Nexys Video.
    digilent(
        "genesys2",
        "Digilent Genesys 2 (JTAG on channel B)",
        Chip::Ft2232h,
        &[],
        &["Genesys 2"],
        1,
        HS1_LOW,
        None,
        BOARD_EDGE,
        true,
    ),
    // ---- Xilinx program_ftdi boards: JTAG on ADBUS of channel A ---------------------------
    // Pin map (etherealwake "Xilinx JTAG Support on FTDI"): ADBUS4 VCCO sense (input), ADBUS5
    // OE_B (active low, where fitted), ADBUS6 POR_B and ADBUS7 SRST_B open-collector resets:
    // 4, 6, 7 stay inputs on every row. Rising edge (no tool samples on the falling edge for
    // these). The FT4232H has no high byte; the FT2232H rows leave theirs alone.
    //
    // ZCU104: board "HW-Z1-ZCU104 FT4232H" (hw_server "Xilinx HW-Z1-ZCU104 FT4232H 87066A").
    // No tool layout; whether ADBUS5 is OE_B on this board is not in a source read: stays
    // an input (08/0B).
    xilinx(
        "zcu104",
        "Xilinx ZCU104",
        Chip::Ft4232h,
        &["HW-Z1-ZCU104"],
        JTAG_ONLY,
        30_000_000,
        None,
        true,
    ),
    // VCK190: board "VCK190 FT4232H" (hw_server "Xilinx VCK190 FT4232H 592036123983A"). As
    // ZCU104.
    xilinx(
        "vck190",
        "Xilinx VCK190",
        Chip::Ft4232h,
        &["VCK190"],
        JTAG_ONLY,
        30_000_000,
        None,
        true,
    ),
    // SP701: board "HW-S7-SP701 FT4232H" (Xilinx's FTDI programming script board table;
    // hw_server "Xilinx HW-S7-SP701 FT4232H …A"). openFPGALoader `sp701` →
    // `digilent_ft4232` 08/2B: ADBUS5 OE_B driven low (etherealwake: OE_B on SP701).
    xilinx(
        "sp701",
        "Xilinx SP701",
        Chip::Ft4232h,
        &["HW-S7-SP701"],
        Port::new(0x08, 0x0B | XILINX_OE_B),
        30_000_000,
        None,
        true,
    ),
    // VCU128: board "HW-U1-VCU128 FT4232H" (the script's table; hw_server
    // "Xilinx HW-U1-VCU128 FT4232H 091847100713A"). openFPGALoader `vcu128` → `ft4232`
    // 08/0B.
    xilinx(
        "vcu128",
        "Xilinx VCU128",
        Chip::Ft4232h,
        &["HW-U1-VCU128"],
        JTAG_ONLY,
        30_000_000,
        None,
        true,
    ),
    // VCU1525: board "HW-U1-VCU1525 FT4232H" (dump `ft4232h.bin`; the script's table).
    // openFPGALoader `vcu1525` → `ft4232` 08/0B at 15 MHz.
    xilinx(
        "vcu1525",
        "Xilinx VCU1525",
        Chip::Ft4232h,
        &["HW-U1-VCU1525"],
        JTAG_ONLY,
        15_000_000,
        None,
        false,
    ),
    // PYNQ-Z2 (TUL): FT2232H, board "TUL" (dump `pynqz2_ftdi.bin`; the script's `tul` entry;
    // hw_server "Xilinx TUL 1234-tulA"); every unit's serial is "1234-tul". openFPGALoader
    // `pynq_z2` → `ft2232` (08/0B, and 08/0B on ACBUS). Chosen: 08/0B, ACBUS left alone (no
    // source says what ACBUS3 drives on this board).
    xilinx(
        "pynq-z2",
        "TUL PYNQ-Z2",
        Chip::Ft2232h,
        &["TUL"],
        JTAG_ONLY,
        30_000_000,
        Some("1234-tul"),
        false,
    ),
    // MiniZed: FT2232H, USB strings "Xilinx" / "JTAG+Serial", block vendor "Avnet", board
    // "MiniZed V1" (the image in d-hawkins/avnet_minized_tutorial; hw_server "Avnet MiniZed V1
    // 1234-oj1A"); every unit's serial is "1234-oj1". No tool layout: 08/0B.
    xilinx(
        "minized",
        "Avnet MiniZed",
        Chip::Ft2232h,
        &["MiniZed"],
        JTAG_ONLY,
        30_000_000,
        Some("1234-oj1"),
        true,
    ),
];

/// Looks a row up by name.
pub fn by_name(name: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.name == name)
}

/// Serials that every unit of some board carries.
pub fn is_fixed_serial(serial: &str) -> bool {
    BOARDS.iter().any(|b| b.fixed_serial == Some(serial))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_named_once_and_wires_jtag_the_same_way() {
        for (i, b) in BOARDS.iter().enumerate() {
            assert_eq!(by_name(b.name).map(|r| r.name), Some(b.name));
            assert!(
                BOARDS[i + 1..].iter().all(|o| o.name != b.name),
                "{}",
                b.name
            );
            assert_ne!(b.keep_inputs.low & TDO, 0, "{}: TDO is an input", b.name);
            let Some(w) = b.wiring() else { continue };
            let p = &w.profile;
            assert_eq!(p.name, b.name);
            assert_eq!(p.pid, b.chip.pid());
            // TCK, TDI, TMS outputs; TDO input; TMS idles high.
            assert_eq!(p.gpio.low.dir & 0x0F, 0x0B, "{}", b.name);
            assert_eq!(p.gpio.low.value & 0x08, 0x08, "{}", b.name);
            // Only the MPSSE channels (A, B), and only channels the chip has.
            assert!(
                p.interface <= 1 && p.interface < b.chip.interfaces(),
                "{}",
                b.name
            );
            assert!(
                w.profile.writes_high || p.gpio.high == Port::new(0, 0),
                "{}",
                b.name
            );
            assert!(
                b.chip.has_high_byte() || !w.profile.writes_high,
                "{}",
                b.name
            );
            assert!(p.max_tck_hz <= 30_000_000);
            // A level on an input pin would be meaningless.
            assert_eq!(p.gpio.low.value & !p.gpio.low.dir, 0, "{}", b.name);
            assert_eq!(p.gpio.high.value & !p.gpio.high.dir, 0, "{}", b.name);
        }
    }

    #[test]
    fn no_row_drives_a_pin_its_board_keeps_as_input() {
        for b in BOARDS {
            let Some(w) = b.wiring() else { continue };
            assert_eq!(w.profile.gpio.low.dir & b.keep_inputs.low, 0, "{}", b.name);
            assert_eq!(
                w.profile.gpio.high.dir & b.keep_inputs.high,
                0,
                "{}",
                b.name
            );
        }
    }

    #[test]
    fn no_two_rows_of_a_chip_share_a_name_prefix() {
        let keys = |b: &Board| -> Vec<&'static str> {
            match b.key {
                Key::Digilent { names, .. } => names.to_vec(),
                Key::Xilinx { boards } => boards.to_vec(),
            }
        };
        for (i, a) in BOARDS.iter().enumerate() {
            for b in BOARDS[i + 1..].iter().filter(|b| b.chip == a.chip) {
                for k in keys(a) {
                    assert!(
                        !keys(b).contains(&k),
                        "{} and {} share {k:?}",
                        a.name,
                        b.name
                    );
                }
            }
        }
    }
}
