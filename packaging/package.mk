# Packages: .deb (cargo-deb) and .rpm (cargo-generate-rpm) for amd64 and arm64, man pages,
# shell completions, and the checks run on them. Included from the top-level Makefile.
#
#   make package             build the packages of one architecture (ARCH=amd64 or arm64, the
#                            host's by default) into target/packages/ARCH/
#   make packages            the packages of every architecture (amd64 and arm64)
#   make package-check       build the packages, then lint them (both architectures), check
#                            their glibc floor, verify the unit and the udev rules, and install
#                            the .deb into a throwaway Debian root
#   make package-check-only  the same checks on the packages already built
#   make man                 regenerate man/*.8 and man/*.5 from their scdoc sources
#   make completions         generate the bash, zsh and fish completions into target/completions
#
# Binaries are built with cargo-zigbuild against glibc $(GLIBC_FLOOR) (zig links against that
# glibc's symbol versions), so one package serves every distribution from RHEL 8, Debian 11
# and Ubuntu 20.04 on; libudev and libusb are the system's, linked dynamically (for arm64,
# the multiarch -dev packages).

CARGO ?= cargo


# ---------------------------------------------------------------------------------------------
# Architectures

HOST_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
ARCH ?= $(HOST_ARCH)
PACKAGE_ARCHES := amd64 arm64
GLIBC_FLOOR := 2.28
rust_triple_amd64 := x86_64-unknown-linux-gnu
rust_triple_arm64 := aarch64-unknown-linux-gnu
gnu_triple_amd64 := x86_64-linux-gnu
gnu_triple_arm64 := aarch64-linux-gnu
rpm_arch_amd64 := x86_64
rpm_arch_arm64 := aarch64
TRIPLE := $(rust_triple_$(ARCH))
$(if $(TRIPLE),,$(error ARCH=$(ARCH): the packages are built for $(PACKAGE_ARCHES)))
# The packaged binary of an architecture, and the one this host runs (for the completions
# and the tests that run the packaged binary here).
pkg_bin = target/$(rust_triple_$(1))/release/xvc-agent
PKG_BIN := $(call pkg_bin,$(ARCH))
HOST_PKG_BIN := $(call pkg_bin,$(HOST_ARCH))
pkg_dir = target/packages/$(1)
PKG_DIR := $(call pkg_dir,$(ARCH))
PKG_DEB = $(wildcard $(PKG_DIR)/xvc-agent_*.deb)
PKG_RPM = $(wildcard $(PKG_DIR)/xvc-agent-*.rpm)

# Debian packages the targets below need; `make deps` installs them. The arm64 build links
# against the arm64 multiarch libudev and libusb (`make deps` adds the architecture to dpkg).
PACKAGE_DEB_PACKAGES := scdoc lintian rpmlint rpm debootstrap shellcheck \
	binutils gzip libkmod2 man-db systemd python3-pip \
	binutils-aarch64-linux-gnu libudev-dev:arm64 libusb-1.0-0-dev:arm64
DEB_PACKAGES += $(PACKAGE_DEB_PACKAGES)

# Tools installed by `make package-deps`, at these versions: cargo-deb, cargo-generate-rpm
# (cargo), cargo-zigbuild and zig (PyPI's cargo-zigbuild and ziglang wheels, prebuilt, into
# the cache outside the clone), and the Rust standard library of each target (rustup).
CARGO_DEB_VERSION          ?= 3.8.0
CARGO_GENERATE_RPM_VERSION ?= 0.21.1
CARGO_ZIGBUILD_VERSION     ?= 0.24.1
ZIG_VERSION                ?= 0.14.1
ZIG_HOME  := $(XVC_CACHE)/toolchain/ziglang-$(ZIG_VERSION)
ZIG       := $(ZIG_HOME)/ziglang/zig
ZIGBUILD_HOME := $(XVC_CACHE)/toolchain/cargo-zigbuild-$(CARGO_ZIGBUILD_VERSION)
ZIGBUILD      := $(ZIGBUILD_HOME)/bin/cargo-zigbuild

PKG_SUITE   ?= bookworm
PKG_SCRATCH := target/package-check
# The throwaway Debian root of the unit and install checks: minbase and what the unit refers
# to, cached outside the clone by tests/distros/debian-root.sh (which prints its tarball).
PKG_ROOT_PACKAGES := libusb-1.0-0 systemd udev procps
PKG_ROOT_TAR = $(shell $(SUDO) tests/distros/debian-root.sh $(PKG_SUITE) $(PKG_ROOT_PACKAGES))
# The Debian archive apt uses on this machine (never written into the project's files).
PKG_MIRROR  ?= $(shell tests/distros/apt-mirror.sh)

