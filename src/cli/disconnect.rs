//! `xvc-agent disconnect`: end the JTAG session on one cable.

use std::process::ExitCode;

use super::{control_error_exit, SocketArg};

/// Options of `xvc-agent disconnect`.
#[derive(Debug, clap::Args)]
pub struct DisconnectArgs {
    /// The cable: its rule name, serial number, USB path or TCP port.
    #[arg(value_name = "CABLE")]
    pub cable: String,
    #[command(flatten)]
    pub socket: SocketArg,
}

pub(super) fn disconnect(args: &DisconnectArgs) -> ExitCode {
    use crate::control::client;
    let path = args.socket.path();
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
