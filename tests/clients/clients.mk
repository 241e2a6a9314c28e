# The client conformance suite (tests/clients): openFPGALoader and OpenOCD, the XVC clients
# labs use, against the agent's simulated cables, checked bit for bit at the simulated FPGA.
# Included from the top-level Makefile.
#
#   make clients          the suite, against CLIENTS_AGENT if given, else a fresh debug build
#   make clients-prepare  fetch what it needs beforehand: the pinned OpenOCD (PyPI wheel, into
#                         the cache) and the Debian trixie root with openFPGALoader 0.13.1
#   make clients-prefetch the same in the background (make test starts it first); `clients`
#                         waits for it (both fetches hold a lock while they work)

# Debian packages the suite needs on the build host; `make deps` installs them. (Some are in
# other lists too: the suite names all it needs.)
CLIENTS_DEB_PACKAGES := openfpgaloader python3-pytest python3-pip unzip debootstrap
DEB_PACKAGES += $(CLIENTS_DEB_PACKAGES)

CLIENTS_AGENT ?=

.PHONY: clients clients-prepare clients-prefetch

# What the suite fetches or builds before it runs (each step is cached and locked).
CLIENTS_PREPARE := tests/clients/fetch-openocd.sh >/dev/null && \
	tests/distros/debian-root.sh trixie openfpgaloader >/dev/null

clients-prepare:
	@$(CLIENTS_PREPARE)

clients-prefetch: deps
	@mkdir -p target
	@echo "clients-prefetch: fetching OpenOCD, building the trixie root in the background" \
		"(log: target/clients-prefetch.log)"
	@nohup sh -c '$(CLIENTS_PREPARE)' > target/clients-prefetch.log 2>&1 < /dev/null &

## clients: other XVC clients (openFPGALoader, OpenOCD) bit for bit
clients: clients-prepare
	@shellcheck tests/clients/run.sh tests/clients/fetch-openocd.sh
	@start=$$(date +%s); \
	CARGO=$(CARGO_SHARED) $(if $(CLIENTS_AGENT),XVC_AGENT=$(CLIENTS_AGENT)) tests/clients/run.sh && \
	echo "clients: conformance suite passed in $$(( $$(date +%s) - start )) s"
