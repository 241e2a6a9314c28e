//! What the agent writes on stderr when stderr is a file (not a terminal, not the journal):
//! plain text a person or `grep` reads — no ANSI colour codes, no journal-only `message_id`
//! — with each cable line still naming its serial, USB path and port.

use crate::kit::{loopback, port_block, Agent, XvcClient};

#[test]
fn stderr_to_a_file_is_plain_text_with_the_cable_fields() {
    let base = port_block(1);
    let mut agent = Agent::start(
        indoc::indoc! {"
            listen: 127.0.0.1
            advertise: off
        "},
        &["--simulate", "1", "--base-port", &base.to_string()],
    );
    let mut client = XvcClient::connect(loopback(base)).expect("connect to the simulated cable");
    assert!(client.getinfo().unwrap().starts_with("xvcServer_v1.0:"));
    drop(client);
    let (status, _) = agent.terminate();
    assert!(status.success(), "agent exit: {status}");
    let log = agent.log();

    assert!(
        log.contains("client connected"),
        "no client line in:\n{log}"
    );
    assert!(!log.contains('\x1b'), "escape codes in a log file:\n{log}");
    assert!(
        !log.contains("message_id"),
        "journal-only field on stderr:\n{log}"
    );
    let serving = log
        .lines()
        .find(|l| l.contains("serving on"))
        .unwrap_or_else(|| panic!("no serving line in:\n{log}"));
    for field in ["cable_serial=", "cable_path=", &format!("xvc_port={base}")] {
        assert!(serving.contains(field), "{field} missing from: {serving}");
    }
}
