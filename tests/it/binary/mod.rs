//! The `xvc-agent` binary as users run it: a process, its command line, its output.

mod agent_simulate;
mod http_api;
mod log_output;
mod reservations;
mod session_ownership;
