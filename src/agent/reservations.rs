//! Reservations: "this board is mine until five". Who holds which cable until when, the
//! client addresses its port serves meanwhile, and a note.
//!
//! A reservation belongs to the cable's identity (serial, else USB path), never to its port
//! or bus address, so it survives an unplug and replug, a restart and an upgrade. The table
//! here is pure: every change takes the current time and returns what happened or why not,
//! so the rules (one owner at a time, the owner extends, the longest duration, force) and
//! expiry are tested without a clock or a socket. The supervisor applies the results to the
//! cables' ports and the log.
//!
//! The table is kept in `state_dir/reservations.json` beside the port leases, replaced
//! atomically the same way. End times are wall-clock times, so a reservation that ended
//! while the agent was down is found ended when it starts.

use crate::agent::state_file::{self, ReadError, Versioned};
use crate::config::ReservationLimits;
use crate::xvc::reservation::PortReservation;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// File name of the reservations inside the state directory.
pub(crate) const RESERVATIONS_FILE: &str = "reservations.json";

/// Current version of the file format.
const FORMAT_VERSION: u32 = 1;

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 200;

/// One reservation. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    /// The user holding it, by name.
    pub owner: String,
    /// Client addresses (networks) the cable's port serves while it lasts.
    pub from: Vec<IpNet>,
    /// When it was made.
    pub since_ms: u64,
    /// When it ends.
    pub until_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Reservation {
    pub fn until(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.until_ms)
    }

    pub fn since(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.since_ms)
    }

    /// True while it lasts.
    pub fn lasts_at(&self, now: SystemTime) -> bool {
        now < self.until()
    }

    /// What the cable's port enforces.
    pub fn for_port(&self) -> PortReservation {
        PortReservation {
            owner: self.owner.clone(),
            until: self.until(),
            from: self.from.clone(),
        }
    }

    /// `reserved by alice until 17:00`.
    pub fn describe(&self, now: SystemTime) -> String {
        self.for_port().describe(now)
    }
}

/// Who asks, as the control socket established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// The user's name (from the peer credentials).
    pub name: String,
    /// Root or the agent's own user: may break someone else's reservation.
    pub may_force: bool,
}

/// A request to reserve (or extend) a cable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveRequest {
    pub from: Vec<IpNet>,
    /// `None`: the configured default.
    pub duration: Option<Duration>,
    /// `None` on an extension keeps the note there is.
    pub note: Option<String>,
}

/// What a reserve did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reserved {
    /// A new reservation.
    New,
    /// The owner's reservation, extended or changed.
    Extended,
}

/// What a release did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Released {
    /// The owner ended it.
    Released,
    /// Root or the agent's user broke someone else's reservation.
    Forced,
    /// There was none.
    NotReserved,
}

/// Why a reservation was not made or not released. Each says what was wrong, in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReservationError {
    #[error("{cable} is {held} (ask them, or wait)")]
    HeldBy { cable: String, held: String },
    #[error(
        "{cable} is {held}: only its owner may release it (root and the agent's user may break it with --force)"
    )]
    NotOwner { cable: String, held: String },
    #[error("--force: only root and the agent's user may break another user's reservation of {cable} ({held})")]
    ForceNotAllowed { cable: String, held: String },
    #[error("--for {asked}: longer than the longest reservation, {max} (reservations.max)")]
    TooLong { asked: String, max: String },
    #[error("--for: a reservation must last longer than 0s")]
    Zero,
    #[error("--from: give at least one address or network")]
    NoAddresses,
    #[error("--note: at most {MAX_NOTE_CHARS} characters, without control characters")]
    BadNote,
}

/// Every cable's reservation, by cable identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reservations {
    by_identity: BTreeMap<String, Reservation>,
}

