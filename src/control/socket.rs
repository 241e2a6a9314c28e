//! The control socket server: a unix socket (mode 0660, the service's group) answering
//! newline-delimited JSON requests from `xvc-agent status` and friends.
//!
//! Access is the file mode first; peer credentials are checked again on every connection
//! (root, the agent's own user, or a member of the agent's group), so a socket that ends up
//! with looser permissions still does not answer strangers.
//!
//! Group membership comes from the socket itself (`SO_PEERGROUPS`: the peer's groups as
//! the kernel recorded them at connect time), never from `/proc/PID/status`: under the
//! shipped unit's `ProtectProc=invisible` other users' processes are not visible, and under
//! `PrivateUsers=yes` a person's uid and primary gid are unmapped (they read as the overflow
//! id), so only the supplementary-group list still shows membership of our (mapped) group.

use crate::agent::handle::AgentHandle;
use crate::agent::reservations::{parse_from, Requester, ReserveRequest};
use crate::control::protocol::{parse_request, Reply, Request};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ControlError {
    #[error("another xvc-agent answers on {0}")]
    InUse(PathBuf),
    #[error("cannot create control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A served control socket; the file is removed when this is dropped.
pub(crate) struct ControlSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ControlSocket {
    /// Binds `path` and answers requests by asking the agent through `agent`.
    pub fn serve(path: &Path, agent: AgentHandle) -> Result<Self, ControlError> {
        let io = |source| ControlError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
        }
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ControlError::InUse(path.to_path_buf()));
            }
            std::fs::remove_file(path).map_err(io)?; // stale, from a crashed run
        }
        let listener = UnixListener::bind(path).map_err(io)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
        let task = tokio::spawn(accept_loop(listener, agent));
        Ok(ControlSocket {
            path: path.to_path_buf(),
            task,
        })
    }
}

async fn accept_loop(listener: UnixListener, agent: AgentHandle) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        match stream.peer_cred() {
            Ok(cred) if peer_allowed(cred.uid(), cred.gid(), || peer_groups(&stream)) => {
                let peer = match cred.pid() {
                    Some(pid) => format!("uid {} (pid {pid})", cred.uid()),
                    None => format!("uid {}", cred.uid()),
                };
                tokio::spawn(serve_client(stream, agent.clone(), peer, cred.uid()));
            }
            Ok(cred) => {
                tracing::warn!(
                    "control socket: refused uid {} gid {} (not root, our user or our group)",
                    cred.uid(),
                    cred.gid()
                );
            }
            Err(e) => tracing::warn!("control socket: cannot read peer credentials: {e}"),
        }
    }
}

/// Root, our own user, or a member of our group (primary, or among `groups()`: the
/// supplementary ones).
fn peer_allowed(uid: u32, gid: u32, groups: impl FnOnce() -> Vec<u32>) -> bool {
    // SAFETY: geteuid/getegid cannot fail and touch no memory.
    let (our_uid, our_gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    uid == 0 || uid == our_uid || gid == our_gid || groups().contains(&our_gid)
}

/// The peer's supplementary groups (`SO_PEERGROUPS`, Linux 4.13 and later); none when the
/// kernel cannot tell.
fn peer_groups(stream: &UnixStream) -> Vec<u32> {
    use std::os::fd::AsRawFd;
    let mut groups = vec![0 as libc::gid_t; 64];
    loop {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: the buffer is `len` bytes of gid_t, and the kernel writes at most `len`.
        let r = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if r == 0 {
            groups.truncate(n);
            return groups;
        }
        // ERANGE: the list is longer; `len` now says how long.
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE) && n > groups.len()
        {
            groups.resize(n, 0);
            continue;
        }
        return Vec::new();
    }
}

/// Who asks for a reservation: the user the peer credentials name. A uid outside the
/// agent's user namespace (the shipped unit's `PrivateUsers=yes` maps only root and the
/// agent's user) reads as the overflow uid; the kernel then cannot say who it is, and the
/// name the client states is taken: it has already shown membership of the agent's group.
fn requester(uid: u32, stated: Option<&str>) -> Requester {
    // SAFETY: geteuid cannot fail and touches no memory.
    let our_uid = unsafe { libc::geteuid() };
    let stated = stated.filter(|s| {
        !s.is_empty() && s.len() <= 64 && !s.chars().any(|c| c.is_control() || c == ' ')
    });
    let name = match stated {
        Some(s) if uid == overflow_uid() => s.to_string(),
        _ => user_name(uid).unwrap_or_else(|| format!("uid {uid}")),
    };
    Requester {
        name,
        may_force: uid == 0 || uid == our_uid,
    }
}