MAN_PAGES := man/xvc-agent.8 man/xvc-agent.yaml.5

.PHONY: package packages package-deps package-build package-arch package-foreign-arch \
	package-check package-check-only man man-check completions package-assets package-lint package-lint-arch \
	package-glibc-check package-unit-check package-udev-check package-install-check package-root

# ---------------------------------------------------------------------------------------------
# Building

# dpkg must know the arm64 architecture before `make deps` can install its -dev packages.
deps: package-foreign-arch
package-foreign-arch:
	@dpkg --print-foreign-architectures | grep -qx arm64 || { \
		echo "dpkg --add-architecture arm64 (for the arm64 build's libudev and libusb)"; \
		$(SUDO) dpkg --add-architecture arm64 && $(SUDO) apt-get update -qq; }

package-deps: deps
	@installed() { $$1 --version 2>/dev/null | grep -q " $$2\$$"; }; \
	installed cargo-deb $(CARGO_DEB_VERSION) || \
		$(CARGO) install --locked cargo-deb --version $(CARGO_DEB_VERSION); \
	installed cargo-generate-rpm $(CARGO_GENERATE_RPM_VERSION) || \
		$(CARGO) install --locked cargo-generate-rpm --version $(CARGO_GENERATE_RPM_VERSION)
	@[ -x $(ZIGBUILD) ] || /usr/bin/python3 -m pip install -q --disable-pip-version-check \
		--no-warn-script-location --no-deps --target $(ZIGBUILD_HOME) \
		cargo-zigbuild==$(CARGO_ZIGBUILD_VERSION)
	@$(ZIGBUILD) --version | grep -qx 'cargo-zigbuild $(CARGO_ZIGBUILD_VERSION)' || { \
		echo "$(ZIGBUILD) is not cargo-zigbuild $(CARGO_ZIGBUILD_VERSION)"; exit 1; }
	@[ -x $(ZIG) ] || /usr/bin/python3 -m pip install -q --disable-pip-version-check \
		--no-warn-script-location --target $(ZIG_HOME) ziglang==$(ZIG_VERSION)
	@$(ZIG) version | grep -qx '$(ZIG_VERSION)' || { echo "$(ZIG) is not zig $(ZIG_VERSION)"; exit 1; }
	@installed_targets=$$(rustup target list --installed); for a in $(PACKAGE_ARCHES); do \
		case $$a in amd64) t=$(rust_triple_amd64);; arm64) t=$(rust_triple_arm64);; esac; \
		echo "$$installed_targets" | grep -qx $$t || rustup target add $$t; done

## man: regenerate the man pages from their scdoc sources
man: $(MAN_PAGES)

man/%: man/%.scd
	scdoc < $< > $@

# The committed pages must be what scdoc makes of their sources (the date line aside).
man-check:
	@tmp=$$(mktemp); for page in $(MAN_PAGES); do \
		scdoc < $$page.scd | grep -v '^\.TH' > $$tmp; \
		if ! grep -v '^\.TH' $$page | cmp -s - $$tmp; then \
			echo "$$page is out of date with $$page.scd: run 'make man' and commit"; \
			rm -f $$tmp; exit 1; \
		fi; \
	done; rm -f $$tmp; echo "man pages: up to date"

# One architecture's binary, linked against glibc $(GLIBC_FLOOR). pkg-config looks only at
# the target architecture's libraries.
package-build:
	@start=$$(date +%s); \
	CARGO_ZIGBUILD_ZIG_PATH=$(ZIG) PKG_CONFIG_ALLOW_CROSS=1 XVC_CARGO=$(ZIGBUILD) \
	PKG_CONFIG_LIBDIR=/usr/lib/$(gnu_triple_$(ARCH))/pkgconfig:/usr/share/pkgconfig \
		$(CARGO_SHARED) zigbuild --release --locked --bin xvc-agent --target $(TRIPLE).$(GLIBC_FLOOR) && \
	echo "package-build: $(ARCH) binary ready in $$(( $$(date +%s) - start )) s"

# The completions come from the command line, whatever the architecture: the host's binary
# writes them.
## completions: shell completions into target/completions
completions:
	@[ -x $(HOST_PKG_BIN) ] || $(MAKE) --no-print-directory package-build ARCH=$(HOST_ARCH)
	@mkdir -p target/completions
	# clap_complete 4.6 spells the states of a hyphenated command two ways in its bash script
	# (xvc__agent__subcmd__run in the loop, xvc__subcmd__agent__subcmd__run in the case arms:
	# clap issue 6421), so no subcommand option completes; use the loop's spelling throughout.
	$(HOST_PKG_BIN) completions bash | sed 's/xvc__subcmd__agent/xvc__agent/g' \
		> target/completions/xvc-agent.bash
	$(HOST_PKG_BIN) completions zsh > target/completions/_xvc-agent
	$(HOST_PKG_BIN) completions fish > target/completions/xvc-agent.fish

