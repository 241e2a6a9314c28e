//! The opener of `--simulate`: every cable an emulated JTAG-HS2 with an xc7a35t behind it,
//! driven through the production FTDI driver, its EEPROM a real HS2's.

use super::CableOpener;
use crate::ftdi::profiles::Profile;
use crate::ftdi::CableOptions;
use crate::hotplug::CableInfo;
use crate::jtag::{Cable, CableError};
use crate::logging::{cable_log, CableFields};
use crate::sim::ft232h::Ft232h;
use crate::sim::series7::ConfigRecord;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Opens simulated cables: each is an emulated HS2 (FT232H) with its own chain holding one
/// xc7a35t, driven by [`FtdiCable`](crate::ftdi::FtdiCable) with the `hs2` profile.
/// ([`DirectCable`](crate::sim::DirectCable) remains the driver-free reference.)
///
/// It keeps the chip it last opened for each cable, so that status can show what the
/// simulated FPGA received, and each completed configuration is logged with the cable's
/// fields.
#[derive(Debug, Default, Clone)]
pub struct SimulatedOpener {
    chips: Arc<Mutex<HashMap<PathBuf, Ft232h>>>,
    flip_cfg_in_bit: Option<u64>,
}

impl SimulatedOpener {
    /// An opener whose FPGAs receive CFG_IN bit `n` inverted: a test-only fault that proves a
    /// corrupted stream shows in the record and leaves DONE low.
    pub fn with_flipped_cfg_in_bit(n: u64) -> Self {
        SimulatedOpener {
            flip_cfg_in_bit: Some(n),
            ..Self::default()
        }
    }
}

impl CableOpener for SimulatedOpener {
    fn open(
        &self,
        info: &CableInfo,
        profile: &'static Profile,
        options: &CableOptions,
    ) -> Result<Box<dyn Cable>, CableError> {
        let mut chain = crate::sim::JtagChain::xc7a35t();
        if let Some(n) = self.flip_cfg_in_bit {
            chain.flip_cfg_in_bit(n);
        }
        let (identity, usb_path) = (info.identity(), info.usb_path.clone());
        chain.on_configured(Arc::new(move |r: &ConfigRecord| {
            let fields = CableFields {
                identity: &identity,
                usb_path: &usb_path,
                port: None,
            };
            cable_log!(
                info,
                fields,
                "simulated {} configured: DONE after {} CFG_IN bits, sha256 {}",
                r.part,
                r.cfg_in_bits,
                r.sha256_hex()
            );
        }));
        let chip = Ft232h::hs2(chain);
        self.chips.lock().insert(info.syspath.clone(), chip.clone());
        let cable = crate::ftdi::FtdiCable::open_with(chip, profile, *options)?;
        Ok(Box::new(cable))
    }

    /// A simulated cable is an HS2: its EEPROM is a real HS2's.
    fn read_eeprom(&self, _info: &CableInfo) -> Result<Vec<u8>, String> {
        Ok(crate::ftdi::identify::eeprom::dumps::HS2.to_vec())
    }

    fn simulated_fpga(&self, info: &CableInfo) -> Vec<ConfigRecord> {
        let chips = self.chips.lock();
        chips
            .get(&info.syspath)
            .map(|chip| chip.with_chain(|c| c.config_records()))
            .unwrap_or_default()
    }
}
