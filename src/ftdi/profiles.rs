//! How a cable is wired ([`Profile`]: channel, pins, clock, TDO edge). Which device is which
//! cable, and the names a rule may give with `profile:`, are
//! [`identify`](crate::ftdi::identify)'s: the board table's rows plus the generic profiles
//! here. This module holds the wiring type the driver reads, below both.
//!
//! ADBUS0..3 are TCK/TDI/TDO/TMS on every profile; the remaining bits drive each cable's
//! buffer enables and mode selects.

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

/// How one cable type is wired: the channel, the pins and the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Short name used in the config (`profile: hs2`) and in status.
    pub name: &'static str,
    /// Human description.
    pub description: &'static str,
    pub vid: u16,
    pub pid: u16,
    /// FTDI interface (channel) used for JTAG: 0 = A, 1 = B.
    pub interface: u8,
    /// ADBUS (low byte) and ACBUS (high byte) initial levels and directions.
    pub(crate) gpio: Gpio,
    /// Whether the high byte is written at all. When false its direction and value are 0 here
    /// and the chip's reset state (every pin an input) is left alone: a board whose ACBUS use
    /// is unknown, and the FT4232H, which has no high byte.
    pub writes_high: bool,
    /// Fastest TCK the cable supports, in Hz.
    pub max_tck_hz: u64,
    /// TDO sampling edge when the configuration does not say.
    pub default_tdo_edge: TdoEdge,
}

/// Digilent JTAG-HS2: FT232H. ADBUS: TCK/TDI/TDO/TMS on 0..3, ADBUS5 drives the TMS buffer
/// enable, ADBUS6/7 outputs; ACBUS5/6 low select JTAG mode. The same wiring as the `hs2` row
/// of the board table, kept as a constant for the simulated cables and the tests.
pub const HS2: Profile = Profile {
    name: "hs2",
    description: "Digilent JTAG-HS2",
    vid: chip::VID,
    pid: chip::PID_FT232H,
    interface: 0,
    gpio: Gpio {
        low: Port::new(0xE8, 0xEB),
        high: Port::new(0x00, 0x60),
    },
    writes_high: true,
    max_tck_hz: 30_000_000,
    default_tdo_edge: TdoEdge::Rising,
};

/// A Digilent FT2232H board with its JTAG on channel A, whichever board it is: TCK/TDI/TDO/TMS
/// plus ADBUS7 high, the high byte left alone. Never chosen by identification (a board is
/// identified by its own row); a rule may name it for a board the table does not know.
pub(crate) const DIGILENT_ONBOARD: Profile = Profile {
    name: "digilent-onboard",
    description: "Digilent on-board JTAG (FT2232H channel A)",
    vid: chip::VID,
    pid: chip::PID_FT2232H,
    interface: 0,
    gpio: Gpio {
        low: Port::new(0x88, 0x8B),
        high: Port::new(0x00, 0x00),
    },
    writes_high: false,
    max_tck_hz: 30_000_000,
    default_tdo_edge: TdoEdge::Auto,
};

/// Profiles a rule may name beyond the rows of the board table.
pub const GENERIC: &[Profile] = &[DIGILENT_ONBOARD];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generic_profile_wires_jtag_the_standard_way() {
        for p in GENERIC {
            // TCK, TDI, TMS outputs; TDO input; TMS idles high.
            assert_eq!(p.gpio.low.dir & 0x0F, 0x0B, "{}", p.name);
            assert_eq!(p.gpio.low.value & 0x08, 0x08, "{}", p.name);
            assert!(
                p.writes_high || p.gpio.high == Port::new(0, 0),
                "{}",
                p.name
            );
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
