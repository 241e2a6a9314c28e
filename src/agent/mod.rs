//! The agent: turns cable events into running per-cable XVC servers and keeps them in step
//! with the hardware.
//!
//! The [`supervisor`] owns all mutable state and is driven by one queue of inputs (cable
//! events, server events, signals); nothing else changes which cable is served where.

pub mod assign;
mod attached;
pub mod handle;
mod identification;
pub mod input;
pub mod leases;
pub mod lifecycle;
pub mod listing;
pub mod notify;
pub mod opener;
pub mod replies;
pub mod reservations;
pub mod retry;
pub mod state;
mod state_file;
pub mod status;
pub mod supervisor;
pub mod wiring;

pub use wiring::RunOptions;
