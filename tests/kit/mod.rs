//! The test kit: everything the integration tests share, in one place.
//!
//! - [`xvc`]: the one XVC client, on the crate's codec, and JTAG helpers to walk the TAP.
//! - [`agent`]: the one launcher of the agent binary ([`Agent`], readiness from a
//!   NOTIFY_SOCKET), and [`cli`] for one-shot commands.
//! - [`in_process`]: the supervisor on a runtime of the test's own ([`InProcess`]), and
//!   [`opener`] to build a cable opener from a closure.
//! - [`netns`]: network namespaces of the test's own, for a second client address.
//! - [`wait`]: the one poller ([`poll`]) and port probes; [`ports`]: the one port picker.
//! - [`procfs`]: a process's descriptors, threads, memory and CPU time; [`scale`]: the
//!   many-cables run shared by `tests/stress_scale.rs` and `benches/scale.rs`.
//!
//! The integration binary (`tests/it`) declares it once; the two stress binaries of their own
//! and `benches/scale.rs` include it too, and allow what they leave unused at their `mod kit;`.
//! The Python harnesses' client and product facts live next to this file (`xvc.py`,
//! `facts.py`).

pub mod agent;
pub mod in_process;
pub mod netns;
pub mod ports;
pub mod procfs;
pub mod wait;
pub mod xvc;

pub use agent::{cli, Agent, Launch, BINARY};
pub use in_process::{opener, runtime, InProcess};
pub use ports::{loopback, port_block};
pub use wait::{poll, refused, wait_for_port};
pub use xvc::{raw_stream, session, XvcClient};

use std::time::Duration;

/// Time allowed for anything the agent should do promptly.
pub const T: Duration = Duration::from_secs(20);
/// The IDCODE of the simulated part (xc7a35t).
pub const IDCODE: u32 = xvc_agent::sim::parts::XC7A35T.idcode;

/// Reads a variable of the environment as a number, with a default (long variants of the
/// stress tests are selected this way by `make stress`).
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
