//! Where a cable stands ([`CableState`]): the states status, logs and metrics show, pure data
//! shared by the supervisor and the operator views.

/// Where a cable stands. Shown in status, logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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
