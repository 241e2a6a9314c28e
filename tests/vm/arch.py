"""Everything that differs between the guest architectures, in one table.

The image build (image.py) and the virtual machine (machine.py) read only this table for
architecture-specific facts; adding an architecture means adding a row here (and its QEMU package to
VM_DEB_PACKAGES_<arch> in vm.mk).
"""

from dataclasses import dataclass
import platform


@dataclass(frozen=True)
class Arch:
    name: str                      # Debian architecture
    qemu: str                      # QEMU system emulator
    machine: list                  # -machine / -cpu and anything else the board needs
    kernel_glob: str               # kernel in the guest root, relative to it
    # How the kernel in the root is turned into what QEMU boots: "pvh-vmlinux" extracts the
    # uncompressed ELF vmlinux from a bzImage (direct PVH entry: no decompression under TCG),
    # "as-is" boots the file unchanged.
    kernel_format: str
    initrd_glob: str
    console: str                   # guest console device (kernel console=)
    disk_device: str               # QEMU device for the root disk (virtio-blk)
    net_device: str                # QEMU device for the user-mode network card
    # Modules the initrd needs to mount the root (MODULES=list): the disk, its bus and ext4.
    initrd_modules: list
    # debootstrap --foreign then --second-stage under this emulator (None: the host runs
    # the guest's binaries natively).
    user_emulator: str = None


ARCHES = {
    "amd64": Arch(
        name="amd64",
        qemu="qemu-system-x86_64",
        machine=["-machine", "q35,accel=tcg", "-cpu", "max"],
        kernel_glob="boot/vmlinuz-*",
        kernel_format="pvh-vmlinux",
        initrd_glob="boot/initrd.img-*",
        console="ttyS0",
        disk_device="virtio-blk-pci",
        net_device="virtio-net-pci",
        initrd_modules=["virtio_pci", "virtio_blk", "ext4"],
    ),
    # QEMU's virt board with a Cortex-A57 (what a Raspberry Pi 4 or an ARM server runs, as
    # far as user space can tell). The kernel is Debian's compressed Image, which QEMU
    # unpacks itself; the board's devices sit on both virtio-mmio and PCIe, so the initrd
    # needs both transports.
    "arm64": Arch(
        name="arm64",
        qemu="qemu-system-aarch64",
        machine=["-machine", "virt", "-cpu", "cortex-a57", "-accel", "tcg"],
        kernel_glob="boot/vmlinuz-*",
        kernel_format="as-is",
        initrd_glob="boot/initrd.img-*",
        console="ttyAMA0",
        disk_device="virtio-blk-pci",
        net_device="virtio-net-pci",
        initrd_modules=["virtio_mmio", "virtio_pci", "virtio_blk", "ext4"],
        user_emulator="qemu-aarch64-static",
    ),
}


def host_arch():
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def get(name):
    try:
        return ARCHES[name]
    except KeyError:
        raise SystemExit(f"unknown ARCH {name!r}: known are {', '.join(sorted(ARCHES))}")
