"""Guest-side queries the scenarios share: the agent's status, the journal."""

import json
import time

from machine import VmError


def status(vm, user=None):
    rc, out, err = vm.run("xvc-agent status --json", check=False, user=user)
    if rc != 0:
        raise VmError(f"xvc-agent status failed ({rc}): {err}")
    return json.loads(out)


def cable(vm, serial):
    for c in status(vm)["cables"]:
        if c.get("serial") == serial:
            return c
    return None


def wait_serving(vm, serials, timeout=60):
    """Waits until every serial is served (state serving or busy); {serial: port}."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = {c.get("serial"): c for c in status(vm)["cables"]}
        except VmError as e:
            last = str(e)
        else:
            if all(s in last and last[s]["state"] in ("serving", "busy") and last[s]["port"]
                   for s in serials):
                return {s: last[s]["port"] for s in serials}
        time.sleep(0.3)
    raise VmError(f"cables {serials} not served within {timeout} s; status: {last}")


def journal(vm, args, since=None):
    """Journal entries (dicts) of this boot matching `args` (journalctl arguments, e.g.
    '-u xvc-agent'), logged at or after guest uptime `since` (seconds) if given."""
    rc, out, err = vm.run(f"journalctl -b --no-pager -o json {args}", check=False)
    entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    if since is not None:
        entries = [e for e in entries if mono(e) >= since]
    return entries


def now(vm):
    """The guest's uptime (its monotonic clock, as the journal stamps entries)."""
    return vm.request({"op": "ping"})["uptime"]


def wait_journal(vm, args, predicate, timeout=30, since=None, what="journal entry"):
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in journal(vm, args, since) if predicate(e)]
        if found:
            return found
        if time.monotonic() > deadline:
            raise VmError(f"no {what} in the guest's journal within {timeout} s")
        time.sleep(0.3)


def mono(e):
    """An entry's monotonic timestamp in seconds."""
    return int(e["__MONOTONIC_TIMESTAMP"]) / 1e6


def main_pid(vm):
    return int(vm.sh("systemctl show -p MainPID --value xvc-agent").strip())
