//! Command-line interface: one definition per flag, parsed here and handed to library code.

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
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell) on stdout.
    #[command(hide = true)]
    Completions { shell: clap_complete::Shell },
}

/// Options of `xvc-agent run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file [default: /etc/xvc-agent/config.yaml] (not read yet: coming with
    /// the configuration support; only the built-in defaults apply).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve N simulated HS2 cables (serials SIM000001…, each with an xc7a35t) instead of
    /// watching USB.
    #[arg(long, value_name = "N")]
    pub simulate: Option<usize>,
    /// First port of the pool cables are served on.
    #[arg(long, value_name = "PORT", default_value_t = crate::xvc::DEFAULT_PORT)]
    pub base_port: u16,
    /// Address to listen on [default: all addresses, IPv4 and IPv6].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<IpAddr>,
    /// Directory for remembered port leases [default: /var/lib/xvc-agent] (not used yet:
    /// leases are kept in memory for the life of the process).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Control socket path [default: /run/xvc-agent/control.sock] (not served yet).
    #[arg(long, value_name = "PATH")]
    pub control_socket: Option<PathBuf>,
    /// Where to log.
    #[arg(long, value_enum, default_value_t = LogTarget::Auto)]
    pub log: LogTarget,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "xvc-agent", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

fn run(args: RunArgs) -> ExitCode {
    logging::init(args.log);
    if args.config.is_some() || args.state_dir.is_some() || args.control_socket.is_some() {
        tracing::warn!(
            "--config, --state-dir and --control-socket are accepted but not implemented yet"
        );
    }
    let opts = crate::agent::RunOptions {
        simulate: args.simulate,
        base_port: args.base_port,
        listen: args.listen,
        ..Default::default()
    };
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
    match runtime.block_on(crate::agent::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("xvc-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}
