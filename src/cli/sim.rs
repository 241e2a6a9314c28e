//! The hidden subcommands that serve emulated devices to the test harnesses: `sim-usb-device` (umockdev) and `sim-usbredir` (QEMU).

use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `xvc-agent sim-usb-device`.
#[derive(Debug, clap::Args)]
pub struct SimUsbDeviceArgs {
    /// Board row to simulate (chip, EEPROM, wiring, faults). Without it: the plain HS2
    /// emulator (blank EEPROM).
    #[arg(long, value_name = "NAME")]
    pub board: Option<String>,
    /// The board's USB serial number (boards whose units share one keep theirs).
    #[arg(long, default_value = "SIMBOARD0001")]
    pub serial: String,
}

/// Options of `xvc-agent sim-usbredir`.
#[derive(Debug, clap::Args)]
pub struct SimUsbredirArgs {
    /// Unix socket to listen on (QEMU connects to it).
    #[arg(long, value_name = "PATH")]
    pub listen: PathBuf,
    /// The cable's USB serial number (boards whose units share one keep theirs).
    #[arg(long, default_value = "SIMREDIR0001")]
    pub serial: String,
    /// Board row to simulate (chip, EEPROM, wiring, faults). Without it: the plain HS2.
    #[arg(long, value_name = "NAME")]
    pub board: Option<String>,
    /// The USB product string.
    #[arg(long)]
    pub product: Option<String>,
}

pub(super) fn sim_usb_device(args: &SimUsbDeviceArgs) -> ExitCode {
    use crate::sim::usb_pipe::{DeviceFactory, PipeDevice};
    let factory: DeviceFactory = match &args.board {
        None => Box::new(PipeDevice::hs2),
        Some(name) => {
            let (name, serial) = (name.clone(), args.serial.clone());
            let make =
                move || crate::sim::SimBoard::new(&name, &serial, crate::sim::JtagChain::xc7a35t());
            if let Err(e) = make() {
                eprintln!("xvc-agent sim-usb-device: {e}");
                return ExitCode::FAILURE;
            }
            Box::new(move || make().expect("checked at start").pipe_device())
        }
    };
    match crate::sim::usb_pipe::serve_stdio(factory) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvc-agent sim-usb-device: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(super) fn sim_usbredir(args: &SimUsbredirArgs) -> ExitCode {
    use crate::sim::usbredir;
    let mut served = match &args.board {
        None => usbredir::Served::hs2(&args.serial),
        Some(name) => match usbredir::Served::board(name, &args.serial) {
            Ok(served) => served,
            Err(e) => {
                eprintln!("xvc-agent sim-usbredir: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    if let Some(p) = &args.product {
        served.described.identity.product = p.clone();
    }
    match usbredir::serve(&args.listen, served, std::io::stdin(), std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvc-agent sim-usbredir: {e}");
            ExitCode::FAILURE
        }
    }
}
