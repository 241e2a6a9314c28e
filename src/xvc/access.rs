//! Who may talk to a cable: an allowlist of networks and what to do with everyone else.
//!
//! XVC has no authentication, so the peer address is the only thing to check. IPv4 clients of
//! a dual-stack listener appear as IPv4-mapped IPv6 addresses (`::ffff:10.0.0.5`); they are
//! canonicalised to IPv4 before matching so an IPv4 allowlist means what it says.

use ipnet::IpNet;
use std::net::IpAddr;

/// How the allowlist is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessMode {
    /// Refuse peers outside the allowlist before reading a byte.
    #[default]
    Strict,
    /// Serve them, but log a warning.
    Permissive,
    /// Check nothing.
    Off,
}

/// The decision for one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Outside the allowlist, served anyway (permissive).
    AllowWithWarning,
    Refuse,
}

/// An allowlist with its enforcement mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    pub mode: AccessMode,
    pub allow: Vec<IpNet>,
}

impl Default for AccessPolicy {
    /// Strict, loopback and the private ranges.
    fn default() -> Self {
        AccessPolicy {
            mode: AccessMode::Strict,
            allow: default_allow(),
        }
    }
}

/// Loopback and the private address ranges (RFC 1918, RFC 4193).
pub(crate) fn default_allow() -> Vec<IpNet> {
    [
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
    ]
    .iter()
    .map(|s| s.parse().expect("built-in network"))
    .collect()
}

/// Turns `::ffff:a.b.c.d` into `a.b.c.d`; leaves other addresses alone.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

impl AccessPolicy {
    /// True when the peer is inside the allowlist.
    pub(crate) fn is_listed(&self, peer: IpAddr) -> bool {
        let peer = canonical(peer);
        self.allow.iter().any(|net| net.contains(&peer))
    }

    /// What to do with a connection from `peer`.
    pub fn check(&self, peer: IpAddr) -> Verdict {
        match self.mode {
            AccessMode::Off => Verdict::Allow,
            _ if self.is_listed(peer) => Verdict::Allow,
            AccessMode::Permissive => Verdict::AllowWithWarning,
            AccessMode::Strict => Verdict::Refuse,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: AccessMode, nets: &[&str]) -> AccessPolicy {
        AccessPolicy {
            mode,
            allow: nets.iter().map(|n| n.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn mapped_ipv4_matches_ipv4_rules() {
        let p = policy(AccessMode::Strict, &["10.1.0.0/16"]);
        assert_eq!(p.check("::ffff:10.1.2.3".parse().unwrap()), Verdict::Allow);
        assert_eq!(p.check("10.1.2.3".parse().unwrap()), Verdict::Allow);
        assert_eq!(p.check("::ffff:10.2.0.1".parse().unwrap()), Verdict::Refuse);
    }

    #[test]
    fn modes() {
        let outsider: IpAddr = "127.0.0.2".parse().unwrap();
        let insider: IpAddr = "127.0.0.1".parse().unwrap();
        let nets = ["127.0.0.1/32"];
        assert_eq!(
            policy(AccessMode::Strict, &nets).check(outsider),
            Verdict::Refuse
        );
        assert_eq!(
            policy(AccessMode::Permissive, &nets).check(outsider),
            Verdict::AllowWithWarning
        );
        assert_eq!(
            policy(AccessMode::Off, &nets).check(outsider),
            Verdict::Allow
        );
        assert_eq!(
            policy(AccessMode::Strict, &nets).check(insider),
            Verdict::Allow
        );
    }

    #[test]
    fn default_allows_private_refuses_public() {
        let p = AccessPolicy::default();
        for ok in [
            "127.0.0.1",
            "::1",
            "192.168.1.10",
            "172.20.0.1",
            "fd00::1",
            "10.9.9.9",
        ] {
            assert_eq!(p.check(ok.parse().unwrap()), Verdict::Allow, "{ok}");
        }
        for bad in ["8.8.8.8", "2001:db8::1", "172.32.0.1"] {
            assert_eq!(p.check(bad.parse().unwrap()), Verdict::Refuse, "{bad}");
        }
    }
}
