//! Which attached cable is served on which port: the rules of the config applied to the
//! cables present, their current sessions and the remembered leases.
//!
//! Pure (no I/O, no clock), so the supervisor can call it after every change (attach, detach,
//! session start/end, reload) and apply the difference, and so its promises are tested
//! directly:
//! - the best-priority matching rule decides (ties: first in the file); cables matching no
//!   rule are served from the pool with the worst priority when `auto_serve` is on and they
//!   are a known cable profile;
//! - when cables compete for a port or for `max_cables`, the best priority is served and the
//!   others are queued with a reason;
//! - a cable with a connected client keeps its port, whatever else happens;
//! - with `preempt: never`, whoever is served keeps its place; with `preempt: idle`, a
//!   better-priority cable may take the place of one without a client;
//! - a pool cable keeps its current port, else gets its leased port, else the lowest free one.

use crate::agent::leases::Leases;
use crate::config::{CableSettings, Config, Preempt};
use crate::ftdi::identify::profile_by_name;
use crate::ftdi::identify::{Identification, Verdict};
use crate::ftdi::profiles::Profile;
use crate::hotplug::CableInfo;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// An attached device, as the supervisor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttachedCable {
    pub info: CableInfo,
    /// What identification decided about the device.
    pub identification: Identification,
    /// The port it is served on now (`None`: not served).
    pub port: Option<u16>,
    /// A client is connected to it.
    pub session_active: bool,
}

/// The outcome for every attached cable: served, queued or ignored (each cable appears in
/// exactly one list, in arrival order), and the leases to remember.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub served: Vec<Served>,
    pub queued: Vec<Queued>,
    pub ignored: Vec<Ignored>,
    pub leases: Leases,
}

/// A cable to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Served {
    /// The device (its udev syspath).
    pub key: PathBuf,
    /// Serial, else USB path.
    pub identity: String,
    /// Name for status and logs: the rule's name, else the identity.
    pub name: String,
    pub port: u16,
    /// Index of the rule in `cables:` (`None`: auto-served).
    pub rule: Option<usize>,
    /// The rule's priority (`None`: auto-served, worse than any rule).
    pub priority: Option<u32>,
    /// The profile to open the cable with: the rule's `profile:`, else the detected one.
    /// `None` only for a cable kept for its session that the config no longer serves.
    pub profile: Option<&'static Profile>,
    pub settings: CableSettings,
    /// A client is connected: the cable stays on its current port whatever the config now
    /// says; a change of port or settings applies once the session ends (assign again then).
    pub kept_for_session: bool,
}

/// A cable that should be served but has no place now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub key: PathBuf,
    pub identity: String,
    pub name: String,
    pub rule: Option<usize>,
    pub priority: Option<u32>,
    /// Why, for status and logs ("port 2600 held by zcu104-a (priority 1)").
    pub reason: String,
}

/// A device that is not served at all under this config (not a cable, or not wanted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ignored {
    pub key: PathBuf,
    pub identity: String,
    pub reason: String,
}

impl Assignment {
    /// The served entry of the device `key`.
    pub fn served(&self, key: &Path) -> Option<&Served> {
        self.served.iter().find(|s| s.key == key)
    }

    /// The queued entry of the device `key`.
    pub fn queued(&self, key: &Path) -> Option<&Queued> {
        self.queued.iter().find(|q| q.key == key)
    }

    /// The port the device `key` is to be served on.
    #[cfg(test)]
    pub fn port_of(&self, key: &Path) -> Option<u16> {
        self.served(key).map(|s| s.port)
    }
}

/// Where a cable wants to be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Fixed(u16),
    Pool,
}

/// A cable the config serves (a matching rule with a usable profile, or auto-served).
struct Candidate<'a> {
    /// Position in the input (arrival order).
    index: usize,
    cable: &'a AttachedCable,
    identity: String,
    name: String,
    rule: Option<usize>,
    priority: Option<u32>,
    profile: Option<&'static Profile>,
    want: Want,
}

impl Candidate<'_> {
    /// Sort key, smaller is better: rules before auto-served, then priority, then whoever is
    /// served already (equal priority never displaces), then arrival order.
    fn rank(&self) -> (bool, u32, bool, usize) {
        (
            self.priority.is_none(),
            self.priority.unwrap_or(0),
            self.cable.port.is_none(),
            self.index,
        )
    }

    fn describe_priority(&self) -> String {
        match self.priority {
            Some(p) => format!("priority {p}"),
            None => "auto-served".to_string(),
        }
    }
}

