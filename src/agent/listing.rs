//! `xvc-agent list`: the USB devices plugged in right now, straight from udev (no agent
//! needed), with what the current config would do with each — the serial and USB path to
//! paste into a rule, the profile, the rule and the port.

use crate::agent::assign::{assign, AttachedCable};
use crate::agent::identification::{identify_device, naming, EepromResult};
use crate::agent::leases::Leases;
use crate::config::Config;
use crate::hotplug::CableInfo;
use crate::table::{self, Row};
use serde::Serialize;

/// One device and its fate under the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub serial: Option<String>,
    pub usb_path: String,
    pub vid_pid: String,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    /// What its EEPROM calls it (Digilent product name, or Xilinx vendor and board).
    pub device: Option<String>,
    /// How rules, leases and reservations name it (serial, serial and channel, or USB path).
    pub identity: String,
    /// Identified or rule-given profile.
    pub profile: Option<String>,
    /// The FTDI channel served (`A`, `B`), with the profile.
    pub channel: Option<String>,
    /// What identification found, and how it decided.
    pub identified_by: String,
    /// The rule that matches (its name, else `cables[N]`).
    pub rule: Option<String>,
    /// `served`, `queued` or `ignored`.
    pub outcome: &'static str,
    pub port: Option<u16>,
    /// Why queued or ignored.
    pub reason: Option<String>,
}

/// What the config would do with `devices` (in enumeration order, each with what reading its
/// EEPROM gave), given the leases.
pub fn list(
    config: &Config,
    devices: &[(CableInfo, EepromResult)],
    leases: &Leases,
) -> Vec<Listed> {
    let cables: Vec<AttachedCable> = devices
        .iter()
        .map(|(info, eeprom)| {
            let identification = identify_device(info, eeprom);
            let info = CableInfo {
                naming: naming(info, &identification),
                ..info.clone()
            };
            AttachedCable {
                identification,
                info,
                port: None,
                session_active: false,
            }
        })
        .collect();
    let plan = assign(config, &cables, leases);
    let rule_name = |i: Option<usize>| {
        i.map(|i| {
            config.cables[i]
                .name
                .clone()
                .unwrap_or_else(|| format!("cables[{i}]"))
        })
    };
    cables
        .iter()
        .map(|c| {
            let info = &c.info;
            let mut row = Listed {
                serial: info.serial.clone(),
                usb_path: info.usb_path.clone(),
                vid_pid: format!("{:04x}:{:04x}", info.vid, info.pid),
                manufacturer: info.manufacturer.clone(),
                product: info.product.clone(),
                device: c.identification.eeprom_name.clone(),
                identity: info.identity(),
                profile: c.detected().map(|p| p.name.to_string()),
                channel: c
                    .detected()
                    .map(|p| crate::hotplug::channel_letter(p.interface).to_string()),
                identified_by: c.identification.evidence.clone(),
                rule: None,
                outcome: "ignored",
                port: None,
                reason: None,
            };
            if let Some(s) = plan.served(&info.syspath) {
                row.outcome = "served";
                row.port = Some(s.port);
                row.rule = rule_name(s.rule);
                if let Some(p) = s.profile {
                    row.profile = Some(p.name.to_string());
                    row.channel = Some(crate::hotplug::channel_letter(p.interface).to_string());
                }
            } else if let Some(q) = plan.queued(&info.syspath) {
                row.outcome = "queued";
                row.rule = rule_name(q.rule);
                row.reason = Some(q.reason.clone());
            } else if let Some(i) = plan.ignored.iter().find(|i| i.key == info.syspath) {
                row.reason = Some(i.reason.clone());
            }
            row
        })
        .collect()
}

/// The table `xvc-agent list` prints.
pub fn render(rows: &[Listed]) -> String {
    let header = [
        "SERIAL", "USB PATH", "ID", "DEVICE", "PROFILE", "CH", "RULE", "PORT",
    ];
    let table: Vec<Row> = rows
        .iter()
        .map(|r| {
            let port = match (r.outcome, r.port) {
                ("served", Some(p)) => p.to_string(),
                (o, _) => format!("({o})"),
            };
            let mut row = Row::new(vec![
                r.serial.clone().unwrap_or_else(|| "-".into()),
                r.usb_path.clone(),
                r.vid_pid.clone(),
                r.device
                    .clone()
                    .or_else(|| r.product.clone())
                    .unwrap_or_else(|| "-".into()),
                r.profile.clone().unwrap_or_else(|| "-".into()),
                r.channel.clone().unwrap_or_else(|| "-".into()),
                r.rule.clone().unwrap_or_else(|| "-".into()),
                port,
            ]);
            if let Some(reason) = &r.reason {
                row.note(format!("{}: {reason}", r.outcome));
            }
            row
        })
        .collect();
    let mut out = table::render(&header, &table);
    if rows.is_empty() {
        out.push_str("(no JTAG cables plugged in)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hotplug::simulated::sim_cable;

    #[test]
    fn rules_and_pool_and_ignored_devices() {
        let config = crate::config::parse(
            "ports: 3000-3001\ncables:\n  - name: main\n    match: { serial: SIM000002 }\n    port: 2600\n",
            "t.yaml",
        )
        .unwrap();
        let mut uart = sim_cable(3);
        uart.manufacturer = Some("FTDI".into());
        uart.serial = Some("FT123".into());
        let hs2 = || Ok(crate::ftdi::identify::eeprom::dumps::HS2.to_vec());
        let devices = [
            (sim_cable(1), hs2()),
            (sim_cable(2), hs2()),
            (uart, Err("blank".to_string())),
        ];
        let rows = list(&config, &devices, &Leases::new());
        assert_eq!(rows[0].port, Some(3000));
        assert_eq!(rows[0].rule, None);
        assert_eq!(rows[1].port, Some(2600));
        assert_eq!(rows[1].rule.as_deref(), Some("main"));
        assert_eq!(rows[2].outcome, "ignored");
        assert_eq!(rows[0].device.as_deref(), Some("Digilent JTAG-HS2"));
        assert_eq!(rows[0].channel.as_deref(), Some("A"));
        let why = rows[2].reason.as_deref().unwrap_or_default();
        assert!(
            why.contains("add a rule { serial: \"FT123\", profile: <profile> }"),
            "{why}"
        );
        let table = render(&rows);
        assert!(table.contains("SIM000002  sim-2"), "{table}");
        assert!(table.contains("(ignored)"), "{table}");
    }
}