/// Why the reservations file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReservationFileError {
    #[error("{}: cannot read the reservations: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file exists but is not a reservations file.
    #[error("{}: damaged reservations file ({reason})", path.display())]
    Damaged { path: PathBuf, reason: String },
    #[error("{}: cannot write the reservations: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The file as stored.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReservationsFile {
    version: u32,
    reservations: BTreeMap<String, Reservation>,
}

impl Versioned for ReservationsFile {
    const VERSION: u32 = FORMAT_VERSION;
    fn version(&self) -> u32 {
        self.version
    }
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Reservations {
    pub fn new() -> Self {
        Reservations::default()
    }

    /// The reservation of `identity`, ended or not.
    pub fn get(&self, identity: &str) -> Option<&Reservation> {
        self.by_identity.get(identity)
    }

    /// Every reservation, by identity.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Reservation)> {
        self.by_identity.iter().map(|(id, r)| (id.as_str(), r))
    }

    pub fn len(&self) -> usize {
        self.by_identity.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_identity.is_empty()
    }

    /// Reserves the cable `identity` (called `cable` in messages) for `who`, or extends and
    /// changes `who`'s own reservation of it.
    pub fn reserve(
        &mut self,
        identity: &str,
        cable: &str,
        who: &Requester,
        request: ReserveRequest,
        limits: &ReservationLimits,
        now: SystemTime,
    ) -> Result<(Reserved, Reservation), ReservationError> {
        let duration = request.duration.unwrap_or(limits.default);
        if duration.is_zero() {
            return Err(ReservationError::Zero);
        }
        if duration > limits.max {
            return Err(ReservationError::TooLong {
                asked: crate::config::format_duration(duration),
                max: crate::config::format_duration(limits.max),
            });
        }
        if request.from.is_empty() {
            return Err(ReservationError::NoAddresses);
        }
        if let Some(note) = &request.note {
            if note.chars().count() > MAX_NOTE_CHARS || note.chars().any(char::is_control) {
                return Err(ReservationError::BadNote);
            }
        }
        let current = self.by_identity.get(identity).filter(|r| r.lasts_at(now));
        if let Some(r) = current {
            if r.owner != who.name {
                return Err(ReservationError::HeldBy {
                    cable: cable.to_string(),
                    held: r.describe(now),
                });
            }
        }
        let outcome = if current.is_some() {
            Reserved::Extended
        } else {
            Reserved::New
        };
        let note = request.note.filter(|n| !n.trim().is_empty());
        let reservation = Reservation {
            owner: who.name.clone(),
            from: request.from,
            since_ms: current.map_or(millis(now), |r| r.since_ms),
            until_ms: millis(now + duration),
            note: match (note, current) {
                (Some(n), _) => Some(n),
                (None, Some(r)) => r.note.clone(),
                (None, None) => None,
            },
        };
        self.by_identity
            .insert(identity.to_string(), reservation.clone());
        Ok((outcome, reservation))
    }

    /// Ends the reservation of `identity`: its owner may, and with `force` root and the
    /// agent's user may end anyone's. Returns what was ended.
    pub fn release(
        &mut self,
        identity: &str,
        cable: &str,
        who: &Requester,
        force: bool,
        now: SystemTime,
    ) -> Result<(Released, Option<Reservation>), ReservationError> {
        let Some(r) = self.by_identity.get(identity).filter(|r| r.lasts_at(now)) else {
            return Ok((Released::NotReserved, None));
        };
        let outcome = if r.owner == who.name {
            Released::Released
        } else if !force {
            return Err(ReservationError::NotOwner {
                cable: cable.to_string(),
                held: r.describe(now),
            });
        } else if !who.may_force {
            return Err(ReservationError::ForceNotAllowed {
                cable: cable.to_string(),
                held: r.describe(now),
            });
        } else {
            Released::Forced
        };
        Ok((outcome, self.by_identity.remove(identity)))
    }

