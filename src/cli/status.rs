//! `xvc-agent status`: the cables a running agent serves, as a table or JSON.

use std::process::ExitCode;

use super::{control_error_exit, SocketArg};

/// Options of `xvc-agent status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print JSON (`{"cables": [...]}`) instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub socket: SocketArg,
}

pub(super) fn status(args: &StatusArgs) -> ExitCode {
    use crate::control::client;
    let path = args.socket.path();
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
