//! Network namespaces a test makes for itself: a second client address (a "laptop") next to
//! the agent's host, joined by a veth pair, so tests see more than loopback without sending a
//! packet anywhere else. Deleted when dropped.

use std::process::Command;

/// Network namespaces made for one test, deleted when dropped.
pub struct Namespaces(pub Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs `ip` with `args`; panics with its output when it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {}: {out:?}", args.join(" "));
}

/// Runs `f` on a thread that has joined network namespace `ns` (sockets it creates stay
/// there).
pub fn in_namespace<R: Send + 'static>(ns: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(&path).expect("namespace file");
        // SAFETY: setns on a namespace file descriptor we hold; affects this thread only.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .unwrap()
}

/// A host namespace (`HOST_ADDR` on its veth, loopback up) and a client namespace
/// (`CLIENT_ADDR`) on one link, named after `tag`; `None` (said on stderr) where namespaces
/// cannot be made, which CI does not accept.
pub struct HostAndClient {
    pub host: String,
    pub client: String,
    /// The client's end of the link (set it down to make the client vanish).
    pub client_link: String,
    _namespaces: Namespaces,
}

/// The host's address on the test link (documentation range, inside the namespaces only).
pub const HOST_ADDR: &str = "192.0.2.1";
/// The client's address on the test link.
pub const CLIENT_ADDR: &str = "192.0.2.2";

impl HostAndClient {
    pub fn new(tag: &str) -> Option<HostAndClient> {
        let tag = format!("{tag}{}", std::process::id());
        let (host, client) = (format!("{tag}h"), format!("{tag}c"));
        let made = Command::new("ip").args(["netns", "add", &host]).output();
        if !made.as_ref().is_ok_and(|o| o.status.success()) {
            let why = format!("cannot create network namespaces here ({made:?})");
            assert!(
                std::env::var_os("CI").is_none(),
                "{why}: CI must run this test"
            );
            eprintln!("SKIPPED: {why}");
            return None;
        }
        let mut namespaces = Namespaces(vec![host.clone()]);
        ip(&["netns", "add", &client]);
        namespaces.0.push(client.clone());
        // Link names of the test's own too (at most 15 characters), so that tests running
        // at the same time never meet.
        let pid = std::process::id();
        let (hd, cd) = (format!("v{pid}h"), format!("v{pid}c"));
        let (hd, cd) = (hd.as_str(), cd.as_str());
        ip(&[
            "link", "add", hd, "netns", &host, "type", "veth", "peer", "name", cd, "netns", &client,
        ]);
        ip(&[
            "-n",
            &host,
            "addr",
            "add",
            &format!("{HOST_ADDR}/24"),
            "dev",
            hd,
        ]);
        ip(&[
            "-n",
            &client,
            "addr",
            "add",
            &format!("{CLIENT_ADDR}/24"),
            "dev",
            cd,
        ]);
        for (ns, dev) in [(&host, hd), (&client, cd), (&host, "lo")] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        Some(HostAndClient {
            host,
            client,
            client_link: cd.to_string(),
            _namespaces: namespaces,
        })
    }
}
