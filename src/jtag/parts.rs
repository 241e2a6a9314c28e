//! Naming the device behind an IDCODE: a small table of common Xilinx parts, and the family
//! encoded in the IDCODE for the rest. Data, not logic.

/// JEDEC manufacturer code of Xilinx/AMD as it appears in IDCODE bits 11..0.
const XILINX_MANUFACTURER: u32 = 0x093;

/// Known parts: IDCODE with the version nibble (bits 31..28) cleared, and the part name.
const XILINX_PARTS: &[(u32, &str)] = &[
    // Artix-7
    (0x0362_D093, "xc7a35t"),
    (0x0362_C093, "xc7a50t"),
    (0x0363_2093, "xc7a75t"),
    (0x0363_1093, "xc7a100t"),
    (0x0363_6093, "xc7a200t"),
    // Spartan-7
    (0x037C_4093, "xc7s25"),
    (0x0362_F093, "xc7s50"),
    // Kintex-7
    (0x0364_7093, "xc7k70t"),
    (0x0364_C093, "xc7k160t"),
    (0x0365_1093, "xc7k325t"),
    (0x0365_6093, "xc7k410t"),
    // Zynq-7000 (programmable logic TAP)
    (0x0372_3093, "xc7z007s"),
    (0x0372_2093, "xc7z010"),
    (0x0372_7093, "xc7z020"),
    (0x0372_C093, "xc7z030"),
    (0x0373_1093, "xc7z045"),
    (0x0373_6093, "xc7z100"),
    // Kintex UltraScale
    (0x0382_2093, "xcku040"),
    (0x0391_9093, "xcku060"),
    // Zynq UltraScale+ (programmable logic TAP)
    (0x0471_1093, "xczu2"),
    (0x0471_0093, "xczu3"),
    (0x0472_1093, "xczu4"),
    (0x0472_0093, "xczu5"),
    (0x0473_0093, "xczu7"),
    (0x0473_8093, "xczu9"),
    // Versal
    (0x04CA_8093, "xcvc1902"),
];

/// ARM CoreSight DAPs that sit on Xilinx SoC chains (version nibble cleared).
const ARM_DAPS: &[(u32, &str)] = &[(0x0BA0_0477, "arm_dap")];

/// What an IDCODE says about a device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartName {
    /// Part name (`xc7a35t`), or a description when the part itself is not in the table.
    pub name: String,
    /// Family (`7-series`, `Zynq UltraScale+`, …), when known.
    pub family: Option<&'static str>,
}

/// Family from IDCODE bits 27..21 of a Xilinx part.
fn xilinx_family(idcode: u32) -> Option<&'static str> {
    match (idcode >> 21) & 0x7F {
        // Zynq-7000 device codes (bits 20..12) are 0x120..=0x13F within the 7-series family.
        0x1B if (0x120..=0x13F).contains(&((idcode >> 12) & 0x1FF)) => Some("Zynq-7000"),
        0x1B => Some("7-series"),
        0x1C => Some("UltraScale"),
        0x24 | 0x25 => Some("UltraScale+"),
        0x23 => Some("Zynq UltraScale+"),
        0x26 => Some("Versal"),
        _ => None,
    }
}

/// Names the device behind `idcode`.
pub fn describe(idcode: u32) -> PartName {
    let masked = idcode & 0x0FFF_FFFF;
    if let Some((_, name)) = XILINX_PARTS.iter().find(|(id, _)| *id == masked) {
        return PartName {
            name: (*name).to_string(),
            family: xilinx_family(masked),
        };
    }
    if let Some((_, name)) = ARM_DAPS.iter().find(|(id, _)| *id == masked) {
        return PartName {
            name: (*name).to_string(),
            family: Some("ARM CoreSight"),
        };
    }
    let family = if idcode & 0xFFF == XILINX_MANUFACTURER {
        xilinx_family(masked)
    } else {
        None
    };
    let name = match family {
        Some(f) => format!("unknown {f} part"),
        None if idcode & 0xFFF == XILINX_MANUFACTURER => "unknown Xilinx part".to_string(),
        None => "unknown part".to_string(),
    };
    PartName { name, family }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_parts_ignore_the_version() {
        assert_eq!(describe(0x0362_D093).name, "xc7a35t");
        assert_eq!(describe(0x1362_D093).name, "xc7a35t");
        assert_eq!(describe(0x0362_D093).family, Some("7-series"));
        assert_eq!(describe(0x2372_7093).name, "xc7z020");
        assert_eq!(describe(0x0372_7093).family, Some("Zynq-7000"));
        assert_eq!(describe(0x4BA0_0477).name, "arm_dap");
        assert_eq!(describe(0x1473_0093).family, Some("Zynq UltraScale+"));
    }

    #[test]
    fn unknown_parts_keep_the_family() {
        assert_eq!(describe(0x0364_0093).name, "unknown 7-series part");
        assert_eq!(describe(0x1234_5679).name, "unknown part");
    }
}
