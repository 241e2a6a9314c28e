//! The config being read: the built-in defaults with every valid value the file gave written
//! over them, and where each part was written (for messages that involve several values).
//! Written by the key table's readers, finished by [`validate`](super::validate).

use super::schema::{Config, Rule};
use super::yaml::Pos;

/// The config being read: defaults, overwritten by every value the file gives that is valid.
#[derive(Debug)]
pub(super) struct Draft {
    pub config: Config,
    /// Whether `ports:` was given (a message about the pool says when it is the default).
    pub ports_given: bool,
    /// Which of `http:` and its older name `metrics:` was given first, and where.
    pub http_at: Option<(String, Pos)>,
    /// The rules of `cables:`, in file order.
    pub rules: Vec<RuleDraft>,
    /// Where `reservations:` was written.
    pub reservations_at: Option<Pos>,
}

/// One entry of `cables:` being read, with where its parts were written.
#[derive(Debug)]
pub(super) struct RuleDraft {
    pub rule: Rule,
    /// Where the entry starts.
    pub pos: Pos,
    /// Where a valid `name:` was written.
    pub name_at: Option<Pos>,
    /// Where `match:` was written, and how many patterns it holds (`None`: no `match:`).
    pub match_at: Option<(Pos, usize)>,
    /// Where a valid `port:` was written.
    pub port_at: Option<Pos>,
}
