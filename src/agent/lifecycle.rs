//! One attached cable's lifecycle as a single value, and what each step asks the loop to do.
//!
//! The supervisor owns the sockets, servers and timers; this module owns the decisions: when a
//! failed cable is reopened and after how long, when it is given up as offline, which reason
//! status shows, which log line an event deserves (and not twice for the same reason), which
//! counters move. Every transition is a method that changes the [`Lifecycle`] and returns the
//! [`Effect`]s the loop then carries out, so the whole schedule is tested without tokio,
//! sockets or a clock.
//!
//! ```text
//!   Queued ──start──▶ Starting ──opened──▶ Serving ◀──opened── Degraded ──gives up──▶ Offline
//!     ▲  Ignored         │ open_failed        │ failed           ▲  │ reopen_due          │
//!     │                  └────────────────────┴──────────────────┘  └── OpenCable         │
//!     └──────────────────────────── stopped / rescan ──────────────────────────────────────┘
//!   Queued ──bind_failed──▶ Error (retried)      Starting ──serve_failed──▶ Error
//! ```

use crate::agent::retry;
use crate::agent::state::CableState;
use std::time::Duration;

/// Where an attached cable stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// Wants to be served but has no place now (port or `max_cables`), or was just attached
    /// or stopped (`reason: None`).
    Queued { reason: Option<String> },
    /// Attached but not served under the current config.
    Ignored { reason: String },
    /// Port bound, the cable being opened and its chain read.
    Starting,
    /// Serving with an open cable (busy or not: that is the server's to say).
    Serving,
    /// The cable failed; the port stays bound and refuses clients while reopen `attempt`
    /// (1-based) is scheduled or running.
    Degraded { attempt: u32, reason: String },
    /// Reopening gave up; waits for a replug or a rescan. The port is closed.
    Offline { reason: String },
    /// Cannot be served (the port is taken, the server did not start); retried.
    Error { reason: String },
}

/// What the loop does after a transition, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Open and identify the cable off the loop; the result comes back as `opened` or
    /// `open_failed`.
    OpenCable,
    /// Start serving the bound port, with the cable just opened or without one (clients are
    /// refused until a reopen succeeds).
    StartServer { with_cable: bool },
    /// Hand the reopened cable to the running server.
    InstallCable,
    /// Run `reopen_due` after this delay.
    RetryOpenAfter(Duration),
    /// Give up the port now and bind it again after this delay.
    RetryBindAfter(Duration),
    /// Close the port and end its server.
    CloseServer,
    /// Count a cable error (USB failure, timeout) in the status.
    CountUsbError,
    /// Count a successful reopen after an error.
    CountReconnect,
    /// Write this to the log.
    Log(Report),
}

/// A log line the loop writes, with the cable's journal fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
    Queued(String),
    NotServed(String),
    Serving,
    Reopened,
    CannotOpen(String),
    CableFailed(String),
    Offline,
    CannotListen(String),
    CannotServe(String),
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle::Queued { reason: None }
    }
}

impl Lifecycle {
    /// The state shown in status, logs and metrics; `has_client` tells busy from serving.
    pub fn state(&self, has_client: bool) -> CableState {
        match self {
            Lifecycle::Queued { .. } => CableState::Queued,
            Lifecycle::Ignored { .. } => CableState::Ignored,
            Lifecycle::Starting => CableState::Starting,
            Lifecycle::Serving if has_client => CableState::Busy,
            Lifecycle::Serving => CableState::Serving,
            Lifecycle::Degraded { .. } => CableState::Degraded,
            Lifecycle::Offline { .. } => CableState::Offline,
            Lifecycle::Error { .. } => CableState::Error,
        }
    }

