//! Command-line interface: one definition per flag, parsed here and handed to library code.

use crate::agent::wiring::{self as agent_wiring, RunOptions};
use crate::config::{self, ConfigSource};
use crate::logging::{self, LogTarget};
use clap::{Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Serve Digilent JTAG-HS2 cables as Xilinx Virtual Cables (XVC), one TCP port per cable.
#[derive(Debug, Parser)]
#[command(name = "xvc-agent", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: serve every cable that is plugged in or gets plugged in.
    Run(RunArgs),
    /// Check a configuration file and report every mistake with its line and column.
    CheckConfig(ConfigArg),
    /// Show the cables a running agent serves: ports, states, clients, JTAG chains.
    Status(StatusArgs),
    /// End the JTAG session on a cable (named by rule name, serial, USB path or port), so the
    /// cable serves the next client: for a client that is gone but still holds it.
    Disconnect(DisconnectArgs),
    /// Reserve a cable for a while: its port then serves only your machines (the address you
    /// are logged in from, or --from). Reserving again extends or changes your reservation.
    Reserve(ReserveArgs),
    /// End your reservation of a cable (root and the agent's user: anyone's, with --force).
    Release(ReleaseArgs),
    /// List the JTAG cables plugged in now (from udev; no agent needed) and the rule and port
    /// the configuration gives each.
    List(ListArgs),
    /// List the cables every xvc-agent in the lab advertises over DNS-SD (through Avahi), with
    /// the Vivado line to open each.
    Browse(BrowseArgs),
    /// Serve an emulated HS2 (FT232H with an xc7a35t behind it), or with --board any board of
    /// the board table, as a USB device on stdin/stdout, for the umockdev test harness
    /// (protocol: src/sim/usb_pipe.rs).
    #[command(hide = true)]
    SimUsbDevice(SimUsbDeviceArgs),
    /// Serve an emulated HS2, or with --board any board of the board table with all its
    /// channels, as a usbredir device on a unix socket, for QEMU's usb-redir device (the
    /// virtual-machine tests; protocol: src/sim/usbredir/mod.rs). Lines `unplug` and `plug` on
    /// stdin pull and replug it from the device side; `faults` prints the board's fault list.
    #[command(hide = true)]
    SimUsbredir(SimUsbredirArgs),
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell) on stdout.
    #[command(hide = true)]
    Completions { shell: clap_complete::Shell },
}

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

/// Options of `xvc-agent list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print JSON (`{"devices": [...]}`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `xvc-agent browse`.
#[derive(Debug, clap::Args)]
pub struct BrowseArgs {
    /// Print JSON (`{"cables": [...]}`) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Browse for at most this many seconds (it ends sooner once Avahi has reported all it
    /// knows).
    #[arg(long, value_name = "S", default_value_t = 3.0)]
    pub timeout: f64,
}

/// Options of `xvc-agent status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print JSON (`{"cables": [...]}`) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The agent's control socket [default: /run/xvc-agent/control.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// Options of `xvc-agent disconnect`.
#[derive(Debug, clap::Args)]
pub struct DisconnectArgs {
    /// The cable: its rule name, serial number, USB path or TCP port.
    #[arg(value_name = "CABLE")]
    pub cable: String,
    /// The agent's control socket [default: /run/xvc-agent/control.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// Options of `xvc-agent reserve`.
#[derive(Debug, clap::Args)]
pub struct ReserveArgs {
    /// The cable: its rule name, serial number, USB path or TCP port.
    #[arg(value_name = "CABLE")]
    pub cable: String,
    /// How long, like 30m or 4h [default and longest: the config's reservations: default
    /// and max, 4h and 24h unless changed].
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<String>,
    /// An address or network (IPv4 or IPv6) the cable's port serves while reserved;
    /// repeatable [default: the address of your SSH client (SSH_CONNECTION), else this
    /// host's loopback].
    #[arg(long, value_name = "ADDR")]
    pub from: Vec<String>,
    /// A note others see in status, on the status page and in `browse`.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// The agent's control socket [default: /run/xvc-agent/control.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// Options of `xvc-agent release`.
#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    /// The cable: its rule name, serial number, USB path or TCP port.
    #[arg(value_name = "CABLE")]
    pub cable: String,
    /// End another user's reservation (root and the agent's user only; logged).
    #[arg(long)]
    pub force: bool,
    /// The agent's control socket [default: /run/xvc-agent/control.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// `--config`, shared by the commands that read the configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArg {
    /// Configuration file [default: /etc/xvc-agent/config.yaml; built-in defaults when it
    /// does not exist].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    fn path(&self) -> (PathBuf, bool) {
        match &self.config {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from(config::DEFAULT_PATH), false),
        }
    }
}

