"""`xvc-agent list` and `status` against devices that udev (mocked) reports right now."""

import json
import os
import subprocess

import harness


def run_cli(*args):
    env = dict(os.environ)
    env["UMOCKDEV_DIR"] = harness.testbed().get_root_dir()
    return subprocess.run([harness.AGENT, *args], env=env, capture_output=True, text=True,
                          timeout=30)


def test_list_shows_devices_with_rule_and_port(devices, tmp_path):
    main = devices("210249A85F1B", emulate=False)
    spare = devices("210249A80000", emulate=False)
    uart = devices("FT7XJ2QK", manufacturer="FTDI", product="Single RS232-HS", emulate=False)
    main.plug("1-2", 5)
    spare.plug("1-3", 6)
    uart.plug("1-4", 7)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"ports: 3000-3001\nstate_dir: {tmp_path / 'state'}\n"
        "cables:\n"
        "  - name: zcu104-a\n    match: { serial: \"210249A85F1B\" }\n    port: 2600\n"
    )
    out = run_cli("list", "--json", "--config", str(config))
    assert out.returncode == 0, out.stderr
    rows = {d["usb_path"]: d for d in json.loads(out.stdout)["devices"]}
    assert rows["1-2"]["serial"] == "210249A85F1B"
    assert rows["1-2"]["rule"] == "zcu104-a"
    assert rows["1-2"]["port"] == 2600
    assert rows["1-2"]["profile"] == "hs2"
    assert rows["1-3"]["port"] == 3000 and rows["1-3"]["outcome"] == "served"
    assert rows["1-4"]["outcome"] == "ignored" and rows["1-4"]["port"] is None

    table = run_cli("list", "--config", str(config))
    assert table.returncode == 0, table.stderr
    line = next(l for l in table.stdout.splitlines() if l.startswith("210249A85F1B"))
    assert "1-2" in line and "zcu104-a" in line and "2600" in line
    # Listing never writes leases.
    assert not (tmp_path / "state" / "leases.json").exists()
