//! Command-line interface: one definition per flag, parsed here and handed to library code.
//! This file is the parser ([`Cli`], [`Command`]), the dispatch and what several subcommands
//! share (the config file argument, exit statuses); each subcommand is a file of its own with
//! its flags and what it does.

mod browse;
mod check_config;
mod disconnect;
mod list;
mod reservations;
mod run;
mod sim;
mod status;

pub use browse::BrowseArgs;
pub use disconnect::DisconnectArgs;
pub use list::ListArgs;
pub use reservations::{ReleaseArgs, ReserveArgs};
pub use run::RunArgs;
pub use sim::{SimUsbDeviceArgs, SimUsbredirArgs};
pub use status::StatusArgs;

use browse::browse;
use check_config::check_config;
use disconnect::disconnect;
use list::list;
use reservations::{release, reserve};
use run::run;
use sim::{sim_usb_device, sim_usbredir};
use status::status;

use crate::config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Serve Digilent and Xilinx FTDI JTAG cables and boards as Xilinx Virtual Cables (XVC), one TCP
/// port per cable.
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

/// `--socket`, shared by the commands that talk to a running agent.
#[derive(Debug, Clone, clap::Args)]
pub struct SocketArg {
    /// The agent's control socket [default: /run/xvc-agent/control.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

impl SocketArg {
    /// The socket given, else the packaged agent's.
    fn path(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(crate::control::default_socket_path)
    }
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

/// Exit status when the agent is not running (as `systemctl status` uses it).
const EXIT_NOT_RUNNING: u8 = 3;

/// Reports a failed control-socket request; exit 3 when no agent runs, else 1.
pub(crate) fn control_error_exit(e: &crate::control::client::ClientError) -> ExitCode {
    eprintln!("xvc-agent: {e}");
    match e {
        crate::control::client::ClientError::NotRunning { .. } => ExitCode::from(EXIT_NOT_RUNNING),
        _ => ExitCode::FAILURE,
    }
}

pub(crate) fn config_error_exit(e: &config::ConfigError) -> ExitCode {
    eprintln!("{e}");
    ExitCode::from(config::EX_CONFIG)
}