    /// Removes and returns the reservations that have ended at `now`.
    pub fn expire(&mut self, now: SystemTime) -> Vec<(String, Reservation)> {
        let ended: Vec<String> = self
            .by_identity
            .iter()
            .filter(|(_, r)| !r.lasts_at(now))
            .map(|(id, _)| id.clone())
            .collect();
        ended
            .into_iter()
            .filter_map(|id| self.by_identity.remove(&id).map(|r| (id, r)))
            .collect()
    }

    /// When the next reservation ends.
    pub fn next_end(&self) -> Option<SystemTime> {
        self.by_identity.values().map(Reservation::until).min()
    }

    /// Path of the reservations file in `state_dir`.
    pub(crate) fn path_in(state_dir: &Path) -> PathBuf {
        state_dir.join(RESERVATIONS_FILE)
    }

    /// Reads `state_dir/reservations.json`; a missing file (or directory) is no reservations.
    pub fn load(state_dir: &Path) -> Result<Reservations, ReservationFileError> {
        let path = Reservations::path_in(state_dir);
        let damaged = |reason: String| ReservationFileError::Damaged {
            path: path.clone(),
            reason,
        };
        let file: ReservationsFile = match state_file::read(&path) {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(Reservations::new()),
            Err(ReadError::Damaged(reason)) => return Err(damaged(reason)),
            // Not text: as damaged as unparsable JSON.
            Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(damaged(e.to_string()))
            }
            Err(ReadError::Io(source)) => return Err(ReservationFileError::Read { path, source }),
        };
        for (identity, r) in &file.reservations {
            if identity.is_empty() || r.owner.is_empty() || r.from.is_empty() {
                return Err(damaged(format!(
                    "incomplete reservation of {identity:?} (needs a cable, an owner and addresses)"
                )));
            }
        }
        Ok(Reservations {
            by_identity: file.reservations,
        })
    }

    /// Writes `state_dir/reservations.json` atomically, creating the directory if needed.
    pub(crate) fn save(&self, state_dir: &Path) -> Result<(), ReservationFileError> {
        let file = ReservationsFile {
            version: FORMAT_VERSION,
            reservations: self.by_identity.clone(),
        };
        state_file::write(state_dir, RESERVATIONS_FILE, &file).map_err(|source| {
            ReservationFileError::Write {
                path: Reservations::path_in(state_dir),
                source,
            }
        })
    }

    /// Moves a damaged file aside (`reservations.json.damaged-SECONDS`) so that it can be
    /// looked at, and returns where it went.
    pub(crate) fn set_aside(state_dir: &Path, now: SystemTime) -> io::Result<PathBuf> {
        let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let aside = state_dir.join(format!("{RESERVATIONS_FILE}.damaged-{secs}"));
        fs::rename(Reservations::path_in(state_dir), &aside)?;
        Ok(aside)
    }
}

