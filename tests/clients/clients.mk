# The client conformance suite (tests/clients): openFPGALoader and OpenOCD, the XVC clients
# labs use, against the agent's simulated cables, checked bit for bit at the simulated FPGA.
# Included from the top-level Makefile.
#
#   make clients          the suite, against CLIENTS_AGENT if given, else a fresh debug build
#   make clients-prepare  fetch what it needs beforehand: the pinned OpenOCD (PyPI wheel, into
#                         the cache) and the Debian trixie root with openFPGALoader 0.13.1
#   make clients-prefetch the same in the background (make test starts it first); `clients`
#                         waits for it (both fetches hold a lock while they work)

# Debian packages the suite needs on the build host; `make deps` installs them. (openfpgaloader
# itself is in the top-level list; debootstrap comes with the packaging checks.)
CLIENTS_DEB_PACKAGES := openfpgaloader python3-pytest python3-pip unzip debootstrap
DEB_PACKAGES += $(CLIENTS_DEB_PACKAGES)

CLIENTS_AGENT ?=

.PHONY: clients clients-prepare clients-prefetch

clients-prepare:
	@tests/clients/fetch-openocd.sh >/dev/null
	@tests/distros/debian-root.sh trixie openfpgaloader >/dev/null

clients-prefetch: deps
	@mkdir -p target
	@echo "clients-prefetch: fetching OpenOCD and building the trixie root in the background (log: target/clients-prefetch.log)"
	@nohup $(MAKE) --no-print-directory clients-prepare > target/clients-prefetch.log 2>&1 < /dev/null &

clients: clients-prepare
	@shellcheck tests/clients/run.sh tests/clients/fetch-openocd.sh
	@start=$$(date +%s); \
	CARGO=$(CARGO_SHARED) $(if $(CLIENTS_AGENT),XVC_AGENT=$(CLIENTS_AGENT)) tests/clients/run.sh && \
	echo "clients: conformance suite passed in $$(( $$(date +%s) - start )) s"