# Both package formats take the same stripped binary; the rpm tool also packs the pages as
# they are, so it gets gzipped copies. Both tools look for target/release/... under
# target/TRIPLE/release/ when given --target.
PKG_ASSETS := target/$(TRIPLE)/release/package-assets
package-assets:
	@mkdir -p $(PKG_ASSETS)
	$(gnu_triple_$(ARCH))-strip --strip-unneeded -o $(PKG_ASSETS)/xvc-agent $(PKG_BIN)
	for page in $(MAN_PAGES); do gzip -9n < $$page > $(PKG_ASSETS)/$$(basename $$page).gz; done

# The packages of one architecture (ARCH), from the binary package-build made.
package-arch: package-build package-assets
	@rm -rf $(PKG_DIR) && mkdir -p $(PKG_DIR)
	$(CARGO) deb --no-build --no-strip --locked --target $(TRIPLE) --output $(PKG_DIR)/
	$(CARGO) generate-rpm --target $(TRIPLE) --output $(PKG_DIR)/
	@ls -l $(PKG_DIR)/

## package: the .deb and .rpm of one architecture (ARCH=amd64|arm64)
package: package-deps man-check completions
	@$(MAKE) --no-print-directory package-arch ARCH=$(ARCH)

## packages: the packages of every architecture
packages: package-deps man-check completions
	@for a in $(PACKAGE_ARCHES); do $(MAKE) --no-print-directory package-arch ARCH=$$a || exit 1; done

# ---------------------------------------------------------------------------------------------
# Checking

## package-check: build the packages, then lint, glibc floor, unit, udev rules, install
package-check: packages
	@$(MAKE) --no-print-directory package-check-only

## package-check-only: the package checks on the packages already built
package-check-only:
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory package-lint package-glibc-check package-same-contents \
		package-unit-check package-udev-check package-install-check && \
	echo "package-check: all checks passed ($$(( $$(date +%s) - start )) s after the build)"

package-lint:
	shellcheck -s sh packaging/deb/preinst packaging/deb/postinst packaging/deb/prerm \
		packaging/deb/postrm packaging/rpm/pre.sh packaging/rpm/post.sh packaging/rpm/preun.sh \
		packaging/rpm/postun.sh packaging/install-check.sh packaging/glibc-floor.sh \
		packaging/same-contents.sh tests/distros/apt-mirror.sh tests/distros/debian-root.sh \
		tests/vm/foreign-chroot.sh .cargo/shared-build.sh
	shellcheck tests/distros/simulate-check.sh
	bash -n target/completions/xvc-agent.bash
	@words=$$(bash -c '. target/completions/xvc-agent.bash; COMP_WORDS=(xvc-agent run --con); \
		COMP_CWORD=2; _xvc__agent xvc-agent --con run; echo "$${COMPREPLY[*]}"'); \
	case " $$words " in *" --config "*) ;; *) \
		echo "bash completion of 'xvc-agent run --con' gives '$$words'"; exit 1;; esac; \
	echo "bash completion: completes subcommand options"
	@for a in $(PACKAGE_ARCHES); do $(MAKE) --no-print-directory package-lint-arch ARCH=$$a || exit 1; done

package-lint-arch:
	@[ -n "$(PKG_DEB)" ] && [ -n "$(PKG_RPM)" ] || { echo "no $(ARCH) packages in $(PKG_DIR): run 'make package ARCH=$(ARCH)'"; exit 1; }
	lintian --fail-on error --info --display-level '>=warning' $(PKG_DEB)
	rpmlint --rpmlintrc packaging/rpmlintrc $(PKG_RPM)

# Every packaged binary runs on glibc $(GLIBC_FLOOR) (no newer GLIBC_ symbol version) and
# needs no shared library beyond glibc's, libgcc's, libudev and libusb. The check is first
# shown to reject a binary of this host (built against a newer glibc).
package-glibc-check:
	@if packaging/glibc-floor.sh $(GLIBC_FLOOR) /bin/ls >/dev/null 2>&1; then \
		echo "glibc-floor.sh accepts /bin/ls (needs $$(objdump -T /bin/ls | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n1)): the check cannot fail"; exit 1; fi
	@for a in $(PACKAGE_ARCHES); do \
		dir=target/packages/$$a; \
		deb=$$(ls $$dir/xvc-agent_*.deb) && rpm=$$(ls $$dir/xvc-agent-*.rpm) || exit 1; \
		packaging/glibc-floor.sh $(GLIBC_FLOOR) --deb $$deb --rpm $$rpm || exit 1; \
	done

