//! The cable table: which USB devices are JTAG cables, and how each is wired. Hardware facts
//! as data; adding a cable is adding a row.
//!
//! Pin layouts follow the vendors' reference material as collected in OpenOCD's
//! `interface/ftdi/digilent*.cfg`: ADBUS0..3 are TCK/TDI/TDO/TMS on every row; the remaining
//! bits drive each cable's buffer enables and mode selects.

use crate::ftdi::chip::{self, Gpio, Port};
use crate::ftdi::mpsse::Edge;

/// On which TCK edge TDO is sampled: fixed, or chosen from the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TdoEdge {
    /// Rising edge (the JTAG standard's sampling point).
    #[default]
    Rising,
    /// Falling edge: half a period more for TDO to arrive over long cables / buffers.
    Falling,
    /// Falling edge at or above 15 MHz (`TdoEdge::AUTO_FALLING_HZ`), rising below.
    Auto,
}

impl TdoEdge {
    /// Clock at which `Auto` switches to the falling edge.
    pub(crate) const AUTO_FALLING_HZ: u64 = 15_000_000;

    /// The edge to use at a TCK frequency.
    pub fn resolve(self, tck_hz: u64) -> Edge {
        match self {
            TdoEdge::Rising => Edge::Rising,
            TdoEdge::Falling => Edge::Falling,
            TdoEdge::Auto if tck_hz >= Self::AUTO_FALLING_HZ => Edge::Falling,
            TdoEdge::Auto => Edge::Rising,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TdoEdge::Rising => "rising",
            TdoEdge::Falling => "falling",
            TdoEdge::Auto => "auto",
        }
    }
}

impl std::str::FromStr for TdoEdge {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rising" => Ok(TdoEdge::Rising),
            "falling" => Ok(TdoEdge::Falling),
            "auto" => Ok(TdoEdge::Auto),
            other => Err(format!(
                "unknown TDO edge '{other}' (expected rising, falling or auto)"
            )),
        }
    }
}

impl std::fmt::Display for TdoEdge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// ADBUS (low byte) and ACBUS (high byte) initial levels and directions.
    pub(crate) gpio: Gpio,
    /// Fastest TCK the cable supports, in Hz.
    pub max_tck_hz: u64,
    /// TDO sampling edge when the configuration does not say.
    pub default_tdo_edge: TdoEdge,
    /// Served without a rule naming it (false for generic chips that may be UARTs, and for
    /// cables whose USB strings cannot be told apart from another row's).
    pub auto_detect: bool,
}

/// Digilent JTAG-HS2: FT232H. ADBUS: TCK/TDI/TDO/TMS on 0..3, ADBUS5 drives the TMS buffer
/// enable, ADBUS6/7 outputs; ACBUS5/6 low select JTAG mode.
pub const HS2: Profile = Profile {
    name: "hs2",
    description: "Digilent JTAG-HS2",
    vid: chip::VID,
    pid: chip::PID_FT232H,
    manufacturer: Some("Digilent"),
    product: Some("Digilent Adept USB Device"),
    interface: 0,
    gpio: Gpio {
        low: Port::new(0xE8, 0xEB),
        high: Port::new(0x00, 0x60),
    },
    max_tck_hz: 30_000_000,
    default_tdo_edge: TdoEdge::Rising,
    auto_detect: true,
};

/// Digilent JTAG-SMT2 (surface-mount module, FT232H). ADBUS5..7 and ACBUS0..5 are outputs;
/// ACBUS5 high is the module's reset line held inactive. Its USB strings match the HS3's and
/// SMT2-NC's, so it is served only when a rule names `profile: smt2`.
pub(crate) const SMT2: Profile = Profile {
    name: "smt2",
    description: "Digilent JTAG-SMT2",
    vid: chip::VID,
    pid: chip::PID_FT232H,
    manufacturer: Some("Digilent"),
    product: Some("Digilent USB Device"),
    interface: 0,
    gpio: Gpio {
        low: Port::new(0xE8, 0xEB),
        high: Port::new(0x20, 0x3F),
    },
    max_tck_hz: 30_000_000,
    default_tdo_edge: TdoEdge::Rising,
    auto_detect: false,
};

