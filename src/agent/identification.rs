//! The agent's side of identification: the udev facts of an attached device and its EEPROM
//! read (or why it could not be read) in, the decision and how the device is then named out.
//! Exists so the supervisor and `xvc-agent list` decide alike; the decision itself is
//! [`ftdi::identify`](crate::ftdi::identify), pure.

use crate::ftdi::identify::{self, EepromRead, Identification, Identity, UsbFacts};
use crate::hotplug::{CableInfo, Naming};

/// What reading a device's EEPROM gave: the image, or why not.
pub(crate) type EepromResult = Result<Vec<u8>, String>;

/// Identifies the device `info` describes from its facts and its EEPROM.
pub(crate) fn identify_device(info: &CableInfo, eeprom: &EepromResult) -> Identification {
    let facts = UsbFacts {
        vid: info.vid,
        pid: info.pid,
        manufacturer: info.manufacturer.as_deref(),
        product: info.product.as_deref(),
        serial: info.serial.as_deref(),
        bcd_device: info.bcd_device,
        interfaces: info.interfaces,
    };
    let read = match eeprom {
        Ok(image) => EepromRead::Image(image),
        Err(why) => EepromRead::Unreadable(why),
    };
    identify::identify(&facts, read)
}

/// How a device so identified is named: a board served on one channel of a multi-channel chip
/// by its serial and the channel letter, a board whose units share one serial by its USB
/// path, anything else by its serial (else its USB path).
pub(crate) fn naming(info: &CableInfo, id: &Identification) -> Naming {
    match id.identity {
        Identity::UsbPathFixedSerial => Naming::UsbPath,
        Identity::UsbPathNoSerial => Naming::Serial,
        Identity::Serial => match id.profile() {
            Some(profile) if info.interfaces > 1 => Naming::SerialAndChannel(profile.interface),
            _ => Naming::Serial,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftdi::identify::eeprom::dumps;
    use crate::hotplug::simulated::sim_cable;

    #[test]
    fn an_hs2_is_named_by_its_serial_a_pynq_z2_by_its_usb_path() {
        let hs2 = sim_cable(1);
        let id = identify_device(&hs2, &Ok(dumps::HS2.to_vec()));
        assert_eq!(id.board().map(|b| b.name), Some("hs2"));
        assert_eq!(naming(&hs2, &id), Naming::Serial);

        let pynq = CableInfo {
            serial: Some("1234-tul".into()),
            pid: crate::ftdi::chip::PID_FT2232H,
            bcd_device: crate::ftdi::chip::BCD_FT2232H,
            interfaces: 2,
            manufacturer: Some("Xilinx".into()),
            ..sim_cable(2)
        };
        let id = identify_device(&pynq, &Ok(dumps::PYNQ_Z2.to_vec()));
        assert_eq!(id.board().map(|b| b.name), Some("pynq-z2"));
        assert_eq!(naming(&pynq, &id), Naming::UsbPath);
        let named = CableInfo {
            naming: naming(&pynq, &id),
            ..pynq
        };
        assert_eq!(named.identity(), "sim-2");
    }

    #[test]
    fn a_channel_of_a_multi_channel_board_is_named_with_its_letter() {
        let smt1 = CableInfo {
            serial: Some("210203ABCDEF".into()),
            pid: crate::ftdi::chip::PID_FT2232H,
            bcd_device: crate::ftdi::chip::BCD_FT2232H,
            interfaces: 2,
            ..sim_cable(3)
        };
        let id = identify_device(&smt1, &Ok(dumps::SMT1.to_vec()));
        assert_eq!(id.board().map(|b| b.name), Some("smt1"));
        let named = CableInfo {
            naming: naming(&smt1, &id),
            ..smt1
        };
        assert_eq!(named.identity(), "210203ABCDEFA");
    }

    #[test]
    fn an_unreadable_eeprom_falls_back_to_the_strings() {
        let hs2 = sim_cable(1);
        let id = identify_device(&hs2, &Err("permission denied".into()));
        assert_eq!(id.board().map(|b| b.name), Some("hs2"));
        assert!(id.evidence.contains("permission denied"), "{}", id.evidence);
    }
}
