//! The small value languages of the config file: durations (`500ms`, `3s`, `10m`, `1h`),
//! frequencies (`15MHz`, `500kHz`, `15000000`), port pools (`2542-2573`), addresses, networks
//! and USB ids. Each parses from text (with a message an operator can act on) and prints back
//! in the same form, so `--dump-config` output reads like a hand-written file and parses to
//! the same config.

use super::glob::Glob;
use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Parses `500ms`, `3s`, `10m`, `1h` (a whole number and a unit), or a bare `0`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || {
        format!("invalid duration {text:?}; expected a whole number and a unit, like 500ms, 3s, 10m or 1h")
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let ms_per_unit = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return Err(bad()),
    };
    n.checked_mul(ms_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {text:?} is too long"))
}

/// Prints a duration in the largest unit that represents it exactly (`90s` → `90s`,
/// `600s` → `10m`, sub-millisecond parts are dropped).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Parses a frequency in Hz: `15000000`, `15MHz`, `7.5 MHz`, `500kHz`, `1000Hz`
/// (units case-insensitive). Must be positive and a whole number of Hz.
pub fn parse_frequency(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || {
        format!("invalid frequency {text:?}; expected a number of Hz or a value with a unit, like 15MHz or 500kHz")
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "hz" => 1,
        "khz" => 1_000,
        "mhz" => 1_000_000,
        _ => return Err(bad()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // Whole part times the unit, plus the decimal fraction times the unit, exactly.
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let mut hz = whole.checked_mul(scale).ok_or_else(bad)?;
    let mut place = scale;
    for digit in fraction.bytes() {
        if place % 10 != 0 {
            return Err(format!("frequency {text:?} is not a whole number of Hz"));
        }
        place /= 10;
        hz += u64::from(digit - b'0') * place;
    }
    if hz == 0 {
        return Err(format!("frequency {text:?} must be above zero"));
    }
    Ok(hz)
}

/// Prints a frequency in the largest unit that represents it exactly.
pub fn format_frequency(hz: u64) -> String {
    if hz % 1_000_000 == 0 {
        format!("{}MHz", hz / 1_000_000)
    } else if hz % 1_000 == 0 {
        format!("{}kHz", hz / 1_000)
    } else {
        format!("{hz}Hz")
    }
}

/// The ports handed out to cables without a fixed port: `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortPool {
    pub first: u16,
    pub last: u16,
}

impl Default for PortPool {
    /// 2542-2573: the XVC default port and the 31 after it (32 ports, one per `max_cables`).
    fn default() -> Self {
        PortPool {
            first: crate::xvc::DEFAULT_PORT,
            last: crate::xvc::DEFAULT_PORT + 31,
        }
    }
}

impl PortPool {
    /// Parses `A-B` or a single port `A`; ports are 1–65535 and `A` ≤ `B`.
    pub fn parse(text: &str) -> Result<PortPool, String> {
        let text = text.trim();
        let (a, b) = text.split_once('-').unwrap_or((text, text));
        let first = parse_port(a.trim())?;
        let last = parse_port(b.trim())?;
        if first > last {
            return Err(format!(
                "empty port pool {text:?}; the first port is above the last"
            ));
        }
        Ok(PortPool { first, last })
    }

    pub fn contains(&self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }

    /// Every port of the pool, lowest first.
    pub fn ports(&self) -> impl Iterator<Item = u16> {
        self.first..=self.last
    }

    /// Number of ports in the pool.
    #[cfg(test)]
    fn len(&self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    /// The same number of ports starting at `first` (cut at 65535).
    pub fn moved_to(&self, first: u16) -> PortPool {
        PortPool {
            first,
            last: first.saturating_add(self.last - self.first),
        }
    }
}

impl fmt::Display for PortPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// Parses a TCP port number, 1–65535.
pub fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u64>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        Ok(n) => Err(format!("port {n} is out of range (1-65535)")),
        Err(_) => Err(format!("invalid port {text:?}; expected a number 1-65535")),
    }
}

