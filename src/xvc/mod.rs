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
///
/// 16384 is the largest value every known client handles correctly. Clients read the number
/// differently: OpenOCD and openFPGALoader take it as TMS and TDI together (N/2 bytes per
/// vector), probe-rs as one vector (N bytes, so messages of up to 2N + 10 bytes), Vivado
/// sends at most N/2 bytes per vector. openFPGALoader (every release to date) keeps a
/// burst's byte count and the index of the bit that leaves Shift-DR in 16-bit variables
/// (`writeTDI` in `src/xvc_client.cpp`): with bursts over 8192 bytes (65,536 bits) a long
/// SVF scan leaves Shift-DR at the wrong bit, and with bursts over 65,535 bytes a large SRAM
/// load arrives corrupted, both while it reports success. N = 16384 keeps its bursts at
/// 8192 bytes. A lab without openFPGALoader may raise `max_vector_bytes`: larger shifts
/// need fewer USB and network round trips.
pub const DEFAULT_MAX_VECTOR_BYTES: usize = 16 * 1024;
