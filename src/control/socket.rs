//! The control socket server: a unix socket (mode 0660, the service's group) answering
//! newline-delimited JSON requests from `xvc-agent status` and friends.
//!
//! Access is the file mode first; peer credentials are checked again on every connection
//! (root, the agent's own user, or a member of the agent's group), so a socket that ends up
//! with looser permissions still does not answer strangers.

use crate::agent::supervisor::Input;
use crate::control::protocol::{parse_request, Reply, Request};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("another xvc-agent answers on {0}")]
    InUse(PathBuf),
    #[error("cannot create control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A served control socket; the file is removed when this is dropped.
pub struct ControlSocket {
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
    /// Binds `path` and answers requests by asking the supervisor through `inputs`.
    pub fn serve(path: &Path, inputs: mpsc::UnboundedSender<Input>) -> Result<Self, ControlError> {
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
        let task = tokio::spawn(accept_loop(listener, inputs));
        Ok(ControlSocket {
            path: path.to_path_buf(),
            task,
        })
    }
}

async fn accept_loop(listener: UnixListener, inputs: mpsc::UnboundedSender<Input>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        match stream.peer_cred() {
            Ok(cred) if peer_allowed(cred.uid(), cred.gid(), cred.pid()) => {
                let peer = match cred.pid() {
                    Some(pid) => format!("uid {} (pid {pid})", cred.uid()),
                    None => format!("uid {}", cred.uid()),
                };
                tokio::spawn(serve_client(stream, inputs.clone(), peer));
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

/// Root, our own user, or a member of our group (primary or supplementary).
fn peer_allowed(uid: u32, gid: u32, pid: Option<i32>) -> bool {
    // SAFETY: geteuid/getegid cannot fail and touch no memory.
    let (our_uid, our_gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    uid == 0
        || uid == our_uid
        || gid == our_gid
        || pid.is_some_and(|pid| supplementary_groups(pid).contains(&our_gid))
}

fn supplementary_groups(pid: i32) -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|g| {
            g.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Answers one client's requests; `peer` says who it is (logged with what it changes).
async fn serve_client(stream: UnixStream, inputs: mpsc::UnboundedSender<Input>, peer: String) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read.take(MAX_REQUEST as u64 * 16)).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.len() > MAX_REQUEST {
            break;
        }
        let reply = match parse_request(&line) {
            Ok(Request::Status) => {
                let (tx, rx) = oneshot::channel();
                let _ = inputs.send(Input::Status(tx));
                match rx.await {
                    Ok(status) => Reply::status(&status),
                    Err(_) => Reply::error("agent is stopping"),
                }
            }
            Ok(Request::Rescan) => {
                let _ = inputs.send(Input::Rescan);
                Reply::ok()
            }
            Ok(Request::Disconnect { cable }) => {
                let (tx, rx) = oneshot::channel();
                let _ = inputs.send(Input::Disconnect {
                    cable,
                    requested_by: peer.clone(),
                    reply: tx,
                });
                match rx.await {
                    Ok(Ok(done)) => Reply::disconnected(done),
                    Ok(Err(e)) => Reply::error(e),
                    Err(_) => Reply::error("agent is stopping"),
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
