//! Xilinx Virtual Cable (XVC 1.0): the wire protocol, the per-cable TCP server and its
//! one-client-at-a-time session, and peer access control.

pub mod access;
pub mod codec;
pub mod connection;
pub mod reservation;
pub mod server;
pub mod session;
pub mod shutdown;
mod slot;
pub mod stats;

/// The TCP port XVC clients try by default.
pub const DEFAULT_PORT: u16 = 2542;

/// Default largest vector (TMS or TDI) accepted per `shift:`, in bytes; advertised in `getinfo:`.
pub const DEFAULT_MAX_VECTOR_BYTES: usize = 1 << 20;
