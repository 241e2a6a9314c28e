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

/// Looks a part up by name (used by `--simulate-chain` style options and tests).
pub fn by_name(name: &str) -> Option<Part> {
    [XC7A35T, XC7Z020, ARM_DAP]
        .into_iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}
