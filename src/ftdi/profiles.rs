//! The cable table: which USB devices are JTAG cables, and how each is wired. Hardware facts
//! as data; adding a cable is adding a row.

/// How one cable type is identified and wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Short name used in the config (`profile: hs2`) and in status.
    pub name: &'static str,
    /// Human description.
    pub description: &'static str,
    pub vid: u16,
    pub pid: u16,
    /// Required USB manufacturer string (`None`: any). Needed because 0403:6014 is also every
    /// generic FT232H board.
    pub manufacturer: Option<&'static str>,
    /// Required USB product string (`None`: any).
    pub product: Option<&'static str>,
    /// FTDI interface (channel) used for JTAG: 0 = A, 1 = B.
    pub interface: u8,
    /// ADBUS (low byte) initial value and direction (1 = output).
    pub low_value: u8,
    pub low_dir: u8,
    /// ACBUS (high byte) initial value and direction.
    pub high_value: u8,
    pub high_dir: u8,
    /// Fastest TCK the cable supports, in Hz.
    pub max_tck_hz: u64,
    /// Served without a rule naming it (false for generic chips that may be UARTs).
    pub auto_detect: bool,
}

/// Digilent JTAG-HS2: FT232H. ADBUS: TCK/TDI/TDO/TMS on 0..3, ADBUS5 drives the TMS buffer
/// enable, ADBUS6/7 outputs; ACBUS5/6 low select JTAG mode.
pub const HS2: Profile = Profile {
    name: "hs2",
    description: "Digilent JTAG-HS2",
    vid: 0x0403,
    pid: 0x6014,
    manufacturer: Some("Digilent"),
    product: None,
    interface: 0,
    low_value: 0xE8,
    low_dir: 0xEB,
    high_value: 0x00,
    high_dir: 0x60,
    max_tck_hz: 30_000_000,
    auto_detect: true,
};

/// Every known cable profile, most specific first.
pub const PROFILES: &[Profile] = &[HS2];

/// Looks a profile up by its config name.
pub fn by_name(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The profile an attached device matches without any rule naming it, if any.
pub fn detect(
    vid: u16,
    pid: u16,
    manufacturer: Option<&str>,
    product: Option<&str>,
) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| {
        p.auto_detect
            && p.vid == vid
            && p.pid == pid
            && p.manufacturer.is_none_or(|m| manufacturer == Some(m))
            && p.product.is_none_or(|want| product == Some(want))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hs2_is_detected_generic_ft232h_is_not() {
        assert_eq!(
            detect(
                0x0403,
                0x6014,
                Some("Digilent"),
                Some("Digilent Adept USB Device")
            )
            .map(|p| p.name),
            Some("hs2")
        );
        assert_eq!(detect(0x0403, 0x6014, Some("FTDI"), Some("FT232H")), None);
        assert_eq!(detect(0x1234, 0x6014, Some("Digilent"), None), None);
    }
}