/// An IP address (`::`, `0.0.0.0`, `192.168.1.10`).
pub(crate) fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "invalid address {s:?}; expected an IP address such as \"::\", 0.0.0.0 or 192.168.1.10"
        )
    })
}

/// An address and port (`127.0.0.1:9542`, `[::1]:9542`).
pub(crate) fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse().map_err(|_| {
        format!("invalid address {s:?}; expected address:port such as 127.0.0.1:9542 or [::1]:9542")
    })
}

/// A network in CIDR notation; a bare address is that one host.
pub(crate) fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    Err(format!(
        "invalid network {s:?}; expected address/prefix such as 10.0.0.0/8 or fc00::/7"
    ))
}

/// `vvvv:pppp` in hex (wildcards allowed), compared in lower case.
pub(crate) fn parse_vid_pid(s: &str) -> Result<Glob, String> {
    let lower = s.trim().to_ascii_lowercase();
    let glob = Glob::new(&lower).map_err(|e| e.to_string())?;
    let well_formed = lower.split_once(':').is_some_and(|(v, p)| {
        v.len() == 4 && p.len() == 4 && (v.to_string() + p).bytes().all(|b| b.is_ascii_hexdigit())
    });
    if glob.is_literal() && !well_formed {
        return Err(format!(
            "invalid USB id {s:?}; expected vendor:product in hex, like \"0403:6014\""
        ));
    }
    Ok(glob)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "3", "s", "3 sec", "-1s", "1.5s", "3d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_round_trip() {
        for text in ["0s", "500ms", "1500ms", "3s", "90s", "10m", "1h", "25h"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(format_duration(d), text);
        }
    }

    #[test]
    fn frequencies() {
        assert_eq!(parse_frequency("15MHz"), Ok(15_000_000));
        assert_eq!(parse_frequency("15000000"), Ok(15_000_000));
        assert_eq!(parse_frequency("7.5 MHz"), Ok(7_500_000));
        assert_eq!(parse_frequency("500kHz"), Ok(500_000));
        assert_eq!(parse_frequency("100hz"), Ok(100));
        for bad in [
            "", "0", "0MHz", "fast", "15GHz", "1.5Hz", ".5MHz", "1..5MHz",
        ] {
            assert!(parse_frequency(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn frequencies_round_trip() {
        for text in ["30MHz", "7500kHz", "458Hz"] {
            assert_eq!(format_frequency(parse_frequency(text).unwrap()), text);
        }
    }

    #[test]
    fn pools() {
        assert_eq!(
            PortPool::parse("2542-2573"),
            Ok(PortPool {
                first: 2542,
                last: 2573
            })
        );
        assert_eq!(PortPool::parse("2542").unwrap().len(), 1);
        assert_eq!(PortPool::default().len(), 32);
        assert_eq!(PortPool::default().to_string(), "2542-2573");
        assert!(PortPool::parse("2573-2542").is_err());
        assert!(PortPool::parse("0-10").is_err());
        assert!(PortPool::parse("2542-70000").is_err());
        assert!(PortPool::parse("a-b").is_err());
        assert!(PortPool::parse("").is_err());
    }

    #[test]
    fn networks_accept_bare_addresses() {
        assert_eq!(parse_net("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_net("127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert_eq!(parse_net("::1").unwrap().to_string(), "::1/128");
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("lab").is_err());
    }

    #[test]
    fn vid_pid_forms() {
        assert!(parse_vid_pid("0403:6014").is_ok());
        assert!(parse_vid_pid("0403:601?").is_ok());
        assert!(parse_vid_pid("0403:*").is_ok());
        assert_eq!(parse_vid_pid("0403:601A").unwrap().as_str(), "0403:601a");
        assert!(parse_vid_pid("403:6014").is_err());
        assert!(parse_vid_pid("ftdi").is_err());
    }
}
