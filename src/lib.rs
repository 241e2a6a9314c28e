//! xvc-agent: serves Digilent and Xilinx FTDI JTAG cables and boards to Vivado,
//! openFPGALoader and other Xilinx Virtual Cable (XVC) clients over TCP, one port per cable,
//! following USB hotplug.
//!
//! `ARCHITECTURE.md` at the root of the repository maps every module, the layers, the two
//! main walks through the code and where each kind of test goes.
//!
//! The crate is a library with a thin binary (`src/main.rs`). Data flows one way:
//! cable events (udev or simulated) → [`agent`] supervisor → per-cable [`xvc`] servers, each
//! driving a [`jtag::Cable`] (an FTDI MPSSE session from [`ftdi`], or the [`sim`] emulator).

pub mod agent;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod ftdi;
pub mod hotplug;
pub mod jtag;
pub mod lab;
pub mod logging;
pub mod sim;
pub mod table;
pub mod xvc;
