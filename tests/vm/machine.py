"""A test virtual machine: QEMU (TCG) booting the cached guest image, driven over QMP, with
emulated HS2 cables hot-plugged through usb-redir and commands run in the guest through its
command agent (guest/agent.py).

Everything architecture-specific comes from arch.py. Host ports are bound on 127.0.0.1
only; the guest reaches nothing but QEMU's user network (no route out is needed or used).
"""

import base64
import json
import os
import select
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "kit"))
import arch as archtab  # noqa: E402
from ports import free_ports  # noqa: E402
from wait import poll  # noqa: E402

AGENT_PORT = 7000
# Units a test guest never needs; masked on the kernel command line (faster boot, and no
# timer firing in the middle of a test).
MASKED_UNITS = [
    "serial-getty@ttyS0.service", "getty@tty1.service", "apt-daily.timer",
    "apt-daily-upgrade.timer", "man-db.timer", "e2scrub_all.timer", "fstrim.timer",
    "dpkg-db-backup.timer", "systemd-tmpfiles-clean.timer", "e2scrub_reap.service",
    "systemd-networkd-wait-online.service", "systemd-timesyncd.service",
    "keyboard-setup.service", "console-setup.service",
]


def end_process(proc, grace=10):
    """SIGTERM, then SIGKILL if it is still running after `grace` seconds; reaped either way."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class VmError(Exception):
    pass


def wait_for(predicate, timeout, what, interval=0.05):
    """The kit's poller, at a pace that does not load the guest with requests."""
    return poll(predicate, timeout, what, interval)


class Qmp:
    """A QMP connection: commands, and the events that arrive meanwhile."""

    def __init__(self, path, timeout=30):
        self.sock = wait_for(lambda: self._connect(path), timeout, f"QMP socket {path}")
        self.sock.settimeout(60)
        self.file = self.sock.makefile("rwb")
        self.events = []
        self._read()  # greeting
        self.execute("qmp_capabilities")

    @staticmethod
    def _connect(path):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            return None

    def _read(self):
        line = self.file.readline()
        if not line:
            raise VmError("QMP connection closed (QEMU exited?)")
        return json.loads(line)

    def execute(self, command, **arguments):
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.file.write((json.dumps(msg) + "\n").encode())
        self.file.flush()
        while True:
            reply = self._read()
            if "event" in reply:
                reply["received"] = time.monotonic()
                self.events.append(reply)
            elif "error" in reply:
                raise VmError(f"QMP {command} {arguments}: {reply['error'].get('desc')}")
            elif "return" in reply:
                return reply["return"]

    def wait_event(self, name, timeout, match=lambda e: True):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name and match(e):
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise VmError(f"no QMP event {name} within {timeout} s")
            self.sock.settimeout(left)
            try:
                e = self._read()
            except socket.timeout:
                continue
            finally:
                self.sock.settimeout(60)
            if "event" in e:
                e["received"] = time.monotonic()
                self.events.append(e)


