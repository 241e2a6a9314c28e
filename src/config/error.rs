//! What can go wrong reading a config file, in a form an operator can act on: every problem
//! of a file at once, each as `FILE:LINE:COLUMN: message` (the format editors and `grep -n`
//! users already jump to).

use std::fmt;
use std::path::PathBuf;

/// One problem in a config file. Line and column are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, permissions, not UTF-8…).
    #[error("{}: cannot read the config file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid config; `errors` is every problem found, in file
    /// order.
    #[error("{}", Listing { file, errors })]
    Invalid {
        file: String,
        errors: Vec<Diagnostic>,
    },
}

impl ConfigError {
    /// The individual problems (empty for a read error).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid { errors, .. } => errors,
        }
    }
}

/// Prints one `FILE:LINE:COLUMN: message` per line.
struct Listing<'a> {
    file: &'a str,
    errors: &'a [Diagnostic],
}

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.file, e.line, e.column, e.message)?;
        }
        Ok(())
    }
}