/// Decides where every attached cable is served. `cables` is in arrival order.
///
/// In three passes, each taking ports before the next: (1) a cable with a client keeps its
/// port; (2) with `preempt: never`, a served cable keeps its place; (3) everyone else, best
/// first ([`Candidate::rank`]).
pub(crate) fn assign(config: &Config, cables: &[AttachedCable], leases: &Leases) -> Assignment {
    let mut state = State::new(config, cables, leases);
    let mut candidates = Vec::new();
    for (index, cable) in cables.iter().enumerate() {
        match classify(config, index, cable) {
            Ok(candidate) => candidates.push(candidate),
            Err(reason) => state.outcome[index] = Some(Outcome::Ignored(reason)),
        }
    }
    state.note_presence(cables, &candidates);

    state.keep_sessions(cables, &mut candidates);
    candidates.sort_by_key(Candidate::rank);
    if config.preempt == Preempt::Never {
        candidates = state.keep_incumbents(candidates);
    }
    for candidate in candidates {
        state.place(candidate);
    }
    state.finish(cables)
}

/// Turns a device into a candidate, or says why it is not served.
fn classify<'a>(
    config: &Config,
    index: usize,
    cable: &'a AttachedCable,
) -> Result<Candidate<'a>, String> {
    let identity = cable.info.identity();
    let id = &cable.identification;
    if id.verdict == Verdict::Never {
        return Err(format!(
            "never served, whatever a rule says: {}",
            id.evidence
        ));
    }
    let detected = cable.detected();
    match config.rule_for(&cable.info) {
        Some((rule_index, rule)) => {
            let profile = match &rule.profile {
                Some(name) => profile_by_name(name),
                None => detected,
            };
            let name = rule.name.clone().unwrap_or_else(|| identity.clone());
            let label = rule_label(rule.name.as_deref(), rule_index);
            let Some(profile) = profile else {
                return Err(format!(
                    "matches rule {label} but is not identified for certain ({}); name its type with `profile:`{}",
                    id.evidence,
                    hint(id)
                ));
            };
            if profile.pid != cable.info.pid {
                return Err(format!(
                    "rule {label} names profile {} (a {:04x}:{:04x} device), but this is a {:04x}:{:04x}",
                    profile.name, profile.vid, profile.pid, cable.info.vid, cable.info.pid
                ));
            }
            Ok(Candidate {
                index,
                cable,
                identity,
                name,
                rule: Some(rule_index),
                priority: Some(rule.priority),
                profile: Some(profile),
                want: rule.port.map_or(Want::Pool, Want::Fixed),
            })
        }
        None if detected.is_none() => Err(format!(
            "not identified for certain and no rule names it ({}){}",
            id.evidence,
            rule_suggestion(&cable.info, id)
        )),
        None if !config.auto_serve => Err("matches no rule, and auto_serve is off".to_string()),
        None => Ok(Candidate {
            index,
            cable,
            name: identity.clone(),
            identity,
            rule: None,
            priority: None,
            profile: detected,
            want: Want::Pool,
        }),
    }
}

/// The served row the evidence points to, for a device not identified for certain.
fn hinted_profile(id: &Identification) -> Option<&'static str> {
    match id.verdict {
        Verdict::AskForRule { hint: Some(board) } if board.wiring().is_some() => Some(board.name),
        _ => None,
    }
}

/// The profile the evidence points to, as a `profile:` suggestion.
fn hint(id: &Identification) -> String {
    hinted_profile(id).map_or(String::new(), |name| {
        format!(" (the evidence points to `profile: {name}`)")
    })
}

/// The rule that would serve an unidentified device: its serial (or USB path) and a profile.
fn rule_suggestion(info: &CableInfo, id: &Identification) -> String {
    let select = match info.serial.as_deref() {
        Some(serial) if info.naming != crate::hotplug::Naming::UsbPath => {
            format!("serial: \"{serial}\"")
        }
        _ => format!("usb_path: \"{}\"", info.usb_path),
    };
    let profile = hinted_profile(id).unwrap_or("<profile>");
    format!("; to serve it, add a rule {{ {select}, profile: {profile} }}")
}

impl AttachedCable {
    /// The profile identification chose, if it serves the device without a rule.
    pub(crate) fn detected(&self) -> Option<&'static Profile> {
        self.identification.profile()
    }
}

/// A cable kept for its session although the config does not serve it (any more).
fn kept_without_rule<'a>(config: &Config, index: usize, cable: &'a AttachedCable) -> Candidate<'a> {
    let identity = cable.info.identity();
    let rule = config.rule_for(&cable.info);
    Candidate {
        index,
        cable,
        name: rule
            .and_then(|(_, r)| r.name.clone())
            .unwrap_or_else(|| identity.clone()),
        identity,
        rule: rule.map(|(i, _)| i),
        priority: rule.map(|(_, r)| r.priority),
        profile: cable.detected(),
        want: Want::Pool,
    }
}

fn rule_label(name: Option<&str>, index: usize) -> String {
    match name {
        Some(name) => format!("{name:?}"),
        None => format!("cables[{index}]"),
    }
}

#[derive(Debug, Clone)]
enum Outcome {
    Served(Served),
    Queued(Queued),
    Ignored(String),
}

/// Who holds a port, for queue reasons.
struct Holder {
    name: String,
    priority: String,
    session: bool,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.name, self.priority)?;
        if self.session {
            write!(f, ", client connected")?;
        }
        write!(f, ")")
    }
}

