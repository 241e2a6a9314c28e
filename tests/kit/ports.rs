//! The one port picker of the Rust tests: blocks of free ports on 127.0.0.1 for agents given
//! fixed ports or pools.

use std::net::SocketAddr;

/// `127.0.0.1:port`.
pub fn loopback(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

/// Finds `count` consecutive free TCP ports on 127.0.0.1 below the kernel's ephemeral range.
///
/// Ports the kernel hands out as source ports of outgoing connections (this machine runs other
/// tests too) would now and then be taken when a cable's port is bound again after an unplug,
/// and a probe of a closed port could connect to itself. Below the range neither happens.
/// Tests of one binary run in parallel: a port is never handed out twice in one process.
pub fn port_block(count: u16) -> u16 {
    let range =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let low: u16 = range
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32768);
    let (from, to) = if low > 12_000 + count {
        (10_000, low - count)
    } else {
        (61_000, 65_000 - count)
    };
    static TAKEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut taken = TAKEN.lock().unwrap();
    let mut seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
        ^ (taken.len() as u64) << 48;
    'search: for _ in 0..500 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let base = from + (seed % u64::from(to - from)) as u16;
        for p in base..base + count {
            if taken.contains(&p) || std::net::TcpListener::bind(("127.0.0.1", p)).is_err() {
                continue 'search;
            }
        }
        taken.extend(base..base + count);
        return base;
    }
    panic!("no free block of {count} ports below the ephemeral range");
}