    /// Why the cable is not (fully) served.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Lifecycle::Queued { reason } => reason.as_deref(),
            Lifecycle::Ignored { reason }
            | Lifecycle::Degraded { reason, .. }
            | Lifecycle::Offline { reason }
            | Lifecycle::Error { reason } => Some(reason),
            Lifecycle::Starting | Lifecycle::Serving => None,
        }
    }

    /// May be started when the plan serves it: not while it holds a port (starting, serving,
    /// degraded), and not when offline (only a replug or a rescan brings it back).
    pub(crate) fn may_start(&self) -> bool {
        matches!(
            self,
            Lifecycle::Queued { .. } | Lifecycle::Ignored { .. } | Lifecycle::Error { .. }
        )
    }

    /// The plan has no place for it now.
    pub fn queue(&mut self, reason: &str) -> Vec<Effect> {
        let effects = match self {
            Lifecycle::Queued { reason: Some(r) } if r == reason => vec![],
            _ => vec![Effect::Log(Report::Queued(reason.to_string()))],
        };
        *self = Lifecycle::Queued {
            reason: Some(reason.to_string()),
        };
        effects
    }

    /// The config does not serve it.
    pub(crate) fn ignore(&mut self, reason: &str) -> Vec<Effect> {
        let effects = match self {
            Lifecycle::Ignored { .. } => vec![],
            _ => vec![Effect::Log(Report::NotServed(reason.to_string()))],
        };
        *self = Lifecycle::Ignored {
            reason: reason.to_string(),
        };
        effects
    }

    /// Its port is bound (the loop binds before it calls this, and calls
    /// [`bind_failed`](Self::bind_failed) instead when it cannot): open the cable.
    pub fn start(&mut self) -> Vec<Effect> {
        *self = Lifecycle::Starting;
        vec![Effect::OpenCable]
    }

    /// Its port could not be bound: said once per distinct reason, retried.
    pub(crate) fn bind_failed(&mut self, reason: String) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.reason() != Some(reason.as_str()) {
            effects.push(Effect::Log(Report::CannotListen(reason.clone())));
        }
        effects.push(Effect::RetryBindAfter(retry::BIND_RETRY));
        *self = Lifecycle::Error { reason };
        effects
    }

    /// The server could not start on the bound port.
    pub(crate) fn serve_failed(&mut self, reason: String) -> Vec<Effect> {
        let effects = vec![Effect::Log(Report::CannotServe(reason.clone()))];
        *self = Lifecycle::Error { reason };
        effects
    }

    /// The cable opened and its chain was read.
    pub fn opened(&mut self) -> Vec<Effect> {
        let effects = match self {
            Lifecycle::Starting => vec![
                Effect::StartServer { with_cable: true },
                Effect::Log(Report::Serving),
            ],
            Lifecycle::Degraded { .. } => vec![
                Effect::CountReconnect,
                Effect::InstallCable,
                Effect::Log(Report::Reopened),
            ],
            // Stopped or gone meanwhile: the cable is dropped.
            _ => return vec![],
        };
        *self = Lifecycle::Serving;
        effects
    }

    /// Opening (or reopening) the cable failed.
    pub(crate) fn open_failed(&mut self, error: &str) -> Vec<Effect> {
        let attempts = match self {
            Lifecycle::Starting => 0,
            Lifecycle::Degraded { attempt, .. } => *attempt,
            _ => return vec![],
        };
        let mut effects = Vec::new();
        if *self == Lifecycle::Starting {
            effects.push(Effect::StartServer { with_cable: false });
        }
        effects.push(Effect::CountUsbError);
        effects.push(Effect::Log(Report::CannotOpen(error.to_string())));
        effects.extend(self.schedule_reopen(attempts, format!("cannot open: {error}")));
        effects
    }

    /// The server reported a failed shift or clock change on a serving cable.
    pub fn failed(&mut self, error: &str) -> Vec<Effect> {
        if *self != Lifecycle::Serving {
            return vec![];
        }
        let mut effects = vec![
            Effect::CountUsbError,
            Effect::Log(Report::CableFailed(error.to_string())),
        ];
        effects.extend(self.schedule_reopen(0, error.to_string()));
        effects
    }

    /// A scheduled reopen is due.
    pub(crate) fn reopen_due(&self) -> Vec<Effect> {
        match self {
            Lifecycle::Degraded { .. } => vec![Effect::OpenCable],
            _ => vec![],
        }
    }

    /// Reopen attempt `done + 1`, or offline once the attempts are used up.
    fn schedule_reopen(&mut self, done: u32, reason: String) -> Vec<Effect> {
        match retry::reopen_delay(done) {
            Some(delay) => {
                *self = Lifecycle::Degraded {
                    attempt: done + 1,
                    reason,
                };
                vec![Effect::RetryOpenAfter(delay)]
            }
            None => {
                *self = Lifecycle::Offline { reason };
                vec![Effect::Log(Report::Offline), Effect::CloseServer]
            }
        }
    }

    /// Its server was stopped (plan changed, port moved): back in line, unless offline.
    pub fn stopped(&mut self) {
        if !matches!(self, Lifecycle::Offline { .. }) {
            *self = Lifecycle::Queued { reason: None };
        }
    }

    /// SIGUSR1: an offline cable gets a fresh set of attempts.
    pub(crate) fn rescan(&mut self) {
        if matches!(self, Lifecycle::Offline { .. }) {
            *self = Lifecycle::Queued { reason: None };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::retry::MAX_REOPEN_ATTEMPTS;

    fn started() -> Lifecycle {
        let mut l = Lifecycle::default();
        assert_eq!(l.start(), vec![Effect::OpenCable]);
        l
    }

    fn delays(effects: &[Effect]) -> Vec<Duration> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::RetryOpenAfter(d) => Some(*d),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_new_cable_is_queued_without_reason_and_may_start() {
        let l = Lifecycle::default();
        assert_eq!(l.state(false), CableState::Queued);
        assert_eq!(l.reason(), None);
        assert!(l.may_start());
    }

    #[test]
    fn open_then_serve_then_busy() {
        let mut l = started();
        assert_eq!(l.state(false), CableState::Starting);
        assert!(!l.may_start());
        assert_eq!(
            l.opened(),
            vec![
                Effect::StartServer { with_cable: true },
                Effect::Log(Report::Serving)
            ]
        );
        assert_eq!(l.state(false), CableState::Serving);
        assert_eq!(l.state(true), CableState::Busy);
        assert_eq!(l.reason(), None);
    }

    #[test]
    fn a_failed_first_open_serves_degraded_and_reopens_at_once() {
        let mut l = started();
        let fx = l.open_failed("no such device");
        assert_eq!(
            fx,
            vec![
                Effect::StartServer { with_cable: false },
                Effect::CountUsbError,
                Effect::Log(Report::CannotOpen("no such device".into())),
                Effect::RetryOpenAfter(Duration::ZERO),
            ]
        );
        assert_eq!(l.state(false), CableState::Degraded);
        assert_eq!(l.reason(), Some("cannot open: no such device"));
        assert_eq!(l.reopen_due(), vec![Effect::OpenCable]);
    }

    #[test]
    fn a_reopen_that_succeeds_installs_the_cable_and_counts_a_reconnect() {
        let mut l = started();
        l.opened();
        l.failed("timeout");
        assert_eq!(l.state(false), CableState::Degraded);
        assert_eq!(l.reason(), Some("timeout"));
        assert_eq!(
            l.opened(),
            vec![
                Effect::CountReconnect,
                Effect::InstallCable,
                Effect::Log(Report::Reopened)
            ]
        );
        assert_eq!(l.state(false), CableState::Serving);
        // A later failure starts the schedule from the beginning again.
        assert_eq!(delays(&l.failed("timeout")), vec![Duration::ZERO]);
    }

    #[test]
    fn failed_reopens_follow_the_backoff_then_go_offline_and_close_the_port() {
        let mut l = started();
        l.opened();
        let mut seen = delays(&l.failed("timeout"));
        for _ in 1..MAX_REOPEN_ATTEMPTS {
            assert_eq!(l.reopen_due(), vec![Effect::OpenCable]);
            seen.extend(delays(&l.open_failed("gone")));
        }
        let expected: Vec<Duration> = (0..MAX_REOPEN_ATTEMPTS)
            .map(|n| retry::reopen_delay(n).unwrap())
            .collect();
        assert_eq!(seen, expected);
        let last = l.open_failed("gone");
        assert_eq!(
            last,
            vec![
                Effect::CountUsbError,
                Effect::Log(Report::CannotOpen("gone".into())),
                Effect::Log(Report::Offline),
                Effect::CloseServer
            ]
        );
        assert_eq!(l.state(false), CableState::Offline);
        assert_eq!(l.reason(), Some("cannot open: gone"));
        assert!(!l.may_start(), "offline waits for a replug or rescan");
        assert_eq!(l.reopen_due(), vec![], "a late timer does nothing");
        l.stopped();
        assert_eq!(
            l.state(false),
            CableState::Offline,
            "stopping keeps offline"
        );
        l.rescan();
        assert_eq!(l, Lifecycle::Queued { reason: None });
        assert!(l.may_start());
    }

    #[test]
    fn a_late_open_result_after_a_stop_does_nothing() {
        let mut l = started();
        l.stopped();
        assert_eq!(l.opened(), vec![]);
        assert_eq!(l.open_failed("late"), vec![]);
        assert_eq!(l, Lifecycle::Queued { reason: None });
    }

    #[test]
    fn a_server_error_on_a_cable_not_serving_is_ignored() {
        let mut l = started();
        assert_eq!(l.failed("timeout"), vec![]);
        assert_eq!(l, Lifecycle::Starting);
    }

    #[test]
    fn queue_and_ignore_are_said_once_per_reason() {
        let mut l = Lifecycle::default();
        assert_eq!(
            l.queue("port 2600 held by a"),
            vec![Effect::Log(Report::Queued("port 2600 held by a".into()))]
        );
        assert_eq!(l.queue("port 2600 held by a"), vec![]);
        assert_eq!(l.reason(), Some("port 2600 held by a"));
        assert_eq!(l.queue("max_cables reached").len(), 1);
        assert_eq!(l.ignore("not a cable").len(), 1);
        assert_eq!(l.ignore("not a cable"), vec![]);
        assert_eq!(l.state(false), CableState::Ignored);
        assert!(l.may_start(), "a reload may serve it");
    }

    #[test]
    fn a_port_that_cannot_be_bound_is_said_once_and_retried() {
        let mut l = Lifecycle::default();
        let why = "cannot listen on 0.0.0.0:2542: address in use".to_string();
        assert_eq!(
            l.bind_failed(why.clone()),
            vec![
                Effect::Log(Report::CannotListen(why.clone())),
                Effect::RetryBindAfter(retry::BIND_RETRY)
            ]
        );
        assert_eq!(l.state(false), CableState::Error);
        assert!(l.may_start());
        assert_eq!(
            l.bind_failed(why.clone()),
            vec![Effect::RetryBindAfter(retry::BIND_RETRY)],
            "the same reason again is not logged again"
        );
    }

    #[test]
    fn a_server_that_cannot_start_is_an_error_that_may_start_again() {
        let mut l = started();
        assert_eq!(
            l.serve_failed("bad socket".into()),
            vec![Effect::Log(Report::CannotServe("bad socket".into()))]
        );
        assert_eq!(l.state(false), CableState::Error);
        assert_eq!(l.reason(), Some("bad socket"));
        assert!(l.may_start());
    }
}
