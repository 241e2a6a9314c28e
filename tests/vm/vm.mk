# The virtual-machine tests: the .deb under real systemd, udevd and journald in a Debian 12
# guest (QEMU, TCG), with emulated HS2 cables and simulated boards (every FTDI channel an
# interface) hot-plugged into the guest's kernel through usb-redir. Included from the
# top-level Makefile.
#
#   make vm-test            build the packages, then boot the guest and run tests/vm
#   make vm-test-only       the same on the package already built
#   make vm-test ARCH=...   another guest architecture (tests/vm/arch.py lists them)
#   make vm-image           build (or find in the cache) the guest image only
#
# The guest image is cached in ${XDG_CACHE_HOME:-~/.cache}/xvc-agent/vm/, keyed by a hash of
# its inputs (tests/vm/image.py).



# Host packages: QEMU for each guest architecture, and what builds and drives the image.
VM_DEB_PACKAGES_amd64 := qemu-system-x86
# arm64: the virt board's emulator, and qemu-user for the image build's second stage.
VM_DEB_PACKAGES_arm64 := qemu-system-arm qemu-user-static
VM_DEB_PACKAGES := $(VM_DEB_PACKAGES_amd64) $(VM_DEB_PACKAGES_arm64) debootstrap e2fsprogs zstd xz-utils \
	python3 python3-pytest openfpgaloader
DEB_PACKAGES += $(VM_DEB_PACKAGES)

.PHONY: vm-test vm-test-arm64 vm-test-only vm-test-arm64-only vm-image vm-prefetch

## vm-image: build (or find in the cache) the guest image
vm-image: deps
	ARCH=$(ARCH) tests/vm/run.sh --image-only

# The guest runs the package of its architecture; the host side (the usbredir device server)
# is the host's packaged binary.
## vm-test: the VM suite in the amd64 guest (ARCH=... for another)
vm-test: package
	@$(MAKE) --no-print-directory vm-test-only

vm-test-only:
	ARCH=$(ARCH) XVC_VM_DEB=$(PKG_DEB) XVC_AGENT=$(HOST_PKG_BIN) tests/vm/run.sh

# The arm64 package in an arm64 guest (qemu-system-aarch64, TCG), whatever the host: installed
# with apt under systemd, two cables hot-plugged, served, IDCODE and openFPGALoader from the
# host, unplugged. The other scenarios do not depend on the architecture and run in the amd64
# guest only, to keep make test's time; VM_ARM64_TESTS= runs all of them here too.
VM_ARM64_TESTS ?= -k "install or hotplug"
## vm-test-arm64: the arm64 package in an arm64 guest
vm-test-arm64: packages
	@$(MAKE) --no-print-directory vm-test-arm64-only

vm-test-arm64-only:
	ARCH=arm64 XVC_VM_DEB=$(wildcard $(call pkg_dir,arm64)/xvc-agent_*.deb) \
		XVC_AGENT=$(HOST_PKG_BIN) tests/vm/run.sh $(VM_ARM64_TESTS)

# The Debian roots of package-check and distro-check and the guest images take minutes to
# build on a fresh machine, mostly downloading packages and running the guest's package
# scripts through qemu-user on one core. `make test` starts their builds in the background
# first, so that they overlap the compiles: the arm64 image (the longest, 15-25 min on two
# busy cores) on its own, the roots and then the amd64 image beside it. Whatever needs one
# waits for its build (every builder holds a lock while it builds) or finds it in the cache.
vm-prefetch: deps
	@mkdir -p target
	@echo "vm-prefetch: building the Debian roots and guest images in the background (logs: target/vm-prefetch*.log)"
	@nohup /usr/bin/python3 tests/vm/image.py --arch arm64 > target/vm-prefetch-arm64.log 2>&1 < /dev/null &
	@nohup sh -c 'tests/distros/debian-root.sh $(PKG_SUITE) $(PKG_ROOT_PACKAGES); \
		for s in $(DISTRO_SUITES); do tests/distros/debian-root.sh $$s $(DISTRO_ROOT_PACKAGES); done; \
		/usr/bin/python3 tests/vm/image.py --arch amd64' \
		> target/vm-prefetch.log 2>&1 < /dev/null &

