# xvc-agent — build, run and test. `make help` lists every entry target.
#
#   make run    build and start the agent with two simulated HS2 cables (ports 2542, 2543)
#   make test   every test, as stages: test-host (lints, cargo test, umockdev, clients,
#               packages, distributions) and test-vm (the amd64 and arm64 guests) beside it
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

# `make` alone builds; the included files below define targets first but do not change that.
.DEFAULT_GOAL := all

include packaging/package.mk
include tests/vm/vm.mk
include tests/distros/distros.mk
include fuzz/fuzz.mk
include tests/lab/lab.mk
include tests/clients/clients.mk

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all help deps build run test test-host test-host-stages test-vm fmt clippy cargo-test \
	cargo-test-build umockdev bench clean

## all: build the release binary (the default)
all: build

## deps: install the Debian packages needed to build and test
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

## build: the release binary
build: deps
	$(CARGO_SHARED) build --release

## run: start the agent with simulated cables (SIMULATE=2, PORT=2542)
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

## test: every test: the host stages and the VM suites beside them (tests/stages.sh says how)
test: deps vm-prefetch clients-prefetch fmt package
	MAKE="$(MAKE)" tests/stages.sh

# The host-side stages, in order. make test runs them beside the VM suites; make test-host
# runs them alone (after building what they check).
TEST_HOST_STAGES := clippy cargo-test umockdev clients package-check-only distro-check-only
TEST_AGENT := $(CURDIR)/target/debug/xvc-agent

## test-host: every host-side stage (lints, cargo test, umockdev, clients, packages, distros)
test-host: deps clients-prefetch fmt package
	$(MAKE) --no-print-directory package-arch ARCH=arm64
	$(MAKE) --no-print-directory test-host-stages

# The umockdev and client suites drive the agent cargo test built (the test profile's),
# which spares compiling the crate once more.
test-host-stages:
	$(MAKE) --no-print-directory $(TEST_HOST_STAGES) \
		UMOCKDEV_AGENT=$(TEST_AGENT) CLIENTS_AGENT=$(TEST_AGENT)

## test-vm: the virtual-machine suites: amd64, then arm64 (each alone: vm-test, vm-test-arm64)
test-vm: deps vm-prefetch package
	$(MAKE) --no-print-directory package-arch ARCH=arm64
	$(MAKE) --no-print-directory vm-test-only
	$(MAKE) --no-print-directory vm-test-arm64-only

## help: this list
help:
	@grep -h '^## [a-z0-9-]*:' $(MAKEFILE_LIST) | \
		sed 's/^## \([a-z0-9-]*\): */\1\t/' | awk -F'\t' '{ printf "  make %-20s %s\n", $$1, $$2 }'

## fmt: check formatting
fmt:
	$(CARGO) fmt --all -- --check

## clippy: lints, warnings as errors
clippy:
	$(CARGO_SHARED) clippy --all-targets -- -D warnings

## cargo-test: unit and integration tests (cargo test)
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
## umockdev: real libudev and libusb against mocked sysfs and usbfs
umockdev:
	CARGO=$(CARGO_SHARED) $(if $(UMOCKDEV_AGENT),XVC_AGENT=$(UMOCKDEV_AGENT)) tests/umockdev/run.sh

## bench: the benchmarks (ratios from one run)
bench:
	$(CARGO_SHARED) bench

## clean: remove target/
clean:
	$(CARGO) clean
