//! Operator-facing views of a running agent: the control socket (`xvc-agent status`,
//! `rescan`) and the HTTP listener (Prometheus metrics, JSON API, status pages).
//!
//! Both read the supervisor's [`AgentStatus`](crate::agent::status::AgentStatus) snapshot
//! through its input queue; neither touches a cable.

pub mod client;
pub mod http;
pub mod metrics;
pub mod page;
pub mod protocol;
pub mod socket;

/// Where the control socket lives unless `--control-socket` says otherwise:
/// `$RUNTIME_DIRECTORY/control.sock` under systemd, else `/run/xvc-agent/control.sock`.
pub(crate) fn default_socket_path() -> std::path::PathBuf {
    match std::env::var_os("RUNTIME_DIRECTORY") {
        Some(dir) => {
            let dir = dir
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or("")
                .to_string();
            std::path::Path::new(&dir).join("control.sock")
        }
        None => std::path::PathBuf::from("/run/xvc-agent/control.sock"),
    }
}
