//! What the outside may ask of a running agent, and nothing more: its status, a rescan, the
//! end of one cable's session.
//!
//! The control socket and the HTTP listener hold an [`AgentHandle`], not the supervisor's
//! input queue, so they cannot inject cable events or stop the agent, and the supervisor does
//! not need to know who is asking.

use crate::agent::input::Input;
use crate::agent::replies::{Disconnected, HandleError, ReservationDone};
use crate::agent::reservations::{Requester, ReserveRequest};
use crate::agent::status::AgentStatus;
use tokio::sync::{mpsc, oneshot};

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