/// Digilent JTAG-SMT2-NC (the SMT2 without the reset circuit, e.g. on KCU105): wired like the
/// HS2. Served only when a rule names `profile: smt2-nc`.
pub(crate) const SMT2_NC: Profile = Profile {
    name: "smt2-nc",
    description: "Digilent JTAG-SMT2-NC",
    vid: chip::VID,
    pid: chip::PID_FT232H,
    manufacturer: Some("Digilent"),
    product: Some("Digilent USB Device"),
    interface: 0,
    gpio: Gpio {
        low: Port::new(0xE8, 0xEB),
        high: Port::new(0x00, 0x60),
    },
    max_tck_hz: 30_000_000,
    default_tdo_edge: TdoEdge::Rising,
    auto_detect: false,
};

/// Digilent JTAG-HS3 (FT232H). ACBUS4 is the active-low output enable of the JTAG buffers
/// (driven low), ACBUS5 the reset line (held high). Served only when a rule names
/// `profile: hs3`.
pub(crate) const HS3: Profile = Profile {
    name: "hs3",
    description: "Digilent JTAG-HS3",
    vid: chip::VID,
    pid: chip::PID_FT232H,
    manufacturer: Some("Digilent"),
    product: Some("Digilent USB Device"),
    interface: 0,
    gpio: Gpio {
        low: Port::new(0x88, 0x8B),
        high: Port::new(0x20, 0x30),
    },
    max_tck_hz: 30_000_000,
    default_tdo_edge: TdoEdge::Rising,
    auto_detect: false,
};

/// The Digilent JTAG built onto boards (Arty, Basys 3, Nexys, Cmod ...): FT2232H, JTAG on
/// channel A, the UART on channel B left to `ftdi_sio`. Only TCK/TDI/TDO/TMS plus ADBUS7.
pub(crate) const DIGILENT_ONBOARD: Profile = Profile {
    name: "digilent-onboard",
    description: "Digilent on-board JTAG (FT2232H channel A)",
    vid: chip::VID,
    pid: chip::PID_FT2232H,
    manufacturer: Some("Digilent"),
    product: None,
    interface: 0,
    gpio: Gpio {
        low: Port::new(0x88, 0x8B),
        high: Port::new(0x00, 0x00),
    },
    max_tck_hz: 30_000_000,
    default_tdo_edge: TdoEdge::Rising,
    auto_detect: true,
};

/// Every known cable profile, most specific first.
pub const PROFILES: &[Profile] = &[HS2, SMT2, SMT2_NC, HS3, DIGILENT_ONBOARD];

/// Looks a profile up by its config name.
pub(crate) fn by_name(name: &str) -> Option<&'static Profile> {
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

    #[test]
    fn onboard_ft2232h_is_detected_generic_ft2232h_is_not() {
        assert_eq!(
            detect(
                0x0403,
                0x6010,
                Some("Digilent"),
                Some("Digilent USB Device")
            )
            .map(|p| p.name),
            Some("digilent-onboard")
        );
        assert_eq!(
            detect(0x0403, 0x6010, Some("FTDI"), Some("Dual RS232-HS")),
            None
        );
    }

    #[test]
    fn every_row_is_named_uniquely_and_wires_jtag_the_same_way() {
        for (i, p) in PROFILES.iter().enumerate() {
            assert_eq!(by_name(p.name), Some(p), "{}", p.name);
            assert!(PROFILES[i + 1..].iter().all(|q| q.name != p.name));
            // TCK, TDI, TMS outputs; TDO input; TMS idles high.
            assert_eq!(p.gpio.low.dir & 0x0F, 0x0B, "{}", p.name);
            assert_eq!(p.gpio.low.value & 0x08, 0x08, "{}", p.name);
            assert!(p.max_tck_hz <= 30_000_000);
        }
    }

    #[test]
    fn tdo_edge_resolution() {
        assert_eq!(TdoEdge::Auto.resolve(30_000_000), Edge::Falling);
        assert_eq!(TdoEdge::Auto.resolve(15_000_000), Edge::Falling);
        assert_eq!(TdoEdge::Auto.resolve(10_000_000), Edge::Rising);
        assert_eq!(TdoEdge::Rising.resolve(30_000_000), Edge::Rising);
        assert_eq!("falling".parse::<TdoEdge>(), Ok(TdoEdge::Falling));
        assert!("up".parse::<TdoEdge>().is_err());
    }
}
