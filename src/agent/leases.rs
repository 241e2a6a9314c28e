//! Port leases: which pool port each cable identity was last given, kept on disk so a cable
//! gets the same port after a replug or a restart of the agent (the port is what users put
//! in their Vivado and openFPGALoader settings).
//!
//! The file is small JSON, `state_dir/leases.json`, replaced atomically
//! ([`state_file`](crate::agent::state_file)). A port is leased to at most one identity.

use crate::agent::state_file::{self, ReadError, Versioned};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// File name of the leases inside the state directory.
pub(crate) const LEASES_FILE: &str = "leases.json";

/// Current version of the file format.
const FORMAT_VERSION: u32 = 1;

/// Pool ports remembered per cable identity (serial, else USB path).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leases {
    by_identity: BTreeMap<String, u16>,
}

/// Why the leases could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{}: cannot read the port leases: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file exists but is not a leases file; the caller starts with no leases.
    #[error("{}: corrupt port leases file ({reason})", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{}: cannot write the port leases: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The file as stored.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LeasesFile {
    version: u32,
    leases: BTreeMap<String, u16>,
}

impl Versioned for LeasesFile {
    const VERSION: u32 = FORMAT_VERSION;
    fn version(&self) -> u32 {
        self.version
    }
}

impl Leases {
    pub fn new() -> Self {
        Leases::default()
    }

    /// The port leased to `identity`.
    pub fn get(&self, identity: &str) -> Option<u16> {
        self.by_identity.get(identity).copied()
    }

    /// The identity holding the lease on `port`.
    pub fn holder(&self, port: u16) -> Option<&str> {
        self.by_identity
            .iter()
            .find(|(_, &p)| p == port)
            .map(|(id, _)| id.as_str())
    }

    /// Leases `port` to `identity`, taking it from whoever held it before.
    pub(crate) fn grant(&mut self, identity: &str, port: u16) {
        self.by_identity
            .retain(|id, p| *p != port || id == identity);
        self.by_identity.insert(identity.to_string(), port);
    }

    /// Forgets the lease of `identity`.
    pub fn remove(&mut self, identity: &str) -> Option<u16> {
        self.by_identity.remove(identity)
    }

    /// Every lease, by identity.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u16)> {
        self.by_identity.iter().map(|(id, &p)| (id.as_str(), p))
    }

    pub fn len(&self) -> usize {
        self.by_identity.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_identity.is_empty()
    }

    /// Path of the leases file in `state_dir`.
    pub(crate) fn path_in(state_dir: &Path) -> PathBuf {
        state_dir.join(LEASES_FILE)
    }

    /// Reads `state_dir/leases.json`; a missing file (or directory) is no leases.
    pub fn load(state_dir: &Path) -> Result<Leases, LeaseError> {
        let path = Leases::path_in(state_dir);
        let corrupt = |reason: String| LeaseError::Corrupt {
            path: path.clone(),
            reason,
        };
        let file: LeasesFile = match state_file::read(&path) {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(Leases::new()),
            Err(ReadError::Damaged(reason)) => return Err(corrupt(reason)),
            Err(ReadError::Io(source)) => return Err(LeaseError::Read { path, source }),
        };
        let mut leases = Leases::new();
        for (identity, port) in file.leases {
            if port == 0 {
                return Err(corrupt(format!("port 0 leased to {identity:?}")));
            }
            if let Some(other) = leases.holder(port) {
                return Err(corrupt(format!(
                    "port {port} leased to both {other:?} and {identity:?}"
                )));
            }
            leases.by_identity.insert(identity, port);
        }
        Ok(leases)
    }

    /// Writes `state_dir/leases.json` atomically, creating the directory if needed.
    pub(crate) fn save(&self, state_dir: &Path) -> Result<(), LeaseError> {
        let file = LeasesFile {
            version: FORMAT_VERSION,
            leases: self.by_identity.clone(),
        };
        state_file::write(state_dir, LEASES_FILE, &file).map_err(|source| LeaseError::Write {
            path: Leases::path_in(state_dir),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A state directory not created yet, inside a temporary directory removed on drop.
    fn state_dir() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        (tmp, dir)
    }

    #[test]
    fn grant_keeps_one_holder_per_port() {
        let mut l = Leases::new();
        l.grant("A", 2542);
        l.grant("B", 2543);
        assert_eq!(l.holder(2542), Some("A"));
        l.grant("B", 2542);
        assert_eq!(l.get("A"), None);
        assert_eq!(l.get("B"), Some(2542));
        assert_eq!(l.holder(2543), None);
        assert_eq!(l.len(), 1);
        assert_eq!(l.remove("B"), Some(2542));
        assert!(l.is_empty());
    }

    #[test]
    fn save_then_load() {
        let (_tmp, dir) = state_dir();
        let mut l = Leases::new();
        l.grant("210249A2B6C1", 2542);
        l.grant("1-1.4", 2543);
        l.save(&dir).unwrap();
        assert_eq!(Leases::load(&dir).unwrap(), l);
        // Saving again replaces the file and leaves no temporary behind.
        l.remove("1-1.4");
        l.save(&dir).unwrap();
        assert_eq!(Leases::load(&dir).unwrap(), l);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [LEASES_FILE]);
    }

    #[test]
    fn missing_file_is_no_leases() {
        let (_tmp, dir) = state_dir();
        assert_eq!(Leases::load(&dir).unwrap(), Leases::new());
    }

    #[test]
    fn corrupt_files_are_reported() {
        let (_tmp, dir) = state_dir();
        fs::create_dir_all(&dir).unwrap();
        for text in [
            "{ not json",
            r#"{"version": 1, "leases": {"A": 70000}}"#,
            r#"{"version": 1, "leases": {"A": 0}}"#,
            r#"{"version": 1, "leases": {"A": 2542, "B": 2542}}"#,
            r#"{"version": 9, "leases": {}}"#,
            r#"{"version": 1, "leases": {}, "extra": 1}"#,
        ] {
            fs::write(Leases::path_in(&dir), text).unwrap();
            match Leases::load(&dir) {
                Err(LeaseError::Corrupt { .. }) => {}
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
