//! `xvc-agent run`: the agent together with the services that face people — the control
//! socket (`xvc-agent status`, `disconnect`), the HTTP listener (status page, API, metrics)
//! and the DNS-SD advertisement.
//!
//! It sits above [`agent`](crate::agent), [`control`](crate::control) and
//! [`lab`](crate::lab) so that the agent knows none of them: they get an
//! [`AgentHandle`](crate::agent::handle::AgentHandle) or the status feed, nothing more.

use crate::agent::supervisor::Supervisor;
use crate::agent::wiring::{self, RunOptions};
use crate::control::socket::{ControlError, ControlSocket};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Runs the agent until SIGTERM/SIGINT.
pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    let wiring = wiring::cable_source(&opts, &tx)?;
    tokio::spawn(wiring::forward_signals(tx.clone()));
    let supervisor = Supervisor::new(opts.clone(), wiring, tx)?;
    let socket_path = opts
        .control_socket
        .clone()
        .unwrap_or_else(crate::control::default_socket_path);
    let _control = match ControlSocket::serve(&socket_path, supervisor.handle()) {
        Ok(c) => Some(c),
        Err(e @ ControlError::InUse(_)) => return Err(e.into()),
        Err(e) => {
            tracing::warn!("{e}; `xvc-agent status` will not work");
            None
        }
    };
    let config = supervisor.config();
    let _http = config.http.and_then(|m| {
        let ctx = crate::control::http::HttpContext {
            agent: supervisor.handle(),
            policy: crate::xvc::access::AccessPolicy {
                mode: config.access,
                allow: config.allow.clone(),
            },
        };
        match wiring::bind(m.listen) {
            Ok(listener) => {
                tracing::info!("HTTP: status page, API and metrics on http://{}/", m.listen);
                Some(AbortOnDrop(tokio::spawn(crate::control::http::serve(
                    listener,
                    Arc::new(ctx),
                ))))
            }
            Err(e) => {
                tracing::error!("cannot serve HTTP on {}: {e}", m.listen);
                None
            }
        }
    });
    // The advertiser follows the status; it stops when the supervisor (the sender) is gone.
    let _advertiser = AbortOnDrop(tokio::spawn(crate::lab::advertise::run(
        config.advertise,
        supervisor.status_feed(),
    )));
    supervisor.run(rx).await;
    Ok(())
}

/// Stops a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
