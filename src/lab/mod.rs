//! The lab: cables of many hosts in one place.
//!
//! Every served cable is announced over DNS-SD (`_xvc._tcp`) through Avahi, the mDNS service
//! Linux hosts already run, so that `xvc-agent browse` (and the `/lab` page) on any machine of
//! the network lists every cable with its host, port and JTAG chain.
//!
//! [`service`] is the pure part — what a cable's announcement says (instance name, TXT
//! records) and how a browsed announcement reads back; [`advertise`] keeps Avahi's entry
//! groups in step with the agent's cables; [`browse`] finds the announcements; [`avahi`] is the
//! D-Bus interface of avahi-daemon that both use.

pub mod advertise;
pub mod avahi;
pub mod browse;
pub mod service;

/// The DNS-SD service type of an XVC server.
pub(crate) const SERVICE_TYPE: &str = "_xvc._tcp";
