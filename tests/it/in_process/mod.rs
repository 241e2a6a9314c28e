//! The library in the test's own process: no `xvc-agent` process, real TCP on loopback.

mod client_habits;
mod config_errors;
mod ftdi_faults;
mod ftdi_property;
mod ftdi_xvc;
mod fuzz;
mod supervisor;
mod xvc_tcp;
