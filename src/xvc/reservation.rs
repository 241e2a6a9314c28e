//! A cable's reservation as its port enforces it: who holds the cable until when, and the
//! client addresses the port serves meanwhile.
//!
//! XVC has no authentication and nothing survives a reconnect, so "this board is mine until
//! five" has to be checked where connections arrive: the accept loop asks the cable's
//! [`ReservationGate`] about every peer before it reads a byte. The agent owns the
//! reservations (who may make them, where they are stored, when they expire) and only sets
//! the gate; the gate itself also compares the end time, so a reservation stops refusing at
//! its end even before the agent gets round to removing it.

use crate::xvc::access::canonical;
use ipnet::IpNet;
use parking_lot::RwLock;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// What the port needs to know of a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortReservation {
    /// The user holding it, by name.
    pub owner: String,
    /// When it ends.
    pub until: SystemTime,
    /// The client addresses served while it lasts.
    pub from: Vec<IpNet>,
}

impl PortReservation {
    /// True when `peer` is one of the reservation's addresses.
    pub fn admits(&self, peer: IpAddr) -> bool {
        let peer = canonical(peer);
        self.from.iter().any(|net| net.contains(&peer))
    }

    /// True while the reservation lasts.
    pub fn lasts_at(&self, now: SystemTime) -> bool {
        now < self.until
    }

    /// `reserved by alice until 17:00`, as logs and refusals say it.
    pub fn describe(&self, now: SystemTime) -> String {
        format!(
            "reserved by {} until {}",
            self.owner,
            clock_text(self.until, now)
        )
    }
}

/// A cable's reservation, shared between the agent (which sets it) and the cable's server
/// (which checks every new connection against it). Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct ReservationGate(Arc<RwLock<Option<PortReservation>>>);

impl ReservationGate {
    pub fn new() -> Self {
        ReservationGate::default()
    }

    /// Replaces the reservation (`None`: the cable is not reserved).
    pub fn set(&self, reservation: Option<PortReservation>) {
        *self.0.write() = reservation;
    }

    /// The reservation that refuses `peer` at `now`, if any: one that lasts and does not
    /// list the peer's address.
    pub fn refusing(&self, peer: IpAddr, now: SystemTime) -> Option<PortReservation> {
        let guard = self.0.read();
        guard
            .as_ref()
            .filter(|r| r.lasts_at(now) && !r.admits(peer))
            .cloned()
    }
}

/// A time as people in the lab say it, in the host's local time: `17:00` today, else
/// `2026-12-05 17:00`.
pub fn clock_text(t: SystemTime, now: SystemTime) -> String {
    let (Some(at), Some(today)) = (local(t), local(now)) else {
        return format!("{} s after the epoch", epoch_seconds(t));
    };
    if (at.tm_year, at.tm_yday) == (today.tm_year, today.tm_yday) {
        format!("{:02}:{:02}", at.tm_hour, at.tm_min)
    } else {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            at.tm_year + 1900,
            at.tm_mon + 1,
            at.tm_mday,
            at.tm_hour,
            at.tm_min
        )
    }
}

/// Seconds since the Unix epoch, rounded up (an end time is never shown earlier than it is).
pub fn epoch_seconds(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `t` broken down in local time.
fn local(t: SystemTime) -> Option<libc::tm> {
    let secs = libc::time_t::try_from(epoch_seconds(t)).ok()?;
    // SAFETY: localtime_r writes only into `out`, which is a plain C struct.
    unsafe {
        let mut out: libc::tm = std::mem::zeroed();
        (!libc::localtime_r(&secs, &mut out).is_null()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn reservation(from: &[&str], until: SystemTime) -> PortReservation {
        PortReservation {
            owner: "alice".into(),
            until,
            from: from.iter().map(|n| n.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn the_gate_refuses_others_while_the_reservation_lasts() {
        let now = SystemTime::now();
        let gate = ReservationGate::new();
        let outsider: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(gate.refusing(outsider, now), None, "not reserved");
        gate.set(Some(reservation(
            &["192.0.2.0/24"],
            now + Duration::from_secs(60),
        )));
        assert!(gate.refusing(outsider, now).is_some());
        for ok in ["192.0.2.7", "::ffff:192.0.2.7"] {
            assert_eq!(gate.refusing(ok.parse().unwrap(), now), None, "{ok}");
        }
        // At its end it refuses nobody, whether or not the agent removed it yet.
        assert_eq!(gate.refusing(outsider, now + Duration::from_secs(60)), None);
        gate.set(None);
        assert_eq!(gate.refusing(outsider, now), None);
    }

    #[test]
    fn ipv6_networks_match_ipv6_peers() {
        let now = SystemTime::now();
        let r = reservation(&["2001:db8:1::/48"], now + Duration::from_secs(1));
        assert!(r.admits("2001:db8:1:2::5".parse().unwrap()));
        assert!(!r.admits("2001:db8:2::5".parse().unwrap()));
        assert!(!r.admits("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn end_times_are_said_as_a_clock_time_today_and_with_the_date_otherwise() {
        let now = SystemTime::now();
        let soon = reservation(&[], now);
        let text = soon.describe(now);
        assert!(text.starts_with("reserved by alice until "), "{text}");
        let clock = text.trim_start_matches("reserved by alice until ");
        assert_eq!(clock.len(), 5, "{clock}");
        assert_eq!(&clock[2..3], ":");
        let later = clock_text(now + Duration::from_secs(3 * 86400), now);
        assert_eq!(later.len(), 16, "{later}");
        assert_eq!(&later[4..5], "-");
    }

    #[test]
    fn epoch_seconds_round_up() {
        assert_eq!(epoch_seconds(UNIX_EPOCH + Duration::from_millis(1500)), 2);
        assert_eq!(epoch_seconds(UNIX_EPOCH + Duration::from_secs(2)), 2);
    }
}
