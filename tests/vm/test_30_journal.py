"""journald: the agent's entries for one cable carry its fields and lifecycle MESSAGE_IDs."""

import guestlib as g
from conftest import SERIALS

IDS = {
    "attached": "84d05639231d4ea6b64180d8a227e642",
    "serving": "544ad36a04d64aae8cba0df20efe7051",
    "detached": "e18b6574100c47e191ac26d161ab7a07",
    "client connected": "413f3ccc56ab42b4ad35654517e7d85f",
    "client disconnected": "7b9cc386d05a4181b4d2b66e93c69440",
}


def test_cable_entries_have_fields_and_message_ids(vm):
    # The second cable was plugged, used by a host client, unplugged and replugged.
    serial = SERIALS[1]
    entries = g.journal(vm, f"-u xvc-agent CABLE_SERIAL={serial}")
    assert entries, f"no journal entries with CABLE_SERIAL={serial}"
    seen = {e.get("MESSAGE_ID") for e in entries}
    missing = [name for name, mid in IDS.items() if mid not in seen]
    assert not missing, f"lifecycle events missing from the journal: {missing}"
    for e in entries:
        assert e.get("CABLE_PATH"), e
    serving = [e for e in entries if e.get("MESSAGE_ID") == IDS["serving"]]
    assert all(e.get("XVC_PORT") == str(vm.ports[serial]) for e in serving), serving
    clients = [e for e in entries if e.get("MESSAGE_ID") == IDS["client connected"]]
    # Host clients arrive through QEMU's user network: from its gateway address.
    assert all(e.get("PEER", "").startswith(("10.0.2.2", "[::ffff:10.0.2.2]")) for e in clients), \
        [e.get("PEER") for e in clients]
    assert all(e.get("SYSLOG_IDENTIFIER") == "xvc-agent" or e.get("_COMM") == "xvc-agent"
               for e in entries)
