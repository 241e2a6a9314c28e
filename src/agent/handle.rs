//! What the outside may ask of a running agent, and nothing more: its status, a rescan, the
//! end of one cable's session.
//!
//! The control socket and the HTTP listener hold an [`AgentHandle`], not the supervisor's
//! input queue, so they cannot inject cable events or stop the agent, and the supervisor does
//! not need to know who is asking.

use crate::agent::reservations::{Released, Requester, ReservationError, ReserveRequest, Reserved};
use crate::agent::status::AgentStatus;
use crate::agent::supervisor::Input;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// What `disconnect` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnected {
    /// The cable's name (rule name, else its identity).
    pub cable: String,
    pub port: Option<u16>,
    /// The client whose session was ended (`None`: the cable had no client).
    pub client: Option<String>,
}

/// What `reserve` or `release` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationDone {
    /// The cable's name (rule name, else its identity).
    pub cable: String,
    pub port: Option<u16>,
    /// `reserved`, `extended`, `released`, `forced` or `not_reserved`.
    pub outcome: String,
    /// The owner, before a release; the requester after a reserve.
    pub owner: Option<String>,
    /// When the reservation ends (reserve) or was to end (release), seconds since the epoch.
    pub until: Option<u64>,
    /// The same, as the host's clock says it (`17:00`).
    pub until_text: Option<String>,
    pub from: Vec<String>,
    pub note: Option<String>,
    /// A client outside the reservation whose session goes on until it ends.
    pub session_continues: Option<String>,
}

impl ReservationDone {
    pub(crate) fn outcome_of_reserve(r: Reserved) -> &'static str {
        match r {
            Reserved::New => "reserved",
            Reserved::Extended => "extended",
        }
    }

    pub(crate) fn outcome_of_release(r: Released) -> &'static str {
        match r {
            Released::Released => "released",
            Released::Forced => "forced",
            Released::NotReserved => "not_reserved",
        }
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    #[error("agent is stopping")]
    Stopping,
    /// No attached cable answers to that name (the message lists the attached ones).
    #[error("{0}")]
    NoSuchCable(String),
    /// The reservation was not made or not released.
    #[error("{0}")]
    Reservation(#[from] ReservationError),
}

/// A cheap, cloneable way to ask the supervisor things.
#[derive(Debug, Clone)]
pub struct AgentHandle {
    inputs: mpsc::UnboundedSender<Input>,
}

impl AgentHandle {
    pub(crate) fn new(inputs: mpsc::UnboundedSender<Input>) -> Self {
        AgentHandle { inputs }
    }

    /// A snapshot of every attached cable, taken after every input queued before.
    pub async fn status(&self) -> Result<AgentStatus, HandleError> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::Status(reply))
            .map_err(|_| HandleError::Stopping)?;
        answer.await.map_err(|_| HandleError::Stopping)
    }

    /// Re-enumerates devices and gives offline cables a fresh set of attempts (SIGUSR1).
    pub(crate) fn rescan(&self) -> Result<(), HandleError> {
        self.inputs
            .send(Input::Rescan)
            .map_err(|_| HandleError::Stopping)
    }

    /// Reserves the cable `cable` names for `who` (or extends `who`'s reservation).
    pub async fn reserve(
        &self,
        cable: String,
        who: Requester,
        request: ReserveRequest,
    ) -> Result<ReservationDone, HandleError> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::Reserve {
                cable,
                who,
                request,
                reply,
            })
            .map_err(|_| HandleError::Stopping)?;
        answer.await.map_err(|_| HandleError::Stopping)?
    }

    /// Ends the reservation of the cable `cable` names: `who`'s own, or with `force`
    /// anyone's (root and the agent's user only).
    pub async fn release(
        &self,
        cable: String,
        who: Requester,
        force: bool,
    ) -> Result<ReservationDone, HandleError> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::Release {
                cable,
                who,
                force,
                reply,
            })
            .map_err(|_| HandleError::Stopping)?;
        answer.await.map_err(|_| HandleError::Stopping)?
    }

    /// Ends the session on the cable `cable` names (rule name, serial, USB path or port);
    /// `requested_by` is logged.
    pub async fn disconnect(
        &self,
        cable: String,
        requested_by: String,
    ) -> Result<Disconnected, HandleError> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::Disconnect {
                cable,
                requested_by,
                reply,
            })
            .map_err(|_| HandleError::Stopping)?;
        answer.await.map_err(|_| HandleError::Stopping)?
    }
}