struct State<'c> {
    config: &'c Config,
    leases: Leases,
    /// Identities of the attached devices the config serves (or that keep a session).
    present: HashSet<String>,
    taken: BTreeMap<u16, Holder>,
    /// For each identity, the arrival index of the one cable that may hold its lease (the
    /// first to arrive, should cables share a serial number).
    lease_holder_index: HashMap<String, usize>,
    outcome: Vec<Option<Outcome>>,
}

impl<'a> State<'a> {
    fn new(config: &'a Config, cables: &[AttachedCable], leases: &Leases) -> Self {
        State {
            config,
            leases: leases.clone(),
            present: HashSet::new(),
            taken: BTreeMap::new(),
            lease_holder_index: HashMap::new(),
            outcome: vec![None; cables.len()],
        }
    }

    /// Who counts as present for leases: the cables the config serves, and those that keep a
    /// session. A lease of a device the config ignores is as free to use as one of an absent
    /// cable. Of two devices with one identity, the first in arrival order holds its lease.
    fn note_presence(&mut self, cables: &[AttachedCable], candidates: &[Candidate]) {
        for c in candidates {
            self.lease_holder_index
                .entry(c.identity.clone())
                .or_insert(c.index);
        }
        self.present = candidates
            .iter()
            .map(|c| c.identity.clone())
            .chain(
                cables
                    .iter()
                    .filter(|c| c.session_active && c.port.is_some())
                    .map(|c| c.info.identity()),
            )
            .collect();
    }

