//! How each board is wired around its FTDI chip, as the emulator models it: which channel
//! carries the TAP, which pin levels its buffers need before the TAP sees TCK, and what the
//! other channels and pins are for (so driving them is a fault).
//!
//! Written from the boards' public documentation, not from the agent's board table, so that a
//! test against it checks the agent's table instead of repeating it. Sources: OpenOCD
//! `tcl/interface/ftdi/digilent*.cfg` and `tcl/board/*.cfg`, openFPGALoader `src/cable.hpp`,
//! and "Xilinx JTAG Support on FTDI" (etherealwake.com, 2024) for the Xilinx pin map. An
//! enable is modelled only where the sources agree on it; a pin no source names has no enable
//! and no fault.

use crate::sim::ft232h::Wiring;

/// One board's wiring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardWiring {
    /// The board row's name (`ftdi::identify::boards`).
    pub board: &'static str,
    /// The channel whose ADBUS0..3 reach the TAP (0 = A); `None`: no TAP is reachable.
    pub jtag: Option<u8>,
    /// Levels the JTAG channel must drive before the TAP sees TCK.
    pub enables: Wiring,
    /// JTAG-channel ADBUS pins (bit, name) that must never be outputs.
    pub inputs: &'static [(u8, &'static str)],
    /// A channel that is a DPTI FIFO to the FPGA (nothing but its own software may use it).
    pub dpti: Option<u8>,
    /// The whole chip belongs to an instrument: no bit mode, no pin.
    pub instrument: bool,
}

/// No enable: the TAP sees TCK whenever TCK is an output.
const DIRECT: Wiring = Wiring {
    low_mask: 0,
    low_value: 0,
    high_mask: 0,
    high_value: 0,
    no_tap: false,
};

/// Xilinx reference design (etherealwake): ADBUS4 VCCO sense is an input; ADBUS6 POR_B and
/// ADBUS7 SRST_B are open-collector resets that only the target side may pull.
const XILINX_INPUTS: &[(u8, &str)] = &[
    (4, "VCCO sense input"),
    (6, "POR_B, an open-collector reset"),
    (7, "SRST_B, an open-collector reset"),
];

/// A board with JTAG on channel `jtag` and nothing else to guard.
const fn plain(board: &'static str, jtag: u8, enables: Wiring) -> BoardWiring {
    BoardWiring {
        board,
        jtag: Some(jtag),
        enables,
        inputs: &[],
        dpti: None,
        instrument: false,
    }
}

/// A Xilinx `program_ftdi` board: JTAG on channel A with the reference design's pins.
const fn xilinx(board: &'static str, enables: Wiring) -> BoardWiring {
    BoardWiring {
        inputs: XILINX_INPUTS,
        ..plain(board, 0, enables)
    }
}

/// A Digilent board whose channel A is the DPTI FIFO, JTAG on B. OpenOCD `nexys-video.cfg`
/// and `genesys-2.cfg` ("channel 0 is dedicated for Digilent's DPTI") and openFPGALoader's
/// `digilent_b` agree on channel B; they disagree on the pin levels, so no enable.
const fn dpti(board: &'static str) -> BoardWiring {
    BoardWiring {
        dpti: Some(0),
        ..plain(board, 1, DIRECT)
    }
}

/// The table, one entry per board row.
pub const WIRING: &[BoardWiring] = &[
    // JTAG-HS2: ADBUS5 high enables the TMS buffer, ACBUS5/6 low select JTAG (OpenOCD
    // `digilent-hs2.cfg` 0x00e8/0x60eb and openFPGALoader `digilent_hs2` agree).
    plain("hs2", 0, Wiring::HS2),
    // JTAG-HS3, ZedBoard, JTAG-SMT2: the sources' layouts differ or name only a reset (SRST
    // on ACBUS5): no enable.
    plain("hs3", 0, DIRECT),
    plain("zedboard", 0, DIRECT),
    plain("smt2", 0, DIRECT),
    // JTAG-SMT2-NC: OpenOCD `digilent_jtag_smt2_nc.cfg` and openFPGALoader `jtag-smt2-nc` both
    // use the HS2's layout, OpenOCD noting the SMT2's layout "does not work and hangs": the
    // HS2's enables.
    plain("smt2-nc", 0, Wiring::HS2),
    // Analog/Digital Discovery: the FT232H talks to the instrument's own FPGA.
    BoardWiring {
        board: "discovery",
        jtag: None,
        enables: DIRECT,
        inputs: &[],
        dpti: None,
        instrument: true,
    },
    // Digilent FT2232H boards with JTAG on A, UART on B (OpenOCD `digilent-hs1.cfg` 88/8B,
    // openFPGALoader `digilent` E8/EB + 00/60: no pin both call an enable).
    plain("hs1", 0, DIRECT),
    plain("smt1", 0, DIRECT),
    plain("arty", 0, DIRECT),
    plain("basys3", 0, DIRECT),
    plain("nexys4", 0, DIRECT),
    plain("zybo-z7", 0, DIRECT),
    plain("arty-z7", 0, DIRECT),
    plain("cmod-a7", 0, DIRECT),
    plain("genesys-zu", 0, DIRECT),
    plain("eclypse-z7", 0, DIRECT),
    dpti("nexys-video"),
    dpti("genesys2"),
    // Xilinx boards. SP701: ADBUS5 is OE_B, active low (etherealwake; openFPGALoader `sp701`
    // drives it low). The others: no OE_B named for them.
    xilinx("zcu104", DIRECT),
    xilinx("vck190", DIRECT),
    xilinx(
        "sp701",
        Wiring {
            low_mask: 0x20,
            low_value: 0x00,
            ..DIRECT
        },
    ),
    xilinx("vcu128", DIRECT),
    xilinx("vcu1525", DIRECT),
    xilinx("pynq-z2", DIRECT),
    xilinx("minized", DIRECT),
];

/// The wiring of board row `name`.
pub fn by_name(name: &str) -> Option<&'static BoardWiring> {
    WIRING.iter().find(|w| w.board == name)
}
