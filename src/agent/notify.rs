//! systemd readiness protocol (`sd_notify`): a thin wrapper that is silent when the agent does
//! not run under systemd (no `NOTIFY_SOCKET`).

use sd_notify::NotifyState;

/// Sends the given states if `NOTIFY_SOCKET` is set; errors are logged at debug level only,
/// since a missing or closed socket must never stop the agent.
pub fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("sd_notify failed: {e}");
    }
}

/// `READY=1` with a status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `STATUS=…`.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// `STOPPING=1`.
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// `RELOADING=1` with the monotonic timestamp systemd requires for `Type=notify-reload`.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// `WATCHDOG=1`.
pub(crate) fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// The interval at which to send `WATCHDOG=1` (half of `WATCHDOG_USEC`), if the service
/// manager asked for watchdog pings.
pub(crate) fn watchdog_interval() -> Option<std::time::Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}
