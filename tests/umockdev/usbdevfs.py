"""usbdevfs emulation for one mocked USB device, backed by the Rust FTDI models (the HS2's
FT232H, or any board of the board table with its FT232H, FT2232H or FT4232H).

umockdev forwards every ioctl the agent makes on the mocked `/dev/bus/usb/BBB/DDD` node to a
`UMockdev.IoctlBase` in this process. This module answers them the way the kernel's usbfs
does, and passes vendor control requests and bulk data to `xvc-agent sim-usb-device` (the
FT232H emulator served on a pipe, see `src/sim/usb_pipe.rs`), so the agent's real libusb code
path drives the same model every other test uses.

URBs complete asynchronously, as in the kernel: SUBMITURB queues the request to the emulator
and returns at once; the emulator's answer (from the pipe reader thread) fills the URB and
puts it on the reap queue of the file descriptor that submitted it; REAPURBNDELAY hands it
back (EAGAIN while nothing is ready); DISCARDURB cancels the emulator request, and the URB is
reaped with -ENOENT once the emulator confirms.
"""

import collections
import errno
import os
import struct
import subprocess
import threading
import time

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402


def _ioc(direction, nr, size):
    return (direction << 30) | (size << 16) | (ord("U") << 8) | nr


_NONE, _WRITE, _READ = 0, 1, 2
URB_SIZE = 56  # struct usbdevfs_urb on 64-bit Linux

USBDEVFS_CONTROL = _ioc(_READ | _WRITE, 0, 24)
USBDEVFS_SETINTERFACE = _ioc(_READ, 4, 8)
USBDEVFS_SETCONFIGURATION = _ioc(_READ, 5, 4)
USBDEVFS_GETDRIVER = _ioc(_WRITE, 8, 260)
USBDEVFS_SUBMITURB = _ioc(_READ, 10, URB_SIZE)
USBDEVFS_DISCARDURB = _ioc(_NONE, 11, 0)
USBDEVFS_REAPURB = _ioc(_WRITE, 12, 8)
USBDEVFS_REAPURBNDELAY = _ioc(_WRITE, 13, 8)
USBDEVFS_CLAIMINTERFACE = _ioc(_READ, 15, 4)
USBDEVFS_RELEASEINTERFACE = _ioc(_READ, 16, 4)
USBDEVFS_CONNECTINFO = _ioc(_WRITE, 17, 8)
USBDEVFS_IOCTL = _ioc(_READ | _WRITE, 18, 16)
USBDEVFS_RESET = _ioc(_NONE, 20, 0)
USBDEVFS_CLEAR_HALT = _ioc(_READ, 21, 4)
USBDEVFS_DISCONNECT = _ioc(_NONE, 22, 0)
USBDEVFS_CONNECT = _ioc(_NONE, 23, 0)
USBDEVFS_GET_CAPABILITIES = _ioc(_READ, 26, 4)
USBDEVFS_DISCONNECT_CLAIM = _ioc(_READ, 27, 264)
USBDEVFS_GET_SPEED = _ioc(_NONE, 31, 0)

CAP_ZERO_PACKET = 0x01
CAP_BULK_CONTINUATION = 0x02
CAP_NO_PACKET_SIZE_LIM = 0x04
CAP_BULK_SCATTER_GATHER = 0x08
CAP_REAP_AFTER_DISCONNECT = 0x10
CAPABILITIES = (CAP_ZERO_PACKET | CAP_BULK_CONTINUATION | CAP_NO_PACKET_SIZE_LIM
                | CAP_BULK_SCATTER_GATHER | CAP_REAP_AFTER_DISCONNECT)

URB_TYPE_INTERRUPT, URB_TYPE_CONTROL, URB_TYPE_BULK = 1, 2, 3

# Longest a REAPURBNDELAY with nothing to reap is held back (see UsbDeviceHandler._reap).
REAP_PARK_S = 0.002
USB_SPEED_HIGH = 3

# Pipe protocol of `xvc-agent sim-usb-device` (src/sim/usb_pipe.rs).
OP_CONTROL_OUT, OP_CONTROL_IN, OP_BULK_OUT, OP_BULK_IN = 1, 2, 3, 4
OP_CANCEL, OP_UNPLUG, OP_RESET, OP_INFO, OP_HALT_IN, OP_FAULTS = 5, 6, 7, 8, 9, 10
ST_OK, ST_TIMEOUT, ST_DISCONNECTED, ST_CANCELLED, ST_ERROR, ST_BAD = 0, 1, 2, 3, 4, 5


