//! The supervisor in-process: config-driven assignment, reloads, priorities, leases and
//! access control, with simulated cables over real TCP on 127.0.0.1.

use crate::kit::{loopback as addr, opener, poll, port_block, InProcess, XvcClient, IDCODE, T};
use indoc::{formatdoc, indoc};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use xvc_agent::agent::opener::{CableOpener, SimulatedOpener};
use xvc_agent::agent::state::CableState;
use xvc_agent::jtag::{Cable, CableError};

fn session(port: u16) -> XvcClient {
    crate::kit::session(addr(port))
}

#[test]
fn rules_map_serials_to_fixed_ports_and_others_to_the_pool() {
    let p = port_block(4);
    let yaml = formatdoc!(
        "
        listen: 127.0.0.1
        ports: {}-{}
        cables:
          - name: main
            match: {{ serial: SIM000002 }}
            port: {p}
        ",
        p + 1,
        p + 3
    );
    let h = InProcess::simulated(&yaml, &[1, 2]);
    assert_eq!(h.wait_state("SIM000002", CableState::Serving), Some(p));
    assert_eq!(h.wait_state("SIM000001", CableState::Serving), Some(p + 1));
    let st = h.status();
    let main = st.cables.iter().find(|c| c.name == "main").unwrap();
    assert_eq!(main.chain[0].name, "xc7a35t");
    assert_eq!(session(p).read_idcode().unwrap(), IDCODE);
    h.stop();
}

/// Cable 1 ("main", priority 1) and cable 2 ("spare", priority 50) both ruled onto port `p`;
/// nothing else is served.
fn main_and_spare_on(p: u16) -> String {
    formatdoc!(
        "
        listen: 127.0.0.1
        ports: {}-{}
        auto_serve: false
        cables:
          - name: main
            match: {{ serial: SIM000001 }}
            port: {p}
            priority: 1
          - name: spare
            match: {{ serial: SIM000002 }}
            port: {p}
            priority: 50
        ",
        p + 1,
        p + 1
    )
}

#[test]
fn contested_port_priority_wins_and_loser_takes_over_on_unplug() {
    let p = port_block(2);
    let yaml = main_and_spare_on(p);
    // The spare arrives first and is served; the main cable arrives and takes the port (the
    // spare has no client).
    let h = InProcess::simulated(&yaml, &[2]);
    assert_eq!(h.wait_state("SIM000002", CableState::Serving), Some(p));
    h.plug(1);
    assert_eq!(h.wait_state("SIM000001", CableState::Serving), Some(p));
    h.wait_state("SIM000002", CableState::Queued);
    let reason = h
        .status()
        .cables
        .into_iter()
        .find(|c| c.name == "spare")
        .unwrap()
        .reason
        .unwrap();
    assert!(reason.contains("main"), "reason names the holder: {reason}");
    // Unplug the main cable: the spare stands in on the same port.
    h.unplug(1);
    assert_eq!(h.wait_state("SIM000002", CableState::Serving), Some(p));
    assert_eq!(session(p).read_idcode().unwrap(), IDCODE);
    h.stop();
}

#[test]
fn an_active_session_is_never_preempted() {
    let p = port_block(2);
    let yaml = main_and_spare_on(p);
    let h = InProcess::simulated(&yaml, &[2]);
    h.wait_state("SIM000002", CableState::Serving);
    let mut client = session(p);
    h.wait_state("SIM000002", CableState::Busy);
    h.plug(1);
    h.wait_state("SIM000001", CableState::Queued);
    assert_eq!(client.read_idcode().unwrap(), IDCODE, "session undisturbed");
    drop(client);
    // Once the client leaves, the better cable takes the port.
    assert_eq!(h.wait_state("SIM000001", CableState::Serving), Some(p));
    h.stop();
}

#[test]
fn reload_changes_one_cable_and_keeps_the_other_session() {
    let p = port_block(4);
    let yaml = |spare_port: u16| {
        formatdoc!(
            "
            listen: 127.0.0.1
            ports: {}-{}
            cables:
              - name: a
                match: {{ serial: SIM000001 }}
                port: {p}
              - name: b
                match: {{ serial: SIM000002 }}
                port: {spare_port}
            ",
            p + 3,
            p + 3
        )
    };
    let h = InProcess::simulated(&yaml(p + 1), &[1, 2]);
    h.wait_state("SIM000002", CableState::Serving);
    let mut a = session(p);
    h.reload(&yaml(p + 2));
    assert_eq!(h.wait_state("SIM000002", CableState::Serving), Some(p + 2));
    assert!(TcpStream::connect(addr(p + 1)).is_err(), "old port closed");
    assert_eq!(
        a.read_idcode().unwrap(),
        IDCODE,
        "cable a's session survived"
    );
    assert_eq!(h.status().reloads, 1);
    h.stop();
}