/// One `--from` value: an address (`10.0.0.5`, `2001:db8::5`) or a network (`10.0.0.0/24`),
/// an IPv4-mapped IPv6 form taken as the IPv4 it maps (as peers are matched).
pub fn parse_from(text: &str) -> Result<IpNet, String> {
    let net = crate::config::parse_net(text)
        .map_err(|_| format!("--from {text:?}: not an address or network (like 10.0.0.5, 10.0.0.0/24 or 2001:db8::/64)"))?;
    let net = match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::V4(
                ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).expect("prefix of at most 32"),
            ),
            None => net,
        },
        other => other,
    };
    Ok(net.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Duration = Duration::from_secs(3600);

    fn limits() -> ReservationLimits {
        ReservationLimits {
            default: 4 * H,
            max: 24 * H,
        }
    }

    fn user(name: &str) -> Requester {
        Requester {
            name: name.into(),
            may_force: false,
        }
    }

    fn root() -> Requester {
        Requester {
            name: "root".into(),
            may_force: true,
        }
    }

    fn request(from: &str, duration: Option<Duration>, note: Option<&str>) -> ReserveRequest {
        ReserveRequest {
            from: vec![parse_from(from).unwrap()],
            duration,
            note: note.map(String::from),
        }
    }

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn the_default_duration_applies_and_the_owner_extends() {
        let mut t = Reservations::new();
        let (what, r) = t
            .reserve(
                "S1",
                "bench-a",
                &user("alice"),
                request("10.0.0.5", None, Some("timing closure")),
                &limits(),
                t0(),
            )
            .unwrap();
        assert_eq!(what, Reserved::New);
        assert_eq!(r.until(), t0() + 4 * H);
        assert_eq!(r.since(), t0());
        // Extending keeps when it started and the note, changes the end and addresses.
        let later = t0() + H;
        let (what, r) = t
            .reserve(
                "S1",
                "bench-a",
                &user("alice"),
                request("10.0.0.0/24", Some(8 * H), None),
                &limits(),
                later,
            )
            .unwrap();
        assert_eq!(what, Reserved::Extended);
        assert_eq!(r.since(), t0());
        assert_eq!(r.until(), later + 8 * H);
        assert_eq!(r.note.as_deref(), Some("timing closure"));
        assert_eq!(r.from, vec!["10.0.0.0/24".parse::<IpNet>().unwrap()]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn another_user_is_told_who_holds_it_and_nothing_changes() {
        let mut t = Reservations::new();
        let req = request("10.0.0.5", None, None);
        t.reserve(
            "S1",
            "bench-a",
            &user("alice"),
            req.clone(),
            &limits(),
            t0(),
        )
        .unwrap();
        let before = t.clone();
        let err = t
            .reserve("S1", "bench-a", &user("bob"), req.clone(), &limits(), t0())
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("bench-a is reserved by alice until "),
            "{msg}"
        );
        assert_eq!(t, before);
        // Once it has ended, bob may.
        let (what, _) = t
            .reserve("S1", "bench-a", &user("bob"), req, &limits(), t0() + 4 * H)
            .unwrap();
        assert_eq!(what, Reserved::New);
    }

    #[test]
    fn bad_requests_change_nothing() {
        let mut t = Reservations::new();
        let too_long = t.reserve(
            "S1",
            "c",
            &user("alice"),
            request("10.0.0.5", Some(25 * H), None),
            &limits(),
            t0(),
        );
        assert_eq!(
            too_long.unwrap_err().to_string(),
            "--for 25h: longer than the longest reservation, 24h (reservations.max)"
        );
        let zero = t.reserve(
            "S1",
            "c",
            &user("alice"),
            request("10.0.0.5", Some(Duration::ZERO), None),
            &limits(),
            t0(),
        );
        assert_eq!(zero.unwrap_err(), ReservationError::Zero);
        let none = ReserveRequest {
            from: vec![],
            duration: None,
            note: None,
        };
        let none = t.reserve("S1", "c", &user("alice"), none, &limits(), t0());
        assert_eq!(none.unwrap_err(), ReservationError::NoAddresses);
        let bad_note = t.reserve(
            "S1",
            "c",
            &user("alice"),
            request("10.0.0.5", None, Some("two\nlines")),
            &limits(),
            t0(),
        );
        assert_eq!(bad_note.unwrap_err(), ReservationError::BadNote);
        assert!(t.is_empty());
    }

    #[test]
    fn release_by_owner_by_force_and_refused() {
        let mut t = Reservations::new();
        let req = request("10.0.0.5", None, None);
        t.reserve("S1", "c", &user("alice"), req.clone(), &limits(), t0())
            .unwrap();
        let err = t.release("S1", "c", &user("bob"), false, t0()).unwrap_err();
        assert!(matches!(err, ReservationError::NotOwner { .. }), "{err}");
        let err = t.release("S1", "c", &user("bob"), true, t0()).unwrap_err();
        assert!(matches!(err, ReservationError::ForceNotAllowed { .. }));
        assert_eq!(t.len(), 1);
        let (what, r) = t.release("S1", "c", &root(), true, t0()).unwrap();
        assert_eq!(what, Released::Forced);
        assert_eq!(r.unwrap().owner, "alice");
        assert_eq!(
            t.release("S1", "c", &user("alice"), false, t0()).unwrap(),
            (Released::NotReserved, None)
        );
        t.reserve("S1", "c", &user("alice"), req, &limits(), t0())
            .unwrap();
        let (what, _) = t.release("S1", "c", &user("alice"), false, t0()).unwrap();
        assert_eq!(what, Released::Released);
        assert!(t.is_empty());
    }

    #[test]
    fn from_takes_addresses_and_networks() {
        assert_eq!(parse_from("10.0.0.5").unwrap().to_string(), "10.0.0.5/32");
        assert_eq!(
            parse_from("10.0.0.5/24").unwrap().to_string(),
            "10.0.0.0/24"
        );
        assert_eq!(
            parse_from("2001:db8::5").unwrap().to_string(),
            "2001:db8::5/128"
        );
        assert_eq!(
            parse_from("::ffff:10.0.0.5").unwrap().to_string(),
            "10.0.0.5/32"
        );
        let e = parse_from("lab-pc").unwrap_err();
        assert!(e.starts_with("--from \"lab-pc\": not an address"), "{e}");
    }

    #[test]
    fn reservations_end_on_time() {
        let mut t = Reservations::new();
        let two_s = Some(Duration::from_secs(2));
        t.reserve(
            "S1",
            "a",
            &user("alice"),
            request("10.0.0.5", two_s, None),
            &limits(),
            t0(),
        )
        .unwrap();
        t.reserve(
            "S2",
            "b",
            &user("bob"),
            request("10.0.0.6", Some(H), None),
            &limits(),
            t0(),
        )
        .unwrap();
        assert_eq!(t.next_end(), Some(t0() + Duration::from_secs(2)));
        assert!(t.expire(t0() + Duration::from_millis(1999)).is_empty());
        let ended = t.expire(t0() + Duration::from_secs(2));
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].0, "S1");
        assert_eq!(t.next_end(), Some(t0() + H));
        // Found ended after a long absence: all at once.
        assert_eq!(t.expire(t0() + 48 * H).len(), 1);
        assert_eq!(t.next_end(), None);
    }

    /// A state directory not created yet, inside a temporary directory removed on drop.
    fn state_dir() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        (tmp, dir)
    }

    #[test]
    fn save_load_and_damaged_files() {
        let (_tmp, dir) = state_dir();
        assert_eq!(Reservations::load(&dir).unwrap(), Reservations::new());
        let mut t = Reservations::new();
        t.reserve(
            "S1",
            "a",
            &user("alice"),
            request("2001:db8::/64", None, Some("bring-up")),
            &limits(),
            t0(),
        )
        .unwrap();
        t.save(&dir).unwrap();
        assert_eq!(Reservations::load(&dir).unwrap(), t);
        for text in [
            "{ not json",
            r#"{"version": 2, "reservations": {}}"#,
            r#"{"version": 1, "reservations": {"S1": {"owner": "", "from": ["10.0.0.1/32"], "since_ms": 1, "until_ms": 2}}}"#,
            r#"{"version": 1, "reservations": {"S1": {"owner": "a", "from": ["nope"], "since_ms": 1, "until_ms": 2}}}"#,
            r#"{"version": 1, "reservations": {}, "extra": 1}"#,
        ] {
            fs::write(Reservations::path_in(&dir), text).unwrap();
            match Reservations::load(&dir) {
                Err(ReservationFileError::Damaged { .. }) => {}
                other => panic!("{text}: {other:?}"),
            }
        }
        let aside = Reservations::set_aside(&dir, t0()).unwrap();
        assert!(aside.exists());
        assert!(!Reservations::path_in(&dir).exists());
    }
}
