//! `xvc-agent reserve` and `release`: hold a cable for your machines for a while, and let it go.

use crate::config;
use std::process::ExitCode;

use super::{control_error_exit, SocketArg};

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
    #[command(flatten)]
    pub socket: SocketArg,
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
    #[command(flatten)]
    pub socket: SocketArg,
}

/// The addresses a reservation serves when `--from` is not given: the client address of the
/// SSH session the user is logged in over, else this host's loopback (IPv4 and IPv6).
pub(super) fn default_from(ssh_connection: Option<&str>) -> Vec<String> {
    let client = ssh_connection
        .and_then(|v| v.split_whitespace().next())
        .and_then(|a| crate::agent::reservations::parse_from(a).ok());
    match client {
        Some(net) => vec![net.to_string()],
        None => vec!["127.0.0.0/8".into(), "::1/128".into()],
    }
}

/// The name of the user running this command, for an agent that cannot see uids.
pub(super) fn own_user_name() -> Option<String> {
    // SAFETY: getuid cannot fail and touches no memory.
    crate::control::socket::user_name(unsafe { libc::getuid() })
}

pub(super) fn reserve(args: &ReserveArgs) -> ExitCode {
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
    let path = args.socket.path();
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

pub(super) fn release(args: &ReleaseArgs) -> ExitCode {
    use crate::control::{client, protocol::Request};
    let path = args.socket.path();
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
