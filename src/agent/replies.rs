//! What the supervisor answers when the outside asks it something (ending a session,
//! reserving, releasing), and why it may not answer. Kept apart from the requests
//! ([`input`](super::input)) and from the handle that sends them ([`handle`](super::handle)) so
//! that both read these types from below.

use crate::agent::reservations::{Released, ReservationError, Reserved};
use serde::{Deserialize, Serialize};

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
