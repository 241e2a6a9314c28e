//! Catalogue of simulated JTAG parts: what a device looks like on the chain (IDCODE, IR length,
//! instruction codes). Data, not behaviour.

/// A JTAG part as seen from the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Marketing name, e.g. `xc7a35t`.
    pub name: &'static str,
    /// 32-bit IDCODE (bit 0 is always 1).
    pub idcode: u32,
    /// Instruction register length in bits.
    pub ir_len: u8,
    /// Opcode selecting the IDCODE register.
    pub idcode_instr: u32,
    /// True for Xilinx 7-series configuration logic (CFG_IN, JPROGRAM, JSTART, DONE).
    pub series7_config: bool,
}

/// Xilinx Artix-7 35T (the part on Digilent Arty/Basys/Cmod boards).
pub const XC7A35T: Part = Part {
    name: "xc7a35t",
    idcode: 0x0362_D093,
    ir_len: 6,
    idcode_instr: 0x09,
    series7_config: true,
};

/// Xilinx Zynq-7020 programmable logic TAP.
pub const XC7Z020: Part = Part {
    name: "xc7z020",
    idcode: 0x0372_7093,
    ir_len: 6,
    idcode_instr: 0x09,
    series7_config: true,
};

/// ARM CoreSight DAP found in front of the Zynq-7000 PL TAP.
pub const ARM_DAP: Part = Part {
    name: "arm_dap",
    idcode: 0x4BA0_0477,
    ir_len: 4,
    idcode_instr: 0x0E,
    series7_config: false,
};

/// The 7-series configuration interface as seen over JTAG (UG470, "JTAG instructions" and
/// "instruction capture"). Opcodes are for the 6-bit IR of single-die parts.
pub mod series7 {
    /// Configuration readback.
    pub const CFG_OUT: u64 = 0x04;
    /// Configuration data input: the data register streams into the configuration logic.
    pub const CFG_IN: u64 = 0x05;
    pub const USERCODE: u64 = 0x08;
    pub const IDCODE: u64 = 0x09;
    /// Equivalent to pulsing PROGRAM_B: clears the configuration memory.
    pub const JPROGRAM: u64 = 0x0B;
    /// Runs the startup sequence on TCK cycles spent in Run-Test/Idle.
    pub const JSTART: u64 = 0x0C;
    pub const JSHUTDOWN: u64 = 0x0D;
    pub const BYPASS: u64 = 0x3F;

    /// Instruction-capture bits: a 7-series part loads these into its IR in Capture-IR, so a
    /// programmer reads configuration status while shifting any instruction in.
    /// Bits 1..0 are the mandatory `01`.
    pub const CAPTURE_FIXED: u64 = 0b01;
    /// End of startup reached (ISC_DONE).
    pub const CAPTURE_ISC_DONE: u64 = 1 << 2;
    /// In-system configuration mode enabled (ISC_ENABLE issued).
    pub const CAPTURE_ISC_ENABLED: u64 = 1 << 3;
    /// Configuration memory cleared, ready for data (INIT_COMPLETE / INIT_B high).
    pub const CAPTURE_INIT: u64 = 1 << 4;
    /// The DONE signal.
    pub const CAPTURE_DONE: u64 = 1 << 5;

    /// TCK cycles of housecleaning after JPROGRAM before INIT reads back high. Real parts take
    /// milliseconds of wall time; the model counts clocks so it stays deterministic and a
    /// programmer's INIT polling loop is exercised.
    pub const HOUSECLEANING_CYCLES: u64 = 64;
    /// Run-Test/Idle cycles after a completed configuration (counted afresh from JSTART)
    /// after which the startup sequence has released DONE.
    pub const STARTUP_CYCLES: u64 = 16;
    /// Length of the CFG_IN data register: one configuration word.
    pub const CFG_IN_LEN: u8 = 32;
}

/// Looks a part up by name (used by `--simulate-chain` style options and tests).
pub fn by_name(name: &str) -> Option<Part> {
    [XC7A35T, XC7Z020, ARM_DAP]
        .into_iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}
