//! `xvc-agent run`: the agent, with its flags laid over the config file.

use crate::agent::wiring::{self as agent_wiring, RunOptions};
use crate::logging::{self, LogTarget};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{config_error_exit, ConfigArg};

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

pub(super) fn run(args: RunArgs) -> ExitCode {
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