    /// Pass 1: a cable with a client keeps its port, even if the config no longer serves it.
    fn keep_sessions<'c>(
        &mut self,
        cables: &'c [AttachedCable],
        candidates: &mut Vec<Candidate<'c>>,
    ) {
        for (index, cable) in cables.iter().enumerate() {
            let (true, Some(port)) = (cable.session_active, cable.port) else {
                continue;
            };
            if self.taken.contains_key(&port) {
                continue; // inconsistent input: two cables on one port; the first keeps it
            }
            let candidate = match candidates.iter().position(|c| c.index == index) {
                Some(i) => candidates.remove(i),
                None => kept_without_rule(self.config, index, cable),
            };
            self.serve(candidate, port, true);
        }
    }

    /// Pass 2 (`preempt: never`): a served cable keeps its place if it still wants it.
    /// Returns the candidates still to place, in their order.
    fn keep_incumbents<'c>(&mut self, candidates: Vec<Candidate<'c>>) -> Vec<Candidate<'c>> {
        let mut rest = Vec::new();
        for candidate in candidates {
            match self.incumbent_port(&candidate) {
                Some(port) if self.served_count() < self.config.max_cables => {
                    self.serve(candidate, port, false)
                }
                _ => rest.push(candidate),
            }
        }
        rest
    }

    /// Pass 3: serves `candidate` on the port it wants, or queues it saying why it cannot be.
    fn place(&mut self, candidate: Candidate) {
        let port = match candidate.want {
            Want::Fixed(port) => match self.taken.get(&port) {
                Some(holder) => {
                    let reason = format!("port {port} held by {holder}");
                    return self.queue(&candidate, reason);
                }
                None => port,
            },
            Want::Pool => match self.pool_port(&candidate) {
                Some(port) => port,
                None => {
                    let reason = format!("no free port in the pool {}", self.config.ports);
                    return self.queue(&candidate, reason);
                }
            },
        };
        if self.served_count() >= self.config.max_cables {
            let reason = format!("max_cables {} reached", self.config.max_cables);
            return self.queue(&candidate, reason);
        }
        self.serve(candidate, port, false);
    }
    fn served_count(&self) -> usize {
        self.taken.len()
    }

    /// Serves `candidate` on `port`; a pool port becomes its lease. Of cables sharing an
    /// identity (cloned serial numbers), only the first to arrive holds the lease, whichever
    /// is served first, so assigning again gives the same leases.
    fn serve(&mut self, candidate: Candidate, port: u16, kept_for_session: bool) {
        let holds_lease =
            self.lease_holder_index.get(&candidate.identity) == Some(&candidate.index);
        if self.config.ports.contains(port) && holds_lease {
            self.leases.grant(&candidate.identity, port);
        }
        self.taken.insert(
            port,
            Holder {
                name: candidate.name.clone(),
                priority: candidate.describe_priority(),
                session: candidate.cable.session_active,
            },
        );
        let rule = candidate.rule.map(|i| &self.config.cables[i]);
        let mut settings = self.config.cable_settings(rule);
        // Served as identified, the unit's own TDO edge applies unless the rule gives one (an
        // FT232H saying "Digilent USB Device" samples on the falling edge from 15 MHz).
        let id = &candidate.cable.identification;
        if let (None, Verdict::Serve { tdo_edge, .. }) = (settings.tdo_edge, id.verdict) {
            let profile = id.profile();
            if candidate.profile == profile
                && profile.is_some_and(|p| p.default_tdo_edge != tdo_edge)
            {
                settings.tdo_edge = Some(tdo_edge);
            }
        }
        self.outcome[candidate.index] = Some(Outcome::Served(Served {
            key: candidate.cable.info.syspath.clone(),
            identity: candidate.identity,
            name: candidate.name,
            port,
            rule: candidate.rule,
            priority: candidate.priority,
            profile: candidate.profile,
            settings,
            kept_for_session,
        }));
    }

    fn queue(&mut self, candidate: &Candidate, reason: String) {
        self.outcome[candidate.index] = Some(Outcome::Queued(Queued {
            key: candidate.cable.info.syspath.clone(),
            identity: candidate.identity.clone(),
            name: candidate.name.clone(),
            rule: candidate.rule,
            priority: candidate.priority,
            reason,
        }));
    }

    /// Is `port` free in the pool and not promised to another identity?
    fn free_for(&self, port: u16, identity: &str) -> bool {
        self.config.ports.contains(port)
            && !self.taken.contains_key(&port)
            && self.leases.holder(port).is_none_or(|h| h == identity)
    }

    /// The port a served cable keeps under `preempt: never`, if it still wants it.
    fn incumbent_port(&self, candidate: &Candidate) -> Option<u16> {
        let port = candidate.cable.port?;
        let wanted = match candidate.want {
            Want::Fixed(fixed) => fixed == port && !self.taken.contains_key(&port),
            Want::Pool => self.free_for(port, &candidate.identity),
        };
        wanted.then_some(port)
    }

    /// A pool port for `candidate`: its current one, else its lease, else the lowest free one
    /// nobody holds a lease on, else the lowest one leased to a cable that is not attached,
    /// else (the pool is full) the lowest one not yet given to a better-ranked cable.
    fn pool_port(&self, candidate: &Candidate) -> Option<u16> {
        let identity = candidate.identity.as_str();
        // Its current port: whoever is served keeps its place unless a better-ranked cable
        // (handled before it) took that port. Leases only guide cables not served yet, so an
        // assignment applied and assigned again changes nothing.
        if let Some(port) = candidate.cable.port {
            if self.config.ports.contains(port) && !self.taken.contains_key(&port) {
                return Some(port);
            }
        }
        if let Some(port) = self.leases.get(identity) {
            if self.free_for(port, identity) {
                return Some(port);
            }
        }
        let pool = self.config.ports;
        pool.ports()
            .find(|&p| self.free_for(p, identity))
            .or_else(|| {
                pool.ports().find(|&p| {
                    !self.taken.contains_key(&p)
                        && self
                            .leases
                            .holder(p)
                            .is_some_and(|h| !self.present.contains(h))
                })
            })
            .or_else(|| pool.ports().find(|p| !self.taken.contains_key(p)))
    }

    fn finish(self, cables: &[AttachedCable]) -> Assignment {
        let mut assignment = Assignment {
            served: Vec::new(),
            queued: Vec::new(),
            ignored: Vec::new(),
            leases: self.leases,
        };
        for (cable, outcome) in cables.iter().zip(self.outcome) {
            match outcome.expect("every cable gets an outcome") {
                Outcome::Served(s) => assignment.served.push(s),
                Outcome::Queued(q) => assignment.queued.push(q),
                Outcome::Ignored(reason) => assignment.ignored.push(Ignored {
                    key: cable.info.syspath.clone(),
                    identity: cable.info.identity(),
                    reason,
                }),
            }
        }
        assignment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Glob, Match, Rule};
    use crate::ftdi::profiles::{TdoEdge, HS2};
    use proptest::prelude::*;

    fn hs2(serial: &str, usb_path: &str) -> AttachedCable {
        AttachedCable {
            info: CableInfo {
                syspath: PathBuf::from(format!("/sys/devices/usb1/{usb_path}")),
                serial: Some(serial.to_string()),
                usb_path: usb_path.to_string(),
                busnum: 1,
                devnum: 2,
                ..crate::hotplug::simulated::sim_cable(1)
            },
            identification: identified(&crate::ftdi::identify::eeprom::dumps::HS2),
            port: None,
            session_active: false,
        }
    }

    fn generic_ft232h(usb_path: &str) -> AttachedCable {
        let mut c = hs2("FT1234", usb_path);
        c.info.manufacturer = Some("FTDI".into());
        c.info.product = Some("FT232H".into());
        c.identification = identify(&c.info, &[0xFF; 256]);
        c
    }

    /// An HS2's facts with this EEPROM image.
    fn identified(image: &[u8]) -> Identification {
        identify(&crate::hotplug::simulated::sim_cable(1), image)
    }

    fn identify(info: &CableInfo, image: &[u8]) -> Identification {
        crate::agent::identification::identify_device(info, &Ok(image.to_vec()))
    }

    fn serving(mut c: AttachedCable, port: u16, session: bool) -> AttachedCable {
        c.port = Some(port);
        c.session_active = session;
        c
    }

    fn rule(name: &str, serial: &str, port: Option<u16>, priority: u32) -> Rule {
        let mut r = Rule::new(Match {
            serial: Some(Glob::new(serial).unwrap()),
            ..Match::default()
        });
        r.name = Some(name.to_string());
        r.port = port;
        r.priority = priority;
        r
    }

    fn spare_config() -> Config {
        Config {
            cables: vec![
                rule("zcu104-a", "MAIN", Some(2600), 1),
                rule("spare", "SPARE*", Some(2600), 50),
            ],
            ..Config::default()
        }
    }

    fn key(c: &AttachedCable) -> &Path {
        &c.info.syspath
    }

    #[test]
    fn auto_served_cables_get_pool_ports_in_arrival_order() {
        let cables = [hs2("A", "1-1.1"), hs2("B", "1-1.2")];
        let a = assign(&Config::default(), &cables, &Leases::new());
        assert_eq!(a.port_of(key(&cables[0])), Some(2542));
        assert_eq!(a.port_of(key(&cables[1])), Some(2543));
        assert_eq!(a.leases.get("A"), Some(2542));
        assert_eq!(a.leases.get("B"), Some(2543));
        assert_eq!(a.served[0].name, "A");
        assert_eq!(a.served[0].priority, None);
        assert_eq!(a.served[0].profile, Some(&HS2));
    }

    #[test]
    fn better_priority_holds_a_contested_port() {
        let cables = [hs2("SPARE1", "1-1.2"), hs2("MAIN", "1-1.1")];
        let a = assign(&spare_config(), &cables, &Leases::new());
        assert_eq!(a.port_of(key(&cables[1])), Some(2600));
        let q = a.queued(key(&cables[0])).expect("spare queued");
        assert_eq!(q.reason, "port 2600 held by zcu104-a (priority 1)");
        assert_eq!(q.name, "spare");
    }

    #[test]
    fn spare_takes_over_when_the_main_cable_leaves() {
        let spare = hs2("SPARE1", "1-1.2");
        let a = assign(
            &spare_config(),
            std::slice::from_ref(&spare),
            &Leases::new(),
        );
        assert_eq!(a.port_of(key(&spare)), Some(2600));
    }

    #[test]
    fn returning_main_cable_preempts_an_idle_spare_only() {
        let config = spare_config();
        let main = hs2("MAIN", "1-1.1");
        let idle_spare = serving(hs2("SPARE1", "1-1.2"), 2600, false);
        let a = assign(&config, &[idle_spare.clone(), main.clone()], &Leases::new());
        assert_eq!(a.port_of(key(&main)), Some(2600));
        assert!(a.queued(key(&idle_spare)).is_some());

        let busy_spare = serving(hs2("SPARE1", "1-1.2"), 2600, true);
        let a = assign(&config, &[busy_spare.clone(), main.clone()], &Leases::new());
        assert_eq!(a.port_of(key(&busy_spare)), Some(2600));
        assert_eq!(
            a.queued(key(&main)).unwrap().reason,
            "port 2600 held by spare (priority 50, client connected)"
        );

        let never = Config {
            preempt: Preempt::Never,
            ..config
        };
        let a = assign(&never, &[idle_spare.clone(), main.clone()], &Leases::new());
        assert_eq!(a.port_of(key(&idle_spare)), Some(2600));
        assert!(a.queued(key(&main)).is_some());
    }

    #[test]
    fn returning_cable_gets_its_leased_port() {
        let mut leases = Leases::new();
        leases.grant("B", 2545);
        let cables = [hs2("A", "1-1.1"), hs2("B", "1-1.2")];
        let a = assign(&Config::default(), &cables, &leases);
        assert_eq!(a.port_of(key(&cables[1])), Some(2545));
        assert_eq!(a.port_of(key(&cables[0])), Some(2542));
    }

    #[test]
    fn leased_ports_of_absent_cables_are_used_last() {
        let config = Config {
            ports: crate::config::PortPool::parse("3000-3001").unwrap(),
            ..Config::default()
        };
        let mut leases = Leases::new();
        leases.grant("GONE", 3000);
        let cables = [hs2("A", "1-1.1"), hs2("B", "1-1.2"), hs2("C", "1-1.3")];
        let a = assign(&config, &cables, &leases);
        assert_eq!(a.port_of(key(&cables[0])), Some(3001));
        assert_eq!(a.port_of(key(&cables[1])), Some(3000));
        assert_eq!(a.leases.get("GONE"), None);
        assert_eq!(
            a.queued(key(&cables[2])).unwrap().reason,
            "no free port in the pool 3000-3001"
        );
    }

    #[test]
    fn full_pool_goes_to_the_better_priority() {
        let config = Config {
            ports: crate::config::PortPool::parse("3000").unwrap(),
            cables: vec![rule("important", "B", None, 1)],
            ..Config::default()
        };
        let idle = serving(hs2("A", "1-1.1"), 3000, false);
        let newcomer = hs2("B", "1-1.2");
        let a = assign(&config, &[idle.clone(), newcomer.clone()], &Leases::new());
        assert_eq!(a.port_of(key(&newcomer)), Some(3000));
        assert_eq!(a.leases.get("B"), Some(3000));
        assert_eq!(
            a.queued(key(&idle)).unwrap().reason,
            "no free port in the pool 3000"
        );

        let busy = serving(hs2("A", "1-1.1"), 3000, true);
        let a = assign(&config, &[busy.clone(), newcomer.clone()], &Leases::new());
        assert_eq!(a.port_of(key(&busy)), Some(3000));
        assert!(a.queued(key(&newcomer)).is_some());
    }

    #[test]
    fn max_cables_serves_the_best_priorities() {
        let config = Config {
            max_cables: 1,
            cables: vec![rule("important", "B", None, 1)],
            ..Config::default()
        };
        let cables = [hs2("A", "1-1.1"), hs2("B", "1-1.2")];
        let a = assign(&config, &cables, &Leases::new());
        assert_eq!(a.served.len(), 1);
        assert_eq!(a.served[0].name, "important");
        assert_eq!(a.queued[0].reason, "max_cables 1 reached");
    }

    #[test]
    fn generic_ftdi_needs_a_rule_with_a_profile() {
        let uart = generic_ft232h("1-1.3");
        let a = assign(
            &Config::default(),
            std::slice::from_ref(&uart),
            &Leases::new(),
        );
        assert!(a.served.is_empty());
        assert!(
            a.ignored[0].reason.contains("not identified for certain"),
            "{a:?}"
        );
        assert!(
            a.ignored[0]
                .reason
                .contains("add a rule { serial: \"FT1234\", profile: <profile> }"),
            "{a:?}"
        );

        let mut config = Config::default();
        config.cables.push(rule("ft", "FT*", None, 10));
        let a = assign(&config, std::slice::from_ref(&uart), &Leases::new());
        assert!(a.ignored[0]
            .reason
            .contains("name its type with `profile:`"));

        config.cables[0].profile = Some("hs2".into());
        let a = assign(&config, std::slice::from_ref(&uart), &Leases::new());
        assert_eq!(a.served[0].profile, Some(&HS2));
        assert_eq!(a.served[0].settings.profile.as_deref(), Some("hs2"));

        // A profile of another chip cannot be opened on this one.
        config.cables[0].profile = Some("nexys-video".into());
        let a = assign(&config, std::slice::from_ref(&uart), &Leases::new());
        assert!(
            a.ignored[0].reason.contains("but this is a 0403:6014"),
            "{a:?}"
        );
    }

    #[test]
    fn an_instrument_is_never_served_even_by_a_rule_naming_a_profile() {
        let mut discovery = hs2("210321ABCDEF", "1-1.5");
        let mut image = crate::ftdi::identify::eeprom::dumps::HS2;
        // Firmware class 0x60 (Analog Discovery), name "Digilent Discovery2", checksum fixed.
        let ua = 0x20;
        image[ua + 6] = 0x60;
        let name = b"Digilent Discovery2\0";
        image[ua + 27..ua + 27 + name.len()].copy_from_slice(name);
        let sum = crate::ftdi::identify::eeprom::checksum(&image);
        image[254..].copy_from_slice(&sum.to_le_bytes());
        discovery.identification = identify(&discovery.info, &image);
        assert_eq!(
            discovery.identification.verdict,
            Verdict::Never,
            "{}",
            discovery.identification.evidence
        );
        let mut config = Config::default();
        config.cables.push(rule("ad", "210321*", Some(2600), 1));
        config.cables[0].profile = Some("hs2".into());
        let a = assign(&config, std::slice::from_ref(&discovery), &Leases::new());
        assert!(a.served.is_empty());
        assert!(a.ignored[0].reason.contains("never served"), "{a:?}");
    }

    #[test]
    fn auto_serve_off_ignores_cables_without_a_rule() {
        let config = Config {
            auto_serve: false,
            ..Config::default()
        };
        let a = assign(&config, &[hs2("A", "1-1.1")], &Leases::new());
        assert_eq!(
            a.ignored[0].reason,
            "matches no rule, and auto_serve is off"
        );
    }

    #[test]
    fn a_session_survives_a_config_that_no_longer_serves_its_cable() {
        let config = Config {
            auto_serve: false,
            ..Config::default()
        };
        let busy = serving(hs2("A", "1-1.1"), 2542, true);
        let a = assign(&config, std::slice::from_ref(&busy), &Leases::new());
        assert_eq!(a.port_of(key(&busy)), Some(2542));
        assert!(a.served[0].kept_for_session);
    }

    #[test]
    fn the_units_own_tdo_edge_applies_unless_a_rule_gives_one() {
        // The HS2 dump's USB product is "Digilent USB Device": falling edge from 15 MHz.
        let mut cable = hs2("210249AAAAAA", "1-1.2");
        cable.info.product = Some("Digilent USB Device".into());
        cable.identification = identify(&cable.info, &crate::ftdi::identify::eeprom::dumps::HS2);
        let a = assign(
            &Config::default(),
            std::slice::from_ref(&cable),
            &Leases::new(),
        );
        assert_eq!(a.served[0].settings.tdo_edge, Some(TdoEdge::Auto));
        let mut config = Config::default();
        config.cables.push(rule("r", "210249*", None, 1));
        config.cables[0].tdo_edge = Some(TdoEdge::Rising);
        let a = assign(&config, std::slice::from_ref(&cable), &Leases::new());
        assert_eq!(a.served[0].settings.tdo_edge, Some(TdoEdge::Rising));
    }

    #[test]
    fn rule_settings_reach_the_served_cable() {
        let mut config = spare_config();
        config.cables[0].max_frequency = Some(15_000_000);
        let main = hs2("MAIN", "1-1.1");
        let a = assign(&config, std::slice::from_ref(&main), &Leases::new());
        assert_eq!(a.served[0].rule, Some(0));
        assert_eq!(
            a.served[0].settings,
            config.cable_settings(Some(&config.cables[0]))
        );
        assert_eq!(a.served[0].settings.max_frequency, Some(15_000_000));
    }

    // ---- properties -------------------------------------------------------------------

    /// A random world: a small pool, a few rules (some sharing fixed ports), cables with
    /// unique USB paths (some without serial, some generic FTDI), a consistent current state
    /// (unique ports) and random leases.
    #[derive(Debug, Clone)]
    struct World {
        config: Config,
        cables: Vec<AttachedCable>,
        leases: Leases,
    }

    fn world() -> impl Strategy<Value = World> {
        let rules = prop::collection::vec(
            (0..4usize, prop::option::of(0..3u16), 1..5u32, any::<bool>()),
            0..5,
        );
        let cables = prop::collection::vec(
            (
                prop::option::of(0..6usize),
                0..10u8,
                prop::option::of(0..10u16),
                any::<bool>(),
            ),
            0..9,
        );
        let leases = prop::collection::vec((0..12usize, 0..5u16), 0..8);
        (
            rules,
            cables,
            leases,
            1..6usize,
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(rules, cables, leases, max_cables, never, auto_serve)| {
                let serials = ["S0", "S1", "S2", "S3", "S4", "S5"];
                let config = Config {
                    ports: crate::config::PortPool::parse("3000-3003").unwrap(),
                    max_cables,
                    auto_serve,
                    preempt: if never { Preempt::Never } else { Preempt::Idle },
                    cables: rules
                        .into_iter()
                        .enumerate()
                        .map(|(i, (serial, port, priority, with_profile))| {
                            let mut r = rule(
                                &format!("r{i}"),
                                &format!("S{serial}*"),
                                port.map(|p| 2600 + p),
                                priority,
                            );
                            if with_profile {
                                r.profile = Some("hs2".into());
                            }
                            r
                        })
                        .collect(),
                    ..Config::default()
                };
                let mut used_ports = HashSet::new();
                let mut seen_paths = HashSet::new();
                let mut attached = Vec::new();
                for (serial, path, port, session) in cables {
                    if !seen_paths.insert(path) {
                        continue;
                    }
                    let usb_path = format!("1-{path}");
                    let mut c = match serial {
                        Some(s) if path % 3 != 0 => hs2(serials[s], &usb_path),
                        Some(s) => {
                            let mut g = generic_ft232h(&usb_path);
                            g.info.serial = Some(serials[s].to_string());
                            g
                        }
                        None => {
                            let mut c = hs2("", &usb_path);
                            c.info.serial = None;
                            c
                        }
                    };
                    // Ports 3000-3004 (pool and one beyond) and 2600-2604 (fixed).
                    if let Some(p) = port {
                        let p = if p < 5 { 3000 + p } else { 2600 + p - 5 };
                        if used_ports.insert(p) {
                            c.port = Some(p);
                            c.session_active = session;
                        }
                    }
                    attached.push(c);
                }
                let mut l = Leases::new();
                for (who, port) in leases {
                    // Serials, and USB paths (the identity of a cable without serial).
                    let identity = match serials.get(who) {
                        Some(serial) => serial.to_string(),
                        None => format!("1-{}", who - serials.len()),
                    };
                    l.grant(&identity, 3000 + port);
                }
                World {
                    config,
                    cables: attached,
                    leases: l,
                }
            })
    }

    fn by_key<'a>(world: &'a World, key: &Path) -> &'a AttachedCable {
        world.cables.iter().find(|c| c.info.syspath == key).unwrap()
    }

    /// True when no other attached cable shares this identity.
    fn unique_identity(world: &World, identity: &str) -> bool {
        world
            .cables
            .iter()
            .filter(|c| c.info.identity() == identity)
            .count()
            == 1
    }

    fn rank_of(priority: Option<u32>) -> (bool, u32) {
        (priority.is_none(), priority.unwrap_or(0))
    }

    proptest! {
        #[test]
        fn deterministic(w in world()) {
            prop_assert_eq!(
                assign(&w.config, &w.cables, &w.leases),
                assign(&w.config, &w.cables, &w.leases)
            );
        }

        #[test]
        fn every_cable_has_exactly_one_outcome(w in world()) {
            let a = assign(&w.config, &w.cables, &w.leases);
            prop_assert_eq!(a.served.len() + a.queued.len() + a.ignored.len(), w.cables.len());
            for c in &w.cables {
                let k = key(c);
                let n = usize::from(a.served(k).is_some())
                    + usize::from(a.queued(k).is_some())
                    + usize::from(a.ignored.iter().any(|i| i.key == k));
                prop_assert_eq!(n, 1);
            }
        }

        #[test]
        fn never_two_cables_on_one_port(w in world()) {
            let a = assign(&w.config, &w.cables, &w.leases);
            let ports: HashSet<u16> = a.served.iter().map(|s| s.port).collect();
            prop_assert_eq!(ports.len(), a.served.len());
        }

        #[test]
        fn active_sessions_keep_their_port(w in world()) {
            let a = assign(&w.config, &w.cables, &w.leases);
            for c in w.cables.iter().filter(|c| c.session_active) {
                prop_assert_eq!(a.port_of(key(c)), c.port);
            }
        }

        #[test]
        fn max_cables_respected(w in world()) {
            let a = assign(&w.config, &w.cables, &w.leases);
            let sessions = w.cables.iter().filter(|c| c.session_active).count();
            prop_assert!(a.served.len() <= w.config.max_cables.max(sessions));
        }

        #[test]
        fn pool_ports_come_from_the_pool_and_are_leased(w in world()) {
            let a = assign(&w.config, &w.cables, &w.leases);
            for s in a.served.iter().filter(|s| !s.kept_for_session) {
                let fixed = s.rule.and_then(|r| w.config.cables[r].port);
                match fixed {
                    Some(port) => prop_assert_eq!(s.port, port),
                    None => {
                        prop_assert!(w.config.ports.contains(s.port));
                        if unique_identity(&w, &s.identity) {
                            prop_assert_eq!(a.leases.get(&s.identity), Some(s.port));
                        }
                    }
                }
            }
        }

        #[test]
        fn better_priority_served_first(w in world()) {
            let a = assign(&w.config, &w.cables, &w.leases);
            let never = w.config.preempt == Preempt::Never;
            // Who may hold a place against a better-priority cable.
            let protected = |s: &Served| {
                let c = by_key(&w, &s.key);
                s.kept_for_session || (never && c.port == Some(s.port))
            };
            for q in &a.queued {
                if q.reason.starts_with("max_cables") {
                    for s in &a.served {
                        prop_assert!(
                            protected(s) || rank_of(s.priority) <= rank_of(q.priority),
                            "{} served before better {}", s.name, q.name
                        );
                    }
                }
                if let Some(port) = q.reason.strip_prefix("port ").and_then(|r| r.split(' ').next()) {
                    let port: u16 = port.parse().unwrap();
                    let holder = a.served.iter().find(|s| s.port == port).expect("holder served");
                    prop_assert!(protected(holder) || rank_of(holder.priority) <= rank_of(q.priority));
                }
            }
        }

        #[test]
        fn returning_cable_gets_its_lease(w in world()) {
            // A cable coming back (not served now) whose leased pool port nobody is on gets
            // that port, unless a better-ranked cable needed it because the pool is full.
            let a = assign(&w.config, &w.cables, &w.leases);
            let outcomes = a
                .served
                .iter()
                .map(|s| (&s.key, &s.identity, s.rule, s.priority, Some(s.port)))
                .chain(
                    a.queued
                        .iter()
                        .filter(|q| q.reason.starts_with("no free port"))
                        .map(|q| (&q.key, &q.identity, q.rule, q.priority, None)),
                );
            for (k, identity, rule, priority, port) in outcomes {
                let c = by_key(&w, k);
                let pool_cable = rule.is_none_or(|r| w.config.cables[r].port.is_none());
                let Some(lease) = w.leases.get(identity) else { continue };
                let lease_held = w.cables.iter().any(|o| o.port == Some(lease));
                if !pool_cable || !unique_identity(&w, identity) || c.port.is_some()
                    || !w.config.ports.contains(lease) || lease_held || port == Some(lease)
                {
                    continue;
                }
                let holder = a.served.iter().find(|s| s.port == lease);
                prop_assert!(
                    holder.is_some_and(|h| rank_of(h.priority) <= rank_of(priority)),
                    "{} did not get its lease {}", identity, lease
                );
            }
        }

        #[test]
        fn applying_the_assignment_changes_nothing(w in world()) {
            let a = assign(&w.config, &w.cables, &w.leases);
            let next: Vec<AttachedCable> = w.cables.iter().map(|c| {
                let mut c = c.clone();
                c.port = a.port_of(key(&c));
                c.session_active = c.session_active && c.port.is_some();
                c
            }).collect();
            let b = assign(&w.config, &next, &a.leases);
            let ports = |x: &Assignment| x.served.iter().map(|s| (s.key.clone(), s.port)).collect::<Vec<_>>();
            prop_assert_eq!(ports(&a), ports(&b));
            // Leases do not move either, not even between cables sharing a serial number.
            prop_assert_eq!(&a.leases, &b.leases);
        }
    }
}
