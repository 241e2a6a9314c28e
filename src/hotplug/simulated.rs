//! Simulated cables for `--simulate N`: the same [`CableEvent`]s a udev source produces, for
//! cables with serials `SIM000001`, `SIM000002`, … at USB paths `sim-1`, `sim-2`, ….

use super::{CableEvent, CableInfo};
use std::path::PathBuf;

/// Vendor and product of the simulated cables: those of a Digilent HS2 (FT232H).
pub(crate) const SIM_VID: u16 = 0x0403;
pub(crate) const SIM_PID: u16 = 0x6014;

/// The description of simulated cable number `index` (1-based).
pub fn sim_cable(index: usize) -> CableInfo {
    CableInfo {
        syspath: PathBuf::from(format!("/sim/usb/sim-{index}")),
        serial: Some(format!("SIM{index:06}")),
        usb_path: format!("sim-{index}"),
        busnum: 0,
        devnum: index.min(255) as u8,
        vid: SIM_VID,
        pid: SIM_PID,
        manufacturer: Some("Digilent".into()),
        product: Some("Digilent Adept USB Device".into()),
        bcd_device: crate::ftdi::chip::BCD_FT232H,
        interfaces: 1,
        devnode: None,
        naming: Default::default(),
    }
}

/// Attach events for `count` simulated cables, in order.
pub(crate) fn initial_events(count: usize) -> Vec<CableEvent> {
    (1..=count)
        .map(|i| CableEvent::Attached(sim_cable(i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let c = sim_cable(2);
        assert_eq!(c.serial.as_deref(), Some("SIM000002"));
        assert_eq!(c.usb_path, "sim-2");
        assert_eq!(c.identity(), "SIM000002");
        assert_eq!(initial_events(3).len(), 3);
    }
}
