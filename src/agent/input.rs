//! Everything the supervisor loop is told, as one type: cable events, server events, open
//! results, timers, signals and requests. One queue of these is the only way in, which is
//! what keeps the supervisor's changes in order.

use crate::agent::replies::{Disconnected, HandleError, ReservationDone};
use crate::agent::reservations::{Requester, ReserveRequest};
use crate::agent::status::{AgentStatus, ChainDevice};
use crate::hotplug::{CableEvent, CableInfo};
use crate::jtag::{Cable, CableError};
use crate::xvc::server::ServerEvent;
use std::path::PathBuf;
use tokio::sync::oneshot;

/// A cable opened and identified, ready to serve.
pub struct OpenedCable {
    pub cable: Box<dyn Cable>,
    pub chain: Vec<ChainDevice>,
}

/// An input to the supervisor loop.
pub enum Input {
    Cable(CableEvent),
    /// The EEPROM of the device at `key` (attached as device number `devnum`) was read, in
    /// `took`.
    Identify {
        key: PathBuf,
        devnum: u8,
        eeprom: Result<Vec<u8>, String>,
        took: std::time::Duration,
    },
    /// The current set of devices, from a re-enumeration (SIGUSR1).
    Present(Vec<CableInfo>),
    Server {
        key: PathBuf,
        generation: u64,
        event: ServerEvent,
    },
    Opened {
        key: PathBuf,
        generation: u64,
        result: Result<OpenedCable, CableError>,
    },
    RetryOpen {
        key: PathBuf,
        generation: u64,
    },
    RetryBind {
        key: PathBuf,
        generation: u64,
    },
    /// SIGHUP: reread the config file.
    Reload,
    /// SIGUSR1: re-enumerate devices and retry offline cables.
    Rescan,
    /// SIGUSR2: write a status summary to the log.
    LogStatus,
    Status(oneshot::Sender<AgentStatus>),
    /// End the session on the cable named by rule name, serial, USB path or port;
    /// `requested_by` is logged.
    Disconnect {
        cable: String,
        requested_by: String,
        reply: oneshot::Sender<Result<Disconnected, HandleError>>,
    },
    /// Reserve (or extend) the cable named by rule name, serial, USB path or port.
    Reserve {
        cable: String,
        who: Requester,
        request: ReserveRequest,
        reply: oneshot::Sender<Result<ReservationDone, HandleError>>,
    },
    /// End the reservation of the cable named by rule name, serial, USB path or port.
    Release {
        cable: String,
        who: Requester,
        force: bool,
        reply: oneshot::Sender<Result<ReservationDone, HandleError>>,
    },
    /// A reservation's end time has come.
    ReservationsDue,
    /// SIGTERM / SIGINT: stop gracefully.
    Shutdown,
}