class Cable:
    """An emulated HS2, or with `board` a simulated board of the board table (every channel),
    served by `xvc-agent sim-usbredir` on a unix socket."""

    def __init__(self, agent_binary, workdir, serial, board=None):
        self.serial = serial
        self.board = board
        self.socket = os.path.join(workdir, f"cable-{serial}.sock")
        self.log = open(os.path.join(workdir, f"cable-{serial}.log"), "wb")
        argv = [agent_binary, "sim-usbredir", "--listen", self.socket, "--serial", serial]
        if board:
            argv += ["--board", board]
        # stdout carries the answers to commands (`faults`); diagnostics go to the log.
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, bufsize=0)
        wait_for(lambda: os.path.exists(self.socket) or self.proc.poll() is not None, 10,
                 f"cable {serial}'s socket")
        if self.proc.poll() is not None:
            raise VmError(f"sim-usbredir for {serial} exited with {self.proc.returncode}")
        self.device = None  # the QEMU device id while plugged in

    def command(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def faults(self, timeout=10):
        """The fault list of the device plugged in last (the server's `faults` answer): a
        list of strings, or None for a device that keeps no such record."""
        self.command("faults")
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready = select.select([self.proc.stdout], [], [], max(left, 0))[0]
            if not ready:
                raise VmError(f"sim-usbredir {self.serial}: no answer to faults in {timeout} s")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise VmError(f"sim-usbredir {self.serial} ended before answering faults")
            line += chunk
        return json.loads(line)["faults"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            end_process(self.proc)
        self.proc.stdout.close()
        self.log.close()


class Machine:
    """One running guest. `forwards` maps guest TCP ports to the host ports (on 127.0.0.1)
    that reach them."""

    def __init__(self, arch_name, image_dir, workdir, guest_ports=(), memory="1024",
                 extra_append=""):
        self.arch = archtab.get(arch_name)
        self.image_dir = image_dir
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.qmp_path = os.path.join(workdir, "qmp.sock")
        self.console_path = os.path.join(workdir, "console.log")
        self.agent_port, *hosts = free_ports(1 + len(guest_ports))
        self.forwards = dict(zip(guest_ports, hosts))
        self.memory = memory
        self.extra_append = extra_append
        self.proc = None
        self.qmp = None
        self.boot_seconds = None
        self._plugs = 0

    def command_line(self):
        a = self.arch
        append = " ".join([
            "root=/dev/vda", "rw", f"console={a.console}", "mitigations=off", "quiet",
            "loglevel=4", "panic=-1", "systemd.show_status=0",
        ] + [f"systemd.mask={u}" for u in MASKED_UNITS] + [self.extra_append])
        fwd = [f"hostfwd=tcp:127.0.0.1:{self.agent_port}-:{AGENT_PORT}"]
        fwd += [f"hostfwd=tcp:127.0.0.1:{h}-:{g}" for g, h in self.forwards.items()]
        return [
            a.qemu, *a.machine, "-nodefaults", "-display", "none", "-no-reboot",
            "-m", self.memory, "-smp", "1",
            "-kernel", os.path.join(self.image_dir, "kernel"),
            "-initrd", os.path.join(self.image_dir, "initrd"),
            "-append", " ".join(append.split()),
            "-drive", f"file={os.path.join(self.image_dir, 'root.ext4')},format=raw,if=none,"
                      "id=root,snapshot=on",
            "-device", f"{a.disk_device},drive=root",
            "-netdev", "user,id=net,restrict=off," + ",".join(fwd),
            "-device", f"{a.net_device},netdev=net",
            "-device", "qemu-xhci,id=xhci,p2=4,p3=4",
            "-chardev", f"file,id=console,path={self.console_path}",
            "-serial", "chardev:console",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
        ]

    def start(self, timeout=180):
        """Boots the guest and waits until its command agent answers."""
        t0 = time.monotonic()
        self.qemu_log = open(os.path.join(self.workdir, "qemu.log"), "wb")
        self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.DEVNULL,
                                     stdout=self.qemu_log, stderr=subprocess.STDOUT)
        try:
            self.qmp = Qmp(self.qmp_path)

            def ready():
                if self.proc.poll() is not None:
                    raise VmError(f"QEMU exited with status {self.proc.returncode}:\n"
                                  + self.diagnostics())
                try:
                    return self.request({"op": "ping"}, timeout=2).get("ok")
                except (OSError, ValueError):
                    return False

            wait_for(ready, timeout, "the guest's command agent", interval=0.5)
        except (VmError, TimeoutError) as e:
            raise VmError(f"the guest did not boot: {e}\n{self.diagnostics()}") from None
        self.boot_seconds = time.monotonic() - t0
        return self.boot_seconds

    def diagnostics(self, lines=60):
        out = []
        for path in [self.console_path, os.path.join(self.workdir, "qemu.log")]:
            try:
                text = open(path, errors="replace").read().splitlines()[-lines:]
            except OSError:
                continue
            out.append(f"--- last lines of {path}:\n" + "\n".join(text))
        return "\n".join(out)

    # --- the guest's command agent

    def request(self, req, timeout=60):
        with socket.create_connection(("127.0.0.1", self.agent_port), timeout=timeout) as s:
            s.sendall((json.dumps(req) + "\n").encode())
            f = s.makefile("rb")
            line = f.readline()
        if not line:
            raise ValueError("the guest agent closed the connection without an answer")
        answer = json.loads(line)
        if "error" in answer:
            raise VmError(f"guest agent: {answer['error']}")
        return answer

    def run(self, cmd, check=True, timeout=60, user=None, stdin=""):
        """Runs `cmd` (a shell line, or an argv list) in the guest: (rc, out, err)."""
        req = {"op": "run", "timeout": timeout, "stdin": stdin}
        req["argv" if isinstance(cmd, list) else "sh"] = cmd
        if user:
            req["user"] = user
        a = self.request(req, timeout=timeout + 10)
        if check and a["rc"] != 0:
            raise VmError(f"in the guest, {cmd!r} failed ({a['rc']}):\n{a['out']}{a['err']}")
        return a["rc"], a["out"], a["err"]

    def sh(self, cmd, timeout=60):
        """Runs a shell line that must succeed; its stdout."""
        return self.run(cmd, timeout=timeout)[1]

    def put(self, path, data, mode=0o644):
        if isinstance(data, str):
            data = data.encode()
        self.request({"op": "put", "path": path, "mode": mode,
                      "data": base64.b64encode(data).decode()})

    def get(self, path):
        return base64.b64decode(self.request({"op": "get", "path": path})["data"])

    def run_script(self, local_path, args=(), timeout=300):
        """Copies a scenario script into the guest and runs it there: (rc, out, err). How
        a test brings its own guest-side scenario."""
        remote = "/run/xvc-vm/" + os.path.basename(local_path)
        with open(local_path, "rb") as f:
            self.put(remote, f.read(), 0o755)
        return self.run([remote, *args], check=False, timeout=timeout)

    # --- cables

    def plug(self, cable, port=None):
        """Plugs `cable` into xHCI root port `port` (1-based; any free one if None); returns
        the host's monotonic time of the device_add."""
        self._plugs += 1
        dev = f"hs2-{cable.serial}-{self._plugs}"
        self.qmp.execute("chardev-add", id=dev, backend={
            "type": "socket",
            "data": {"addr": {"type": "unix", "data": {"path": cable.socket}},
                     "server": False}})
        args = {"driver": "usb-redir", "chardev": dev, "id": dev, "bus": "xhci.0"}
        if port is not None:
            args["port"] = str(port)
        t = time.monotonic()
        self.qmp.execute("device_add", **args)
        cable.device = dev
        return t

    def unplug(self, cable, timeout=20):
        """Pulls `cable` out (device_del, then DEVICE_DELETED); returns the host's monotonic
        time of the device_del."""
        dev = cable.device
        t = time.monotonic()
        self.qmp.execute("device_del", id=dev)
        self.qmp.wait_event("DEVICE_DELETED", timeout,
                            lambda e: e.get("data", {}).get("device") == dev)
        cable.device = None
        return t

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            try:
                self.run("systemctl poweroff --no-block", check=False, timeout=5)
                self.proc.wait(timeout)
            except Exception:
                pass
        if self.proc and self.proc.poll() is None:
            end_process(self.proc)