# The packages of every architecture carry the same files, modes and maintainer scripts.
package-same-contents:
	packaging/same-contents.sh $(foreach a,$(PACKAGE_ARCHES),$(call pkg_dir,$(a)))

# systemd-analyze verify on the unit as the .deb installs it, in a Debian root (the cached
# debootstrap tree) with the package's files unpacked over it, so that ExecStart=, the units
# it refers to and the man pages of Documentation= all resolve. Any output fails the check.
package-unit-check: package-root
	@$(SUDO) rm -rf $(PKG_SCRATCH)/unit && mkdir -p $(PKG_SCRATCH)/unit/root
	$(SUDO) tar -C $(PKG_SCRATCH)/unit/root -xf $(PKG_ROOT_TAR)
	dpkg-deb -x $(PKG_DEB) $(PKG_SCRATCH)/unit/root
	@root=$$PWD/$(PKG_SCRATCH)/unit/root; \
	MANPATH=$$root/usr/share/man systemd-analyze verify --root=$$root --man=yes \
		/usr/lib/systemd/system/xvc-agent.service > $(PKG_SCRATCH)/unit/verify.log 2>&1; \
	status=$$?; cat $(PKG_SCRATCH)/unit/verify.log; \
	if [ $$status -ne 0 ] || [ -s $(PKG_SCRATCH)/unit/verify.log ]; then \
		echo "systemd-analyze verify: failed"; exit 1; fi; \
	echo "systemd-analyze verify: clean"
	@$(SUDO) rm -rf $(PKG_SCRATCH)/unit/root
	@systemd-analyze security --offline=yes --threshold=20 --no-pager \
		packaging/xvc-agent.service > $(PKG_SCRATCH)/unit/security.log 2>&1; \
	status=$$?; grep -E '^✗|Overall exposure' $(PKG_SCRATCH)/unit/security.log; \
	if [ $$status -ne 0 ]; then echo "exposure above 2.0"; exit 1; fi

# udevadm verify needs systemd 254 or later: unpack the bookworm-backports udev package (not
# installed) into the cache outside the clone and run its udevadm. Group names are not
# resolved: the build host has no xvc-agent group.
UDEV_HOME := $(XVC_CACHE)/udevadm/$(PKG_SUITE)-backports
UDEVADM := $(UDEV_HOME)/bin/udevadm
$(UDEVADM):
	@work=$(UDEV_HOME).tmp$$$$; rm -rf $$work && \
	mkdir -p $$work/apt/lists/partial $$work/apt/archives/partial && \
	echo "deb $(PKG_MIRROR) $(PKG_SUITE)-backports main" > $$work/apt/sources.list && \
	apt-get -q -o Dir::Etc::sourcelist=$$work/apt/sources.list \
		-o Dir::Etc::sourceparts=- -o Dir::State::Lists=$$work/apt/lists \
		-o Dir::Cache::archives=$$work/apt/archives -o APT::Get::List-Cleanup=0 update && \
	(cd $$work/apt && apt-get -q -o Dir::Etc::sourcelist=$$work/apt/sources.list \
		-o Dir::Etc::sourceparts=- -o Dir::State::Lists=$$work/apt/lists \
		-o Dir::Cache::archives=$$work/apt/archives -o APT::Sandbox::User=root \
		download udev/$(PKG_SUITE)-backports) && \
	dpkg-deb -x $$work/apt/udev_*.deb $$work/udev && \
	rm -rf $(UDEV_HOME) && mv $$work/udev $(UDEV_HOME) && rm -rf $$work
	@$(UDEVADM) --version

package-udev-check: $(UDEVADM)
	$(UDEVADM) verify --resolve-names=never udev-rules/70-xvc-agent.rules

# Install the .deb into a throwaway Debian root (the cached debootstrap minbase tarball; root
# privileges, through sudo when not root) with dpkg run under chroot: no systemd is running
# there, so the maintainer scripts take their offline paths. Checks install, reinstall
# (upgrade path), remove and purge.
package-root:
	@$(SUDO) tests/distros/debian-root.sh $(PKG_SUITE) $(PKG_ROOT_PACKAGES) >/dev/null

package-install-check: package-root
	$(SUDO) packaging/install-check.sh $(PKG_ROOT_TAR) $(PKG_DEB) $(PKG_RPM)