class EmulatorPipe:
    """Client of `xvc-agent sim-usb-device`: requests go out tagged with an id; a reader
    thread calls each request's callback with (status, payload) when its answer arrives."""

    def __init__(self, agent_binary, env=None, board=None, serial=None):
        args = [agent_binary, "sim-usb-device"]
        if board is not None:
            args += ["--board", board]
        if serial:
            args += ["--serial", serial]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=0)
        self._lock = threading.Lock()
        self._next_id = 1
        self._waiting = {}
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                        name="emulator-pipe")
        self._reader.start()

    def request(self, op, payload=b"", callback=None):
        """Sends a request; returns its id. `callback(status, payload)` runs on the reader
        thread (or at once with DISCONNECTED if the pipe is closed)."""
        with self._lock:
            rid = self._next_id
            self._next_id += 1
            if self._closed:
                closed = True
            else:
                closed = False
                if callback is not None:
                    self._waiting[rid] = callback
                frame = struct.pack("<IBI", 5 + len(payload), op, rid) + payload
                try:
                    self.proc.stdin.write(frame)
                except (BrokenPipeError, ValueError):
                    self._waiting.pop(rid, None)
                    closed = True
        if closed and callback is not None:
            callback(ST_DISCONNECTED, b"")
        return rid

    def call(self, op, payload=b"", timeout=10.0):
        """Synchronous request: returns (status, payload)."""
        done = threading.Event()
        result = []

        def cb(status, data):
            result.append((status, data))
            done.set()

        self.request(op, payload, cb)
        if not done.wait(timeout):
            raise TimeoutError(f"emulator did not answer op {op}")
        return result[0]

    def info(self):
        """The device's facts: dict with max_packet, interfaces and, for a simulated board,
        vid, pid, bcd_device, manufacturer, product, serial."""
        status, data = self.call(OP_INFO)
        assert status == ST_OK, status
        facts = {"max_packet": struct.unpack("<I", data[:4])[0], "interfaces": data[4]}
        if len(data) > 5:
            facts["vid"], facts["pid"], facts["bcd_device"] = struct.unpack("<HHH", data[5:11])
            names = data[11:].split(b"\0")
            for key, value in zip(("manufacturer", "product", "serial"), names):
                facts[key] = value.decode()
        return facts

    def faults(self):
        """What the device recorded as harmful to the board, one string each."""
        status, data = self.call(OP_FAULTS)
        assert status == ST_OK, status
        return [line for line in data.decode().split("\n") if line]

    def _read_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.proc.stdout.read(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _read_loop(self):
        while True:
            head = self._read_exact(4)
            if head is None:
                break
            (length,) = struct.unpack("<I", head)
            body = self._read_exact(length)
            if body is None:
                break
            rid, status = struct.unpack("<IB", body[:5])
            with self._lock:
                cb = self._waiting.pop(rid, None)
            if cb is not None:
                cb(status, body[5:])
        with self._lock:
            self._closed = True
            waiting, self._waiting = self._waiting, {}
        for cb in waiting.values():
            cb(ST_DISCONNECTED, b"")

    def close(self):
        with self._lock:
            self._closed = True
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)


class Urb:
    """One submitted URB: the client-side structure and buffer, and its completion."""

    __slots__ = ("urb_data", "buffer_data", "type", "endpoint", "length", "client",
                 "pipe_id", "discarded", "done")

    def __init__(self, urb_data, buffer_data, urb_type, endpoint, length, client):
        self.urb_data = urb_data
        self.buffer_data = buffer_data
        self.type = urb_type
        self.endpoint = endpoint
        self.length = length
        self.client = client
        self.pipe_id = None
        self.discarded = False
        self.done = False

    @property
    def addr(self):
        return self.urb_data.client_addr


