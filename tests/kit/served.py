"""A served cable: the story the umockdev and the VM suites both tell about a simulated cable.

Plug it in, wait until the agent says it serves it (its entry in the status has a port) and
that port answers XVC, read the IDCODE through XVC, unplug it, wait until the port is closed.
The umockdev suite tells it about devices in a mocked sysfs and usbfs with the agent on this
host, the VM suite about usb-redir cables in a QEMU guest with the agent's ports forwarded.
This module exists so that the story, and how readiness is judged in it, is written once;
each suite only says what differs where its agent runs:

    an `agent` object with three methods
        status()            the agent's status JSON (a dict), or None while it does not answer
        host_port(port)     the port this process connects to for the agent's `port`
                            (the same port on the host; the forwarded one for a VM guest)
        port_closed(port)   whether that host port is closed, as seen from here

    and for each cable: how to find its status entry (`match`, a predicate on an entry),
    how to plug it in and how to pull it out (callables; `plug` gets the arguments given
    to ServedCable.plug).

Readiness is checked the way users' tools check it: by asking again and again with a
timeout (tests/kit/wait.py), and by connecting and getting an XVC answer.

    cable = ServedCable(agent, match=lambda e: e["serial"] == "210249A00001",
                        plug=..., unplug=..., name="210249A00001", timeout=60)
    cable.plug()
    entry = cable.wait_served()        # the status entry; cable.port, cable.host_port
    assert cable.idcode() == XC7A35T_IDCODE
    cable.unplug()
    cable.wait_closed()
"""

import socket

from wait import poll
from xvc import answers, connect_when_free

# The states in which a cable's port is open and serves XVC (agent::state::CableState).
SERVED_STATES = ("serving", "busy")


def listening(port, host="127.0.0.1"):
    """True when `port` accepts a TCP connection, checked the way users' tools check a port:
    by connecting and closing at once. Such a probe never takes the cable from a client. (A
    closed port is one not listening, for a test that reaches the agent's sockets directly.)"""
    with socket.socket() as s:
        s.settimeout(2)
        try:
            s.connect((host, port))
        except OSError:
            return False
        return True


def silent(port):
    """True when no XVC server answers on `port`: a closed port behind a QEMU forward, which
    accepts every connection whether the guest's port is open or not."""
    return not answers(port, timeout=1)


class ServedCable:
    """One simulated cable as a test meets it through the agent (see the module docstring)."""

    def __init__(self, agent, match, plug=None, unplug=None, name="cable", timeout=10.0,
                 interval=0.001, status_interval=None):
        self.agent = agent
        self.match = match
        self._plug = plug
        self._unplug = unplug
        self.name = name
        self.timeout = timeout  # for each wait
        # Between two probes of the port, and between two status reads (a guest's status
        # costs a command run in it: slower).
        self.interval = interval
        self.status_interval = interval if status_interval is None else status_interval
        self.port = None  # the agent's port for it, once wait_served() has seen it served
        self.host_port = None  # the port this process reaches it on

    def plug(self, *args, **kwargs):
        """Plugs the cable in; returns what the suite's plug returns (the time of the
        event)."""
        return self._plug(*args, **kwargs)

    def unplug(self):
        """Pulls the cable out; returns what the suite's unplug returns (the time of the
        event). Does not wait: wait_closed() does."""
        return self._unplug()

    def entries(self):
        """Its entries in the agent's status now, or None while the agent does not answer."""
        status = self.agent.status()
        if status is None:
            return None
        return [e for e in status["cables"] if self.match(e)]

    def entry(self):
        """Its entry in the agent's status now, or None."""
        found = self.entries() or []
        return found[0] if found else None

    def wait_entry(self, condition, what, timeout=None):
        """Waits until one of its status entries meets `condition`; returns that entry."""
        timeout = self.timeout if timeout is None else timeout
        seen = None  # the entries read last, for the message if none ever meets it

        def met():
            nonlocal seen
            seen = self.entries()
            return next((e for e in seen or [] if condition(e)), None)

        try:
            return poll(met, timeout, f"{self.name} {what}", self.status_interval)
        except TimeoutError as e:
            raise TimeoutError(f"{e}; " + ("the agent's status did not answer" if seen is None
                                           else f"its status entries: {seen}")) from None

    def wait_served(self, timeout=None):
        """Waits until the agent says it serves the cable (an entry serving or busy, with a
        port) and that port answers XVC; returns the entry. Sets `port` and `host_port`."""
        timeout = self.timeout if timeout is None else timeout
        entry = self.wait_entry(lambda e: e["state"] in SERVED_STATES and e["port"],
                                "served", timeout)
        self.port = entry["port"]
        self.host_port = self.agent.host_port(self.port)
        poll(lambda: answers(self.host_port), timeout,
             f"{self.name}'s port {self.port} answering XVC (port {self.host_port} here)",
             self.interval)
        return entry

    def session(self, timeout=None):
        """An XVC client connected to the cable's port with its getinfo answered (retrying
        while a previous session still holds the cable). The caller closes it."""
        return connect_when_free(self._served_port(),
                                 self.timeout if timeout is None else timeout)

    def idcode(self):
        """The IDCODE read through a session of its own, closed again."""
        c = self.session()
        try:
            return c.idcode()
        finally:
            c.close()

    def wait_closed(self, timeout=None):
        """Waits until the port the cable was served on is closed."""
        port = self._served_port()
        poll(lambda: self.agent.port_closed(port), self.timeout if timeout is None else timeout,
             f"{self.name}'s port {self.port} closed (port {port} here)", self.interval)

    def _served_port(self):
        if self.host_port is None:
            raise AssertionError(f"{self.name}: no port yet (wait_served() first)")
        return self.host_port