#[test]
fn a_bad_file_on_reload_keeps_the_old_config() {
    let p = port_block(2);
    let good = formatdoc!(
        "
        listen: 127.0.0.1
        ports: {p}-{}
        ",
        p + 1
    );
    let h = InProcess::simulated(&good, &[1]);
    h.wait_state("SIM000001", CableState::Serving);
    let mut c = session(p);
    h.reload(indoc! {"
        listen: 127.0.0.1
        ports: banana
        bogus_key: 1
    "});
    // The reload is refused: same reload count, same port, session intact.
    let st = h.status();
    assert_eq!(st.reloads, 0);
    assert_eq!(h.state_of("SIM000001"), Some((CableState::Busy, Some(p))));
    assert_eq!(c.read_idcode().unwrap(), IDCODE);
    h.stop();
}

#[test]
fn leases_survive_a_restart() {
    let p = port_block(3);
    let yaml = formatdoc!(
        "
        listen: 127.0.0.1
        ports: {p}-{}
        ",
        p + 2
    );
    // Cable 2 arrives alone and gets the first pool port.
    let h = InProcess::simulated(&yaml, &[2]);
    assert_eq!(h.wait_state("SIM000002", CableState::Serving), Some(p));
    let dir = h.stop();
    assert!(dir.path().join("state/leases.json").exists());
    // After a restart cable 1 arrives first, but cable 2 still gets its remembered port.
    let h = InProcess::start_in(dir, &yaml, &[1, 2], Arc::new(SimulatedOpener::default()));
    assert_eq!(h.wait_state("SIM000002", CableState::Serving), Some(p));
    assert_eq!(h.wait_state("SIM000001", CableState::Serving), Some(p + 1));
    // A replug keeps the port too.
    h.unplug(2);
    poll("cable 2 gone", T, || {
        h.state_of("SIM000002").is_none().then_some(())
    });
    h.plug(2);
    assert_eq!(h.wait_state("SIM000002", CableState::Serving), Some(p));
    h.stop();
}

#[test]
fn max_cables_queues_the_rest() {
    let p = port_block(3);
    let yaml = formatdoc!(
        "
        listen: 127.0.0.1
        ports: {p}-{}
        max_cables: 1
        ",
        p + 2
    );
    let h = InProcess::simulated(&yaml, &[1, 2]);
    h.wait_state("SIM000001", CableState::Serving);
    h.wait_state("SIM000002", CableState::Queued);
    h.unplug(1);
    h.wait_state("SIM000002", CableState::Serving);
    h.stop();
}

/// A client bound to 127.0.0.2 against `allow: [127.0.0.1/32]`.
fn outsider_is_served(access: &str) -> bool {
    let p = port_block(1);
    let yaml = formatdoc!(
        "
        listen: 127.0.0.1
        ports: {p}-{p}
        allow: [127.0.0.1/32]
        access: {access}
        "
    );
    let h = InProcess::simulated(&yaml, &[1]);
    h.wait_state("SIM000001", CableState::Serving);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .unwrap();
    socket.connect(&addr(p).into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(T)).unwrap();
    let mut c = XvcClient { stream };
    let served = c.read_idcode().map(|id| id == IDCODE).unwrap_or(false);
    // An insider is served in every mode.
    drop(c);
    assert_eq!(session(p).read_idcode().unwrap(), IDCODE);
    h.stop();
    served
}

#[test]
fn access_modes_for_a_peer_outside_the_allowlist() {
    assert!(!outsider_is_served("strict"));
    assert!(outsider_is_served("permissive"));
    assert!(outsider_is_served("off"));
}

/// Number of bits in a shift that makes [`FlakyCable`] fail.
const FAIL_TRIGGER_BITS: u32 = 1234;

/// A simulated cable that times out on a shift of [`FAIL_TRIGGER_BITS`] bits.
struct FlakyCable(Box<dyn Cable>);

impl Cable for FlakyCable {
    fn shift(
        &mut self,
        nbits: u32,
        tms: &[u8],
        tdi: &[u8],
        tdo: &mut [u8],
    ) -> Result<(), CableError> {
        if nbits == FAIL_TRIGGER_BITS {
            return Err(CableError::Timeout("injected".into()));
        }
        self.0.shift(nbits, tms, tdi, tdo)
    }

    fn set_tck_period(&mut self, period_ns: u32) -> Result<u32, CableError> {
        self.0.set_tck_period(period_ns)
    }
}

#[test]
fn a_cable_error_degrades_and_the_cable_is_reopened() {
    let p = port_block(1);
    // Opens flaky simulated cables and counts the opens.
    let opens = Arc::new(AtomicUsize::new(0));
    let counted = opens.clone();
    let flaky = opener(move |info, profile, options| {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(FlakyCable(
            SimulatedOpener::default().open(info, profile, options)?,
        )))
    });
    let h = InProcess::start_in(
        tempfile::tempdir().unwrap(),
        &formatdoc!(
            "
            listen: 127.0.0.1
            ports: {p}-{p}
            "
        ),
        &[1],
        flaky,
    );
    h.wait_state("SIM000001", CableState::Serving);
    let mut c = session(p);
    let n = (FAIL_TRIGGER_BITS as usize).div_ceil(8);
    assert!(c
        .shift(FAIL_TRIGGER_BITS, &vec![0; n], &vec![0; n])
        .is_err());
    assert!(c.sees_eof(T), "the session ends on the cable error");
    // Reopened at once: serving again on the same port, through a new handle.
    assert_eq!(h.wait_state("SIM000001", CableState::Serving), Some(p));
    assert_eq!(opens.load(Ordering::SeqCst), 2);
    assert_eq!(session(p).read_idcode().unwrap(), IDCODE);
    h.stop();
}

/// A simulated opener whose EEPROM read of one cable waits until the test lets it go.
struct HeldRead {
    inner: SimulatedOpener,
    serial: &'static str,
    release: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl CableOpener for HeldRead {
    fn open(
        &self,
        info: &xvc_agent::hotplug::CableInfo,
        profile: &'static xvc_agent::ftdi::profiles::Profile,
        options: &xvc_agent::ftdi::CableOptions,
    ) -> Result<Box<dyn Cable>, CableError> {
        self.inner.open(info, profile, options)
    }

    fn read_eeprom(&self, info: &xvc_agent::hotplug::CableInfo) -> Result<Vec<u8>, String> {
        if info.serial.as_deref() == Some(self.serial) {
            if let Some(rx) = self.release.lock().unwrap().take() {
                rx.recv().map_err(|e| e.to_string())?;
            }
        }
        self.inner.read_eeprom(info)
    }
}

#[test]
fn pool_ports_follow_arrival_order_whichever_eeprom_read_ends_first() {
    let p = port_block(2);
    let yaml = formatdoc!(
        "
        listen: 127.0.0.1
        ports: {p}-{}
        ",
        p + 1
    );
    let (go, release) = std::sync::mpsc::channel();
    let h = InProcess::start(
        &yaml,
        &[],
        Arc::new(HeldRead {
            inner: SimulatedOpener::default(),
            serial: "SIM000001",
            release: std::sync::Mutex::new(Some(release)),
        }),
    );
    // Declared after the agent, so it is dropped first if an assertion fails: the held read
    // then ends and the agent can stop.
    let go = go;
    h.plug(1);
    h.plug(2);
    // Cable 2 is identified (its read is not held) but waits for cable 1, attached first.
    poll("cable 2 identified", T, || {
        let st = h.status();
        let two = st
            .cables
            .iter()
            .find(|c| c.serial.as_deref() == Some("SIM000002"))?;
        (two.state != CableState::Identifying).then_some(())
    });
    assert_eq!(
        h.state_of("SIM000001"),
        Some((CableState::Identifying, None))
    );
    assert_eq!(h.state_of("SIM000002").and_then(|(_, port)| port), None);
    go.send(()).unwrap();
    assert_eq!(h.wait_state("SIM000001", CableState::Serving), Some(p));
    assert_eq!(h.wait_state("SIM000002", CableState::Serving), Some(p + 1));
    h.stop();
}
