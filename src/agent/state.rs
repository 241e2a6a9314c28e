//! A served cable's lifecycle states and the reopen schedule after USB errors: pure data
//! shared by the supervisor, status and metrics.

use std::time::Duration;

/// Where a cable stands. Shown in status, logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CableState {
    /// Attached; its EEPROM is being read to tell what it is.
    Identifying,
    /// Wants to be served but has no place (port or `max_cables`) now.
    Queued,
    /// Listener bound, cable being opened.
    Starting,
    /// Serving, no client.
    Serving,
    /// Serving, a client holds the JTAG session.
    Busy,
    /// The cable failed; it is being reopened with backoff. The port stays bound.
    Degraded,
    /// Reopening gave up; replug the cable (or SIGUSR1) to try again.
    Offline,
    /// Cannot be served (for example the port is taken by another program); retried.
    Error,
    /// Attached but not served under the current config (not a cable, or not wanted).
    Ignored,
}

impl CableState {
    pub(crate) const ALL: [CableState; 9] = [
        CableState::Identifying,
        CableState::Queued,
        CableState::Starting,
        CableState::Serving,
        CableState::Busy,
        CableState::Degraded,
        CableState::Offline,
        CableState::Error,
        CableState::Ignored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CableState::Identifying => "identifying",
            CableState::Queued => "queued",
            CableState::Starting => "starting",
            CableState::Serving => "serving",
            CableState::Busy => "busy",
            CableState::Degraded => "degraded",
            CableState::Offline => "offline",
            CableState::Error => "error",
            CableState::Ignored => "ignored",
        }
    }
}

impl std::fmt::Display for CableState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reopen attempts after a cable error before it is declared offline.
pub(crate) const MAX_REOPEN_ATTEMPTS: u32 = 8;

/// Delay before reopen attempt `attempt` (0-based): immediately, 5 s, 30 s, then 60 s.
/// `None` once the attempts are used up.
pub(crate) fn reopen_delay(attempt: u32) -> Option<Duration> {
    let secs = match attempt {
        0 => 0,
        1 => 5,
        2 => 30,
        n if n < MAX_REOPEN_ATTEMPTS => 60,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Delay between attempts to bind a port another program holds.
pub const BIND_RETRY: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_schedule() {
        let delays: Vec<_> = (0..10).map(reopen_delay).collect();
        assert_eq!(delays[0], Some(Duration::ZERO));
        assert_eq!(delays[1], Some(Duration::from_secs(5)));
        assert_eq!(delays[2], Some(Duration::from_secs(30)));
        assert_eq!(delays[3], Some(Duration::from_secs(60)));
        assert_eq!(delays[7], Some(Duration::from_secs(60)));
        assert_eq!(delays[8], None);
    }
}
