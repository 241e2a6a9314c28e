//! `xvc-agent list`: the devices plugged in now, identified, and what the config does with each.

use crate::agent::opener::{CableOpener, UsbOpener};
use crate::config;
use std::process::ExitCode;

use super::{config_error_exit, ConfigArg};

/// Options of `xvc-agent list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print JSON (`{"devices": [...]}`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn list(args: &ListArgs) -> ExitCode {
    let (path, explicit) = args.config.path();
    let config = match config::load_or_default(&path, explicit) {
        Ok((c, _)) => c,
        Err(e) => return config_error_exit(&e),
    };
    let filter = crate::agent::wiring::device_filter();
    let devices = match crate::hotplug::udev::present(&filter) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("xvc-agent: cannot enumerate USB devices: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Leases are read, never written: listing changes nothing.
    let leases = crate::agent::leases::Leases::load(&config.state_dir).unwrap_or_default();
    // Each device's EEPROM is read as the agent reads it (vendor requests, nothing claimed); a
    // device this user may not open is identified from its strings, and says so.
    let devices: Vec<_> = devices
        .into_iter()
        .map(|info| {
            let eeprom = UsbOpener.read_eeprom(&info);
            (info, eeprom)
        })
        .collect();
    let rows = crate::agent::listing::list(&config, &devices, &leases);
    if args.json {
        let doc = serde_json::json!({ "devices": rows });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print!("{}", crate::agent::listing::render(&rows));
    }
    ExitCode::SUCCESS
}