/// Options of `xvc-agent run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Serve N simulated HS2 cables (serials SIM000001…, each with an xc7a35t) instead of
    /// watching USB.
    #[arg(long, value_name = "N")]
    pub simulate: Option<usize>,
    /// Move the port pool to start at PORT (keeping its size) [config: ports].
    #[arg(long, value_name = "PORT")]
    pub base_port: Option<u16>,
    /// Address to listen on [config: listen; default: all addresses, IPv4 and IPv6].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<IpAddr>,
    /// Directory for remembered port leases [default: $STATE_DIRECTORY, else config
    /// state_dir, /var/lib/xvc-agent].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Control socket path [default: $RUNTIME_DIRECTORY/control.sock, else
    /// /run/xvc-agent/control.sock].
    #[arg(long, value_name = "PATH")]
    pub control_socket: Option<PathBuf>,
    /// Where to log.
    #[arg(long, value_enum, default_value_t = LogTarget::Auto)]
    pub log: LogTarget,
    /// Print the effective configuration (file, defaults and command-line overrides) as YAML
    /// and exit.
    #[arg(long)]
    pub dump_config: bool,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args),
        Command::CheckConfig(args) => check_config(&args),
        Command::Status(args) => status(&args),
        Command::Disconnect(args) => disconnect(&args),
        Command::Reserve(args) => reserve(&args),
        Command::Release(args) => release(&args),
        Command::List(args) => list(&args),
        Command::Browse(args) => browse(&args),
        Command::SimUsbDevice(args) => sim_usb_device(&args),
        Command::SimUsbredir(args) => sim_usbredir(&args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "xvc-agent", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

fn browse(args: &BrowseArgs) -> ExitCode {
    let Some(timeout) = std::time::Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
    else {
        eprintln!("xvc-agent: --timeout must be a positive number of seconds");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xvc-agent: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::lab::browse::browse(timeout)) {
        Ok(cables) => {
            if args.json {
                let doc = serde_json::json!({ "cables": cables });
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                print!("{}", crate::lab::service::render_table(&cables));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xvc-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

fn list(args: &ListArgs) -> ExitCode {
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
            let eeprom = match &info.devnode {
                Some(node) => crate::ftdi::usb::read_eeprom(node).map_err(|e| e.to_string()),
                None => Err("no device node".to_string()),
            };
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

/// Exit status when the agent is not running (as `systemctl status` uses it).
const EXIT_NOT_RUNNING: u8 = 3;

fn status(args: &StatusArgs) -> ExitCode {
    use crate::control::client;
    let path = args
        .socket
        .clone()
        .unwrap_or_else(crate::control::default_socket_path);
    match client::status(&path) {
        Ok((json, view)) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json).unwrap_or_default()
                );
            } else {
                print!(
                    "{}",
                    client::render_table(&view, std::time::SystemTime::now())
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => control_error_exit(&e),
    }
}

/// Reports a failed control-socket request; exit 3 when no agent runs, else 1.
fn control_error_exit(e: &crate::control::client::ClientError) -> ExitCode {
    eprintln!("xvc-agent: {e}");
    match e {
        crate::control::client::ClientError::NotRunning { .. } => ExitCode::from(EXIT_NOT_RUNNING),
        _ => ExitCode::FAILURE,
    }
}

fn disconnect(args: &DisconnectArgs) -> ExitCode {
    use crate::control::client;
    let path = args
        .socket
        .clone()
        .unwrap_or_else(crate::control::default_socket_path);
    match client::disconnect(&path, &args.cable) {
        Ok(done) => {
            let port = done.port.map_or(String::new(), |p| format!(" (port {p})"));
            match done.client {
                Some(peer) => println!(
                    "{}{port}: ending the session of {peer}; the cable serves the next client",
                    done.cable
                ),
                None => println!("{}{port}: no client holds the cable", done.cable),
            }
            ExitCode::SUCCESS
        }
        Err(e) => control_error_exit(&e),
    }
}

/// The addresses a reservation serves when `--from` is not given: the client address of the
/// SSH session the user is logged in over, else this host's loopback (IPv4 and IPv6).
fn default_from(ssh_connection: Option<&str>) -> Vec<String> {
    let client = ssh_connection
        .and_then(|v| v.split_whitespace().next())
        .and_then(|a| crate::agent::reservations::parse_from(a).ok());
    match client {
        Some(net) => vec![net.to_string()],
        None => vec!["127.0.0.0/8".into(), "::1/128".into()],
    }
}

/// The name of the user running this command, for an agent that cannot see uids.
fn own_user_name() -> Option<String> {
    // SAFETY: getuid cannot fail and touches no memory.
    crate::control::socket::user_name(unsafe { libc::getuid() })
}

fn reserve(args: &ReserveArgs) -> ExitCode {
    use crate::control::{client, protocol::Request};
    // Checked here too, so a mistake is reported even when no agent runs.
    if let Some(d) = &args.duration {
        if let Err(e) = config::parse_duration(d) {
            eprintln!("xvc-agent: --for: {e}");
            return ExitCode::FAILURE;
        }
    }
    for f in &args.from {
        if let Err(e) = crate::agent::reservations::parse_from(f) {
            eprintln!("xvc-agent: {e}");
            return ExitCode::FAILURE;
        }
    }
    let from = if args.from.is_empty() {
        default_from(std::env::var("SSH_CONNECTION").ok().as_deref())
    } else {
        args.from.clone()
    };
    let path = args
        .socket
        .clone()
        .unwrap_or_else(crate::control::default_socket_path);
    let req = Request::Reserve {
        cable: args.cable.clone(),
        duration: args.duration.clone(),
        from,
        note: args.note.clone(),
        user: own_user_name(),
    };
    match client::reservation(&path, &req) {
        Ok(done) => {
            let port = done.port.map_or(String::new(), |p| format!(" (port {p})"));
            let verb = if done.outcome == "extended" {
                "reservation extended"
            } else {
                "reserved"
            };
            println!(
                "{}{port}: {verb} for {} until {}, serving {}",
                done.cable,
                done.owner.as_deref().unwrap_or("?"),
                done.until_text.as_deref().unwrap_or("?"),
                done.from.join(", ")
            );
            if let Some(peer) = done.session_continues {
                println!(
                    "{}: the session of {peer} began before the reservation and goes on until it ends (`xvc-agent disconnect` ends it)",
                    done.cable
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => control_error_exit(&e),
    }
}

fn release(args: &ReleaseArgs) -> ExitCode {
    use crate::control::{client, protocol::Request};
    let path = args
        .socket
        .clone()
        .unwrap_or_else(crate::control::default_socket_path);
    let req = Request::Release {
        cable: args.cable.clone(),
        force: args.force,
        user: own_user_name(),
    };
    match client::reservation(&path, &req) {
        Ok(done) => {
            let port = done.port.map_or(String::new(), |p| format!(" (port {p})"));
            let owner = done.owner.as_deref().unwrap_or("?");
            match done.outcome.as_str() {
                "not_reserved" => println!("{}{port}: not reserved", done.cable),
                "forced" => println!(
                    "{}{port}: reservation of {owner} ended (--force); the cable serves everyone allow: admits",
                    done.cable
                ),
                _ => println!(
                    "{}{port}: released; the cable serves everyone allow: admits",
                    done.cable
                ),
            }
            ExitCode::SUCCESS
        }
        Err(e) => control_error_exit(&e),
    }
}

fn config_error_exit(e: &config::ConfigError) -> ExitCode {
    eprintln!("{e}");
    ExitCode::from(config::EX_CONFIG)
}

fn check_config(args: &ConfigArg) -> ExitCode {
    let (path, explicit) = args.path();
    match config::load_or_default(&path, explicit) {
        Ok((cfg, ConfigSource::File)) => {
            println!(
                "{}: OK ({} cable rule{})",
                path.display(),
                cfg.cables.len(),
                if cfg.cables.len() == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Ok((_, ConfigSource::BuiltIn)) => {
            println!(
                "{}: not present; the built-in defaults apply",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => config_error_exit(&e),
    }
}

fn run(args: RunArgs) -> ExitCode {
    let (config_path, config_explicit) = args.config.path();
    let opts = RunOptions {
        config_path,
        config_explicit,
        simulate: args.simulate,
        base_port: args.base_port,
        listen: args.listen,
        state_dir: args.state_dir,
        control_socket: args.control_socket,
    };
    if args.dump_config {
        return match agent_wiring::load_config(&opts) {
            Ok((cfg, _)) => {
                print!("{}", cfg.to_yaml());
                ExitCode::SUCCESS
            }
            Err(e) => config_error_exit(&e),
        };
    }
    logging::init(args.log);
    if let Err(e) = agent_wiring::load_config(&opts) {
        tracing::error!("{e}");
        return config_error_exit(&e);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xvc-agent: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::daemon::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("xvc-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn sim_usb_device(args: &SimUsbDeviceArgs) -> ExitCode {
    use crate::sim::usb_pipe::{DeviceFactory, PipeDevice, PipeInterface};
    let factory: DeviceFactory = match &args.board {
        None => Box::new(|| {
            let chip = crate::sim::ft232h::Ft232h::hs2(crate::sim::JtagChain::xc7a35t());
            let probe = chip.clone();
            PipeDevice {
                interfaces: vec![PipeInterface {
                    usb: Box::new(chip),
                    accepted_out: Some(Box::new(move || probe.counters().bytes_out)),
                }],
                identity: None,
                faults: None,
            }
        }),
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

fn sim_usbredir(args: &SimUsbredirArgs) -> ExitCode {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_serves_the_ssh_client_else_loopback() {
        assert_eq!(
            default_from(Some("192.0.2.7 51234 192.0.2.1 22")),
            ["192.0.2.7/32"]
        );
        assert_eq!(
            default_from(Some("2001:db8::7 51234 2001:db8::1 22")),
            ["2001:db8::7/128"]
        );
        assert_eq!(
            default_from(Some("::ffff:192.0.2.7 51234 ::ffff:192.0.2.1 22")),
            ["192.0.2.7/32"]
        );
        assert_eq!(default_from(None), ["127.0.0.0/8", "::1/128"]);
        assert_eq!(default_from(Some("")), ["127.0.0.0/8", "::1/128"]);
    }
}
