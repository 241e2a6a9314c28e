//! The integration tests, one binary in tiers (one link of the crate instead of one per file):
//!
//! - [`in_process`]: the library driven from the test's own runtime: the supervisor, the XVC
//!   server over real TCP, the FTDI driver against the emulator, the config loader, the fuzz
//!   targets replayed;
//! - [`binary`]: the `xvc-agent` binary as a process (`--simulate`, the CLI, its logs, HTTP,
//!   reservations, session ownership across real clients);
//! - [`stress`]: faults and hostile clients against a running agent (`make stress` runs them
//!   longer);
//! - [`static_checks`]: the code against itself and its packaging (layers, the architecture
//!   map, udev rules, units, man pages).
//!
//! Two stress tests are binaries of their own (`tests/stress_flapping.rs`,
//! `tests/stress_scale.rs`): they measure their own process or load every core, which other
//! tests running beside them in one process would disturb. `tests/kit` is what every tier
//! shares. Where a new test goes: ARCHITECTURE.md, "Tests".

#[path = "../kit/mod.rs"]
mod kit;

mod binary;
mod in_process;
mod static_checks;
mod stress;
