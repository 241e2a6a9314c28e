"""What the Python harnesses (tests/umockdev, tests/vm) know about the product: the emulated
cable's USB identity, the part on its chain, the XVC protocol's words and defaults.

The product's own constants are the truth; `tests/agent_simulate.rs` reads this file and fails
when a value here differs from the one in the crate. Only `NAME = literal` lines, so that a
plain reader can check them.
"""

# The Digilent JTAG-HS2 (FT232H) the emulator is and `--simulate` serves (ftdi::profiles::HS2,
# hotplug::simulated::sim_cable).
HS2_VID = 0x0403
HS2_PID = 0x6014
HS2_MANUFACTURER = "Digilent"
HS2_PRODUCT = "Digilent Adept USB Device"

# The part on every emulated cable's chain (sim::parts::XC7A35T).
XC7A35T_IDCODE = 0x0362D093

# XVC 1.0 (xvc::codec): the three commands, the start of the getinfo reply, the agent's
# defaults (xvc::DEFAULT_PORT, xvc::DEFAULT_MAX_VECTOR_BYTES).
XVC_GETINFO = b"getinfo:"
XVC_SETTCK = b"settck:"
XVC_SHIFT = b"shift:"
XVC_INFO_PREFIX = "xvcServer_v1.0:"
XVC_DEFAULT_PORT = 2542
XVC_MAX_VECTOR_BYTES = 16384

# The rows of the board table (ftdi::identify::boards::BOARDS): those the agent serves, and
# those it must never drive.
SERVED_BOARDS = ["hs2", "hs3", "zedboard", "smt2", "smt2-nc", "hs1", "smt1", "arty", "basys3", "nexys4", "zybo-z7", "arty-z7", "cmod-a7", "genesys-zu", "eclypse-z7", "nexys-video", "genesys2", "zcu104", "vck190", "sp701", "vcu128", "vcu1525", "pynq-z2", "minized"]
NEVER_BOARDS = ["discovery"]