/// The uid unmapped users read as (`/proc/sys/kernel/overflowuid`, 65534 by default).
fn overflow_uid() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/overflowuid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65534)
}

/// The user name of `uid`, from the password database.
pub(crate) fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r writes the entry into `pwd` and its strings into `buf` (of the
    // length given); `result` points at `pwd` on success.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let r = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if r != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// A reserve request's values, checked: each problem as the one line the user sees.
fn reserve_request(
    duration: Option<&str>,
    from: &[String],
    note: Option<String>,
) -> Result<ReserveRequest, String> {
    let duration = duration
        .map(|d| crate::config::parse_duration(d).map_err(|e| format!("--for: {e}")))
        .transpose()?;
    let from = from
        .iter()
        .map(|f| parse_from(f))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReserveRequest {
        from,
        duration,
        note,
    })
}

/// Answers one client's requests; `peer` says who it is (logged with what it changes), `uid`
/// is its user as the kernel saw it.
async fn serve_client(stream: UnixStream, agent: AgentHandle, peer: String, uid: u32) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read.take(MAX_REQUEST as u64 * 16)).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.len() > MAX_REQUEST {
            break;
        }
        let reply = match parse_request(&line) {
            Ok(Request::Status) => match agent.status().await {
                Ok(status) => Reply::status(&status),
                Err(e) => Reply::error(e.to_string()),
            },
            Ok(Request::Rescan) => match agent.rescan() {
                Ok(()) => Reply::ok(),
                Err(e) => Reply::error(e.to_string()),
            },
            Ok(Request::Disconnect { cable }) => {
                match agent.disconnect(cable, peer.clone()).await {
                    Ok(done) => Reply::disconnected(done),
                    Err(e) => Reply::error(e.to_string()),
                }
            }
            Ok(Request::Reserve {
                cable,
                duration,
                from,
                note,
                user,
            }) => match reserve_request(duration.as_deref(), &from, note) {
                Ok(request) => {
                    let who = requester(uid, user.as_deref());
                    match agent.reserve(cable, who, request).await {
                        Ok(done) => Reply::reservation(done),
                        Err(e) => Reply::error(e.to_string()),
                    }
                }
                Err(e) => Reply::error(e),
            },
            Ok(Request::Release { cable, force, user }) => {
                let who = requester(uid, user.as_deref());
                match agent.release(cable, who, force).await {
                    Ok(done) => Reply::reservation(done),
                    Err(e) => Reply::error(e.to_string()),
                }
            }
            Err(e) => Reply::error(e),
        };
        let mut out = serde_json::to_vec(&reply).unwrap_or_default();
        out.push(b'\n');
        if write.write_all(&out).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_by_supplementary_group() {
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let other = uid.wrapping_add(4242);
        let overflow = 65534;
        assert!(peer_allowed(0, overflow, Vec::new));
        assert!(peer_allowed(uid, overflow, Vec::new));
        assert!(peer_allowed(other, gid, Vec::new));
        // A person seen through PrivateUsers=: overflow uid and gid, our group among the rest.
        assert!(peer_allowed(overflow, overflow, || vec![overflow, gid]));
        assert!(!peer_allowed(overflow, overflow, || vec![overflow]));
    }

    #[test]
    fn requesters_are_named_by_their_uid() {
        let root = requester(0, Some("mallory"));
        assert_eq!(root.name, "root");
        assert!(root.may_force);
        let unnamed = requester(4_000_123, None);
        assert_eq!(unnamed.name, "uid 4000123");
        assert!(!unnamed.may_force);
        // Only an unmapped uid takes the stated name.
        assert_eq!(requester(overflow_uid(), Some("alice")).name, "alice");
        assert_ne!(requester(overflow_uid(), Some("bad name")).name, "bad name");
    }

    #[tokio::test]
    async fn peer_groups_are_this_process_groups() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut ours = vec![0 as libc::gid_t; 256];
        // SAFETY: the buffer holds 256 gids.
        let n = unsafe { libc::getgroups(256, ours.as_mut_ptr()) };
        ours.truncate(n.max(0) as usize);
        let mut got = peer_groups(&a);
        got.sort_unstable();
        ours.sort_unstable();
        assert_eq!(got, ours);
    }
}
