//! The agent's small JSON files in its state directory (port leases, reservations): each a
//! document with a format version, replaced atomically (a temporary file in the same
//! directory, fsync, rename, fsync of the directory) so that a crash or a power loss leaves
//! the old or the new version, never half of one.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// A stored document that says which version of its format it is.
pub(crate) trait Versioned {
    /// The version this build reads and writes.
    const VERSION: u32;
    /// The version the document says it is.
    fn version(&self) -> u32;
}

/// Why a state file could not be read as a document of the expected version.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Reading the file failed (a missing file is not an error: there is no document).
    Io(io::Error),
    /// The file was read but is not such a document; why.
    Damaged(String),
}

/// Reads the document at `path`: `None` when there is no file (or no directory).
pub(crate) fn read<T: DeserializeOwned + Versioned>(path: &Path) -> Result<Option<T>, ReadError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    };
    let doc: T = serde_json::from_str(&text).map_err(|e| ReadError::Damaged(e.to_string()))?;
    if doc.version() != T::VERSION {
        return Err(ReadError::Damaged(format!(
            "unknown format version {}",
            doc.version()
        )));
    }
    Ok(Some(doc))
}

/// Writes `doc` as `dir/name` (pretty JSON and a final newline) atomically, creating the
/// directory if needed.
pub(crate) fn write<T: Serialize>(dir: &Path, name: &str, doc: &T) -> io::Result<()> {
    let mut text = serde_json::to_string_pretty(doc).expect("state documents serialise to JSON");
    text.push('\n');
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> io::Result<()> {
        fs::create_dir_all(dir)?;
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        // Make the rename itself durable.
        File::open(dir)?.sync_all()
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}
