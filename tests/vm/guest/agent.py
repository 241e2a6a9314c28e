#!/usr/bin/python3
"""Command agent of the test guest: how tests on the host drive the virtual machine.

Listens on TCP port 7000 inside the guest (reached from the host through a QEMU user-network
port forward bound to 127.0.0.1). One request per connection: a JSON object on one line,
answered with one JSON line.

  {"op": "ping"}                                   -> {"ok": true, "uptime": SECONDS}
  {"op": "run", "argv": [...], "timeout": S,
   "stdin": "...", "user": NAME}                    -> {"rc": N, "out": "...", "err": "..."}
  {"op": "put", "path": P, "data": BASE64, "mode": M} -> {"ok": true}
  {"op": "get", "path": P}                          -> {"data": BASE64}

"run" with "sh" instead of "argv" runs a shell command line. A test runs its own scenario
script by putting it and running it; whatever the script prints is its report.
"""

import base64
import json
import os
import socketserver
import subprocess

PORT = 7000


def uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def handle(req):
    op = req.get("op")
    if op == "ping":
        return {"ok": True, "uptime": uptime()}
    if op == "run":
        argv = req["argv"] if "argv" in req else ["/bin/sh", "-c", req["sh"]]
        if req.get("user"):
            argv = ["runuser", "-u", req["user"], "--"] + argv
        try:
            r = subprocess.run(argv, input=req.get("stdin", "").encode(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=req.get("timeout", 60))
        except subprocess.TimeoutExpired as e:
            return {"rc": None, "out": (e.stdout or b"").decode(errors="replace"),
                    "err": f"timed out after {req.get('timeout', 60)} s"}
        except OSError as e:
            return {"rc": 127, "out": "", "err": str(e)}
        return {"rc": r.returncode, "out": r.stdout.decode(errors="replace"),
                "err": r.stderr.decode(errors="replace")}
    if op == "put":
        os.makedirs(os.path.dirname(req["path"]) or "/", exist_ok=True)
        with open(req["path"], "wb") as f:
            f.write(base64.b64decode(req["data"]))
        os.chmod(req["path"], req.get("mode", 0o644))
        return {"ok": True}
    if op == "get":
        with open(req["path"], "rb") as f:
            return {"data": base64.b64encode(f.read()).decode()}
    return {"error": f"unknown op {op!r}"}


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline()
        try:
            answer = handle(json.loads(line))
        except Exception as e:  # an answer, never a dead agent
            answer = {"error": f"{type(e).__name__}: {e}"}
        self.wfile.write((json.dumps(answer) + "\n").encode())


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    with Server(("0.0.0.0", PORT), Handler) as server:
        server.serve_forever()