class UsbDeviceHandler:
    """usbfs for one device node. `pipe` is the emulator behind the device (None: control
    and bulk transfers stall). `events` records what the client did, in order, for tests."""

    def __init__(self, pipe, devnum, interfaces=1, drivers=None):
        self.pipe = pipe
        self.devnum = devnum
        self.interfaces = interfaces
        # Kernel driver bound to each interface (ftdi_sio on every channel at plug).
        self.drivers = dict(drivers or {i: "ftdi_sio" for i in range(interfaces)})
        self.claimed = set()
        self.events = []
        self.gone = False
        self.bulk_out_bytes = 0
        self.bulk_in_bytes = 0
        self._lock = threading.Lock()
        self._pending = {}  # (client id, urb address) -> Urb
        self._ready = collections.defaultdict(collections.deque)  # client id -> Urbs
        self._blocked_reapers = {}  # client id -> (client, arg) waiting in REAPURB
        # REAPURBNDELAY calls held back while a URB of theirs is in flight: client id ->
        # (client, arg, deadline). See _reap.
        self._parked = {}
        self._park_wake = threading.Condition(self._lock)
        self._closed = False
        threading.Thread(target=self._unpark_loop, daemon=True, name="usbfs-reap").start()
        self.base = UMockdev.IoctlBase()
        self.base.connect("handle-ioctl", self._handle_ioctl)

    # --- test controls -------------------------------------------------------------------

    def unplug(self):
        """The device is gone: as the kernel does on a disconnect, every URB in flight ends
        at once with -ESHUTDOWN, and new requests get ENODEV."""
        with self._lock:
            self.gone = True
            self.events.append(("unplug",))
            in_flight = list(self._pending.values())
        if self.pipe is not None:
            self.pipe.request(OP_UNPLUG)
        for urb in in_flight:
            self._finish(urb, -errno.ESHUTDOWN, b"")

    def halt_in(self, on):
        """Make the bulk IN endpoint NAK everything (True) or answer again (False)."""
        status, _ = self.pipe.call(OP_HALT_IN, bytes([1 if on else 0]))
        assert status == ST_OK

    def close(self):
        """Stops the handler's helper thread (after the device is gone for good)."""
        with self._lock:
            self._closed = True
            self._park_wake.notify_all()

    def driver(self, ifno):
        """The kernel driver bound to interface `ifno` now (None: none)."""
        with self._lock:
            return self.drivers.get(ifno)

    def saw(self, name):
        return [e for e in self.events if e[0] == name]

    # --- ioctl dispatch ------------------------------------------------------------------

    def _handle_ioctl(self, _base, client):
        try:
            return self._dispatch(client)
        except Exception as e:  # never leave the client hanging
            self.events.append(("handler-error", repr(e)))
            client.complete(-1, errno.EIO)
            return True

    def _dispatch(self, client):
        req = client.get_request()
        arg = client.get_arg()

        def done(ret=0, err=0):
            client.complete(ret, err)
            return True

        if self.gone and req not in (USBDEVFS_REAPURB, USBDEVFS_REAPURBNDELAY,
                                     USBDEVFS_DISCARDURB, USBDEVFS_RELEASEINTERFACE):
            return done(-1, errno.ENODEV)

        if req == USBDEVFS_GET_CAPABILITIES:
            arg.resolve(0, 4).update(0, struct.pack("<I", CAPABILITIES))
            return done()
        if req == USBDEVFS_GET_SPEED:
            return done(USB_SPEED_HIGH)
        if req == USBDEVFS_CONNECTINFO:
            arg.resolve(0, 8).update(0, struct.pack("<IB3x", self.devnum, 0))
            return done()
        if req == USBDEVFS_GETDRIVER:
            data = arg.resolve(0, 260)
            (ifno,) = struct.unpack("<I", data.retrieve()[:4])
            self.events.append(("getdriver", ifno))
            driver = self.drivers.get(ifno)
            if driver is None:
                return done(-1, errno.ENODATA)
            data.update(4, driver.encode() + b"\0")
            return done()
        if req == USBDEVFS_IOCTL:
            data = arg.resolve(0, 16)
            ifno, code = struct.unpack("<iI", data.retrieve()[:8])
            if code == USBDEVFS_DISCONNECT:
                self.events.append(("disconnect", ifno))
                if self.drivers.pop(ifno, None) is None:
                    return done(-1, errno.ENODATA)
                return done()
            if code == USBDEVFS_CONNECT:
                self.events.append(("connect", ifno))
                return done()
            return done(-1, errno.ENOTTY)
        if req == USBDEVFS_DISCONNECT_CLAIM:
            data = arg.resolve(0, 264)
            (ifno, _flags) = struct.unpack("<II", data.retrieve()[:8])
            self.events.append(("disconnect", ifno))
            self.drivers.pop(ifno, None)
            return self._claim(client, ifno)
        if req == USBDEVFS_CLAIMINTERFACE:
            (ifno,) = struct.unpack("<I", arg.resolve(0, 4).retrieve())
            return self._claim(client, ifno)
        if req == USBDEVFS_RELEASEINTERFACE:
            (ifno,) = struct.unpack("<I", arg.resolve(0, 4).retrieve())
            self.events.append(("release", ifno))
            if ifno not in self.claimed:
                return done(-1, errno.EINVAL)
            self.claimed.discard(ifno)
            return done()
        if req in (USBDEVFS_SETCONFIGURATION, USBDEVFS_SETINTERFACE, USBDEVFS_CLEAR_HALT,
                   USBDEVFS_RESET):
            self.events.append(("misc", req))
            return done()
        if req == USBDEVFS_CONTROL:
            return self._sync_control(client, arg)
        if req == USBDEVFS_SUBMITURB:
            return self._submit(client, arg)
        if req in (USBDEVFS_REAPURB, USBDEVFS_REAPURBNDELAY):
            return self._reap(client, arg, block=req == USBDEVFS_REAPURB)
        if req == USBDEVFS_DISCARDURB:
            (addr,) = struct.unpack("<Q", arg.retrieve())
            return self._discard(client, addr)
        self.events.append(("unknown-ioctl", hex(req)))
        return done(-1, errno.ENOTTY)

    def _claim(self, client, ifno):
        self.events.append(("claim", ifno, self.drivers.get(ifno)))
        if ifno >= self.interfaces:
            client.complete(-1, errno.ENOENT)
        elif ifno in self.drivers:
            client.complete(-1, errno.EBUSY)
        else:
            self.claimed.add(ifno)
            client.complete(0, 0)
        return True

    # --- control transfers ---------------------------------------------------------------

    def _standard_request(self, setup):
        """Standard requests the device answers itself: (status, data)."""
        rtype, request, _value, _index, length = struct.unpack("<BBHHH", setup)
        if rtype == 0x80 and request == 0x08:  # GET_CONFIGURATION
            return 0, b"\x01"[:length]
        if rtype == 0x80 and request == 0x00:  # GET_STATUS
            return 0, b"\x00\x00"[:length]
        return 0, b""

    def _control_to_pipe(self, setup, out_data, callback):
        rtype, request, value, index, length = struct.unpack("<BBHHH", setup)
        if self.pipe is None:
            callback(-errno.EPIPE, b"")
            return None
        if rtype & 0x80:
            payload = struct.pack("<BHHHI", request, value, index, length, 1000)
            op = OP_CONTROL_IN
        else:
            payload = struct.pack("<BHHI", request, value, index, 1000)
            op = OP_CONTROL_OUT

        def answered(status, data):
            callback(*_status_to_urb(status, data if op == OP_CONTROL_IN else b""))

        return self.pipe.request(op, payload, answered)

    def _sync_control(self, client, arg):
        data = arg.resolve(0, 24)
        raw = data.retrieve()
        setup = raw[:8]
        rtype = raw[0]
        (length,) = struct.unpack("<H", raw[6:8])
        buf = data.resolve(16, length) if length else None
        self.events.append(("control", setup.hex()))
        if rtype & 0x60 == 0:
            status, reply = self._standard_request(setup)
            if reply and buf is not None:
                buf.update(0, reply)
            client.complete(len(reply), 0)
            return True

        def answered(status, reply):
            if status < 0:
                client.complete(-1, -status)
                return
            if reply and buf is not None:
                buf.update(0, reply)
            client.complete(len(reply) if rtype & 0x80 else length, 0)

        self._control_to_pipe(setup, buf.retrieve() if (buf and not rtype & 0x80) else b"",
                              answered)
        return True

    # --- URBs ----------------------------------------------------------------------------

    def _submit(self, client, arg):
        urb_data = arg.resolve(0, URB_SIZE)
        raw = urb_data.retrieve()
        urb_type, endpoint = raw[0], raw[1]
        (length,) = struct.unpack("<i", raw[24:28])
        buffer_data = urb_data.resolve(16, length) if length > 0 else None
        urb = Urb(urb_data, buffer_data, urb_type, endpoint, length, client)
        key = (id(client), urb.addr)
        with self._lock:
            self._pending[key] = urb
        client.complete(0, 0)

        if urb_type == URB_TYPE_CONTROL:
            setup = buffer_data.retrieve()[:8]
            self.events.append(("control", setup.hex()))
            if setup[0] & 0x60 == 0:
                status, reply = self._standard_request(setup)
                self._finish(urb, status, reply, offset=8)
            else:
                urb.pipe_id = self._control_to_pipe(
                    setup, buffer_data.retrieve()[8:],
                    lambda st, reply: self._finish(urb, st, reply, offset=8))
        elif urb_type in (URB_TYPE_BULK, URB_TYPE_INTERRUPT):
            if self.pipe is None:
                self._finish(urb, -errno.EPIPE, b"")
            elif endpoint & 0x80:
                def read(st, reply):
                    self.bulk_in_bytes += len(reply)
                    self._finish(urb, *_status_to_urb(st, reply))

                urb.pipe_id = self.pipe.request(
                    OP_BULK_IN, struct.pack("<BII", endpoint, length, 0), read)
            else:
                data = buffer_data.retrieve() if buffer_data is not None else b""
                self.bulk_out_bytes += len(data)

                def written(st, reply):
                    status, _ = _status_to_urb(st, b"")
                    n = struct.unpack("<I", reply[:4])[0] if len(reply) >= 4 else 0
                    self._finish(urb, status, b"", actual=n)

                urb.pipe_id = self.pipe.request(
                    OP_BULK_OUT, struct.pack("<BI", endpoint, 0) + data, written)
        else:
            self._finish(urb, -errno.EINVAL, b"")
        return True

    def _finish(self, urb, status, data, offset=0, actual=None):
        """Completes `urb` (any thread): fills status, length and data, queues it for reaping."""
        with self._lock:
            if urb.done:
                return
            urb.done = True
            if urb.discarded and status == 0 and not data and not actual:
                status = -errno.ENOENT
            if data and urb.buffer_data is not None:
                data = data[: max(0, urb.length - offset)]
                urb.buffer_data.update(offset, data)
            n = len(data) if actual is None else actual
            urb.urb_data.update(4, struct.pack("<i", status))
            urb.urb_data.update(28, struct.pack("<i", n))
            key = (id(urb.client), urb.addr)
            self._pending.pop(key, None)
            self._ready[id(urb.client)].append(urb)
            waiter = self._blocked_reapers.pop(id(urb.client), None)
            parked = self._parked.pop(id(urb.client), None)
        if waiter is not None:
            self._reap(*waiter, block=True)
        if parked is not None:
            self._reap(parked[0], parked[1], block=False, park=False)

    def _reap(self, client, arg, block, park=True):
        """REAPURB / REAPURBNDELAY. usbfs signals completions through poll(), but umockdev's
        device node is a regular file that always polls ready, so libusb's event loop asks
        again at once. To keep that loop from spinning on the CPU the emulator needs, a
        REAPURBNDELAY that finds nothing while a URB of the caller is in flight is held back
        until a URB completes or REAP_PARK_S passes, then answered as usual."""
        data = arg.resolve(0, 8)
        with self._lock:
            queue = self._ready[id(client)]
            urb = queue.popleft() if queue else None
            if urb is None:
                pending = any(k[0] == id(client) for k in self._pending)
                if self.gone and not pending:
                    client.complete(-1, errno.ENODEV)
                elif block:
                    self._blocked_reapers[id(client)] = (client, arg)
                elif park and pending and not self._closed:
                    self._parked[id(client)] = (client, arg, time.monotonic() + REAP_PARK_S)
                    self._park_wake.notify_all()
                else:
                    client.complete(-1, errno.EAGAIN)
                return True
        data.set_ptr(0, urb.urb_data)
        client.complete(0, 0)
        return True

    def _unpark_loop(self):
        with self._lock:
            while not self._closed:
                now = time.monotonic()
                due = [k for k, (_, _, t) in self._parked.items() if t <= now]
                for k in due:
                    client, _, _ = self._parked.pop(k)
                    client.complete(-1, errno.EAGAIN)
                nxt = min((t for _, _, t in self._parked.values()), default=None)
                self._park_wake.wait(None if nxt is None else max(0.0, nxt - now))
            for client, _, _ in self._parked.values():
                client.complete(-1, errno.EAGAIN)
            self._parked.clear()

    def _discard(self, client, addr):
        with self._lock:
            urb = self._pending.get((id(client), addr))
            if urb is None:
                client.complete(-1, errno.EINVAL)
                return True
            urb.discarded = True
            pipe_id = urb.pipe_id
        self.events.append(("discard", urb.endpoint))
        client.complete(0, 0)
        if pipe_id is not None and self.pipe is not None:
            self.pipe.request(OP_CANCEL, struct.pack("<I", pipe_id))
        else:
            self._finish(urb, -errno.ENOENT, b"")
        return True


def _status_to_urb(status, data):
    """Pipe status -> (URB status, data), as the kernel reports it."""
    if status == ST_OK:
        return 0, data
    if status == ST_CANCELLED:
        return -errno.ENOENT, b""
    if status == ST_DISCONNECTED:
        return -errno.ESHUTDOWN, b""
    if status == ST_TIMEOUT:
        return -errno.ETIMEDOUT, b""
    return -errno.EPIPE, b""
