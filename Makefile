# xvc-agent — build, run and test.
#
#   make run    build and start the agent with two simulated HS2 cables (ports 2542, 2543)
#   make test   every test: format, lints, unit + integration tests, umockdev suite, client
#               conformance suite, packages, virtual-machine suite
#   make deps   install the Debian packages needed to build and test (idempotent)

CARGO    ?= cargo
SIMULATE ?= 2
PORT     ?= 2542

# Big artefacts live outside the clone, in this user's cache, keyed by their inputs: cargo's
# intermediate build files, VM images, Debian roots, toolchains.
XVC_CACHE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/xvc-agent
# cargo for everything that compiles: its intermediate files go to the cache, shared by every
# clone (.cargo/shared-build.sh says how); the binaries stay in target/. Plain `cargo` in a
# checkout keeps everything in target/.
export XVC_CARGO = $(CARGO)
CARGO_SHARED := $(CURDIR)/.cargo/shared-build.sh

# Debian packages needed to build and test.
DEB_PACKAGES := pkg-config libudev-dev libusb-1.0-0-dev openfpgaloader \
	python3 python3-pytest python3-gi gir1.2-umockdev-1.0 umockdev iproute2 util-linux

include packaging/package.mk
include tests/vm/vm.mk
include tests/distros/distros.mk

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build release run test check fmt clippy cargo-test cargo-test-build umockdev bench clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "all build and test packages present"; fi
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }

build: deps
	$(CARGO_SHARED) build --release

run: build
	@echo
	@echo "Starting xvc-agent with $(SIMULATE) simulated Digilent HS2 cables (an xc7a35t behind each)."
	@echo "Connect a client to port $(PORT) (next cable: $$(($(PORT)+1))), for example:"
	@echo "    openFPGALoader -c xvc-client --ip 127.0.0.1 --port $(PORT) --detect"
	@echo "    Vivado Tcl console: open_hw_target -xvc_url <this host>:$(PORT)"
	@echo "    Status: ./target/release/xvc-agent status --socket target/run/control.sock"
	@echo "Stop with Ctrl-C."
	@echo
	@mkdir -p target/run
	./target/release/xvc-agent run --simulate $(SIMULATE) --base-port $(PORT) --log stderr \
		--config config/config.yaml --state-dir target/run/state \
		--control-socket target/run/control.sock

# The compiles and the host-side tests run one after the other. The virtual-machine suites
# (QEMU, one emulated core each) run one after the other in the background beside them, from
# the moment their package is built: amd64 first, arm64 once the arm64 package is (a lock the
# foreground holds while it builds it). Their output is kept in target/vm-suites.log and shown
# at the end; any failure fails make test. The foreground compiles run at a lower priority
# (nice): a guest starved of CPU time falls behind its own timers and network (QEMU's user
# network once aborted on a guest that did not drain its sockets), the compiles only take
# longer. The tests themselves run at normal priority.
TEST_ARM64_LOCK := target/.test-arm64-package.lock
test: deps vm-prefetch clients-prefetch fmt package
	@echo "test: the virtual-machine suites run in the background (log: target/vm-suites.log)"
	@exec 8>$(TEST_ARM64_LOCK); flock 8; \
	{ exec 8>&-; $(MAKE) --no-print-directory vm-test-only; amd64=$$?; \
		flock $(TEST_ARM64_LOCK) $(MAKE) --no-print-directory vm-test-arm64-only && \
		exit $$amd64; } > target/vm-suites.log 2>&1 & vm=$$!; \
	nice -n 10 $(MAKE) --no-print-directory package-arch ARCH=arm64; arm64=$$?; exec 8>&-; \
	[ $$arm64 = 0 ] && nice -n 10 $(MAKE) --no-print-directory clippy cargo-test-build && \
		$(MAKE) --no-print-directory cargo-test umockdev clients package-check-only \
		distro-check-only UMOCKDEV_AGENT=$(CURDIR)/target/debug/xvc-agent \
		CLIENTS_AGENT=$(CURDIR)/target/debug/xvc-agent; \
	host=$$?; wait $$vm; vm=$$?; \
	echo "==================== virtual-machine suites (target/vm-suites.log) ===================="; \
	cat target/vm-suites.log; \
	[ $$host = 0 ] || echo "test: the host-side tests failed (above the virtual-machine suites)"; \
	[ $$vm = 0 ] || echo "test: the virtual-machine suites failed"; \
	[ $$host = 0 ] && [ $$vm = 0 ]

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO_SHARED) clippy --all-targets -- -D warnings

cargo-test:
	$(CARGO_SHARED) test

# Compiles what cargo test runs, without running it.
cargo-test-build:
	$(CARGO_SHARED) test --no-run

# The real libudev and libusb code paths against umockdev's mocked sysfs, uevents and usbfs.
# make test gives it the agent that cargo test built (target/debug/xvc-agent, the test
# profile's: the dev profile's settings under another name), which spares compiling the crate
# once more under the dev profile.
UMOCKDEV_AGENT ?=
umockdev:
	CARGO=$(CARGO_SHARED) $(if $(UMOCKDEV_AGENT),XVC_AGENT=$(UMOCKDEV_AGENT)) tests/umockdev/run.sh

bench:
	$(CARGO_SHARED) bench

clean:
	$(CARGO) clean

include fuzz/fuzz.mk
include tests/lab/lab.mk
include tests/clients/clients.mk
