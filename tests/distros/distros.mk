# The packaged binary on the distributions labs run: `make distro-check` installs the host
# architecture's .deb into a Debian 11 (bullseye, glibc 2.31) and a Debian 13 (trixie,
# glibc 2.41) root and checks that the installed agent serves a simulated cable to
# openFPGALoader (tests/distros/simulate-check.sh). The roots are debootstrapped once and
# cached in ${XDG_CACHE_HOME:-~/.cache}/xvc-agent/roots/. Included from the top-level Makefile.

DISTRO_SUITES ?= bullseye trixie
# What the package needs beyond minbase (its Depends).
DISTRO_ROOT_PACKAGES := libusb-1.0-0 libudev1 procps

.PHONY: distro-check distro-check-only

## distro-check: the packages on other distributions (Debian roots)
distro-check: package
	@$(MAKE) --no-print-directory distro-check-only

# The check on the package already built.
distro-check-only:
	@start=$$(date +%s); \
	DISTRO_ROOT_PACKAGES="$(DISTRO_ROOT_PACKAGES)" tests/distros/simulate-check.sh $(PKG_DEB) $(DISTRO_SUITES) && \
	echo "distro-check: passed on $(DISTRO_SUITES) in $$(( $$(date +%s) - start )) s"
