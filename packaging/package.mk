# Packages: .deb (cargo-deb) and .rpm (cargo-generate-rpm), man pages, shell completions, and
# the checks run on them. Included from the top-level Makefile.
#
#   make package        build target/debian/xvc-agent_*.deb and target/generate-rpm/xvc-agent-*.rpm
#   make package-check  build the packages, then lint them, verify the unit and the udev rules,
#                       and install the .deb into a throwaway Debian root
#   make man            regenerate man/*.8 and man/*.5 from their scdoc sources
#   make completions    generate the bash, zsh and fish completions into target/completions

CARGO ?= cargo

# Included near the top of the Makefile: keep its default goal.
package_saved_default_goal := $(.DEFAULT_GOAL)

# Debian packages the targets below need; `make deps` installs them.
PACKAGE_DEB_PACKAGES := scdoc lintian rpmlint rpm debootstrap shellcheck \
	binutils gzip libkmod2 man-db systemd
DEB_PACKAGES += $(PACKAGE_DEB_PACKAGES)

# Tools installed with cargo; `make package-deps` installs them when missing.
CARGO_DEB_VERSION          ?= 3.8.0
CARGO_GENERATE_RPM_VERSION ?= 0.21.1

PKG_SUITE   ?= bookworm
PKG_MIRROR  ?= http://deb.debian.org/debian
PKG_CACHE   := target/package-cache
PKG_SCRATCH := target/package-check
PKG_ROOT_TAR := $(PKG_CACHE)/$(PKG_SUITE)-minbase.tar

MAN_PAGES := man/xvc-agent.8 man/xvc-agent.yaml.5

.PHONY: package package-deps package-build package-check man man-check completions rpm-assets \
	package-lint package-unit-check package-udev-check package-install-check

# ---------------------------------------------------------------------------------------------
# Building

package-deps: deps
	@command -v cargo-deb >/dev/null || \
		$(CARGO) install --locked cargo-deb --version $(CARGO_DEB_VERSION)
	@command -v cargo-generate-rpm >/dev/null || \
		$(CARGO) install --locked cargo-generate-rpm --version $(CARGO_GENERATE_RPM_VERSION)

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

package-build:
	$(CARGO) build --release --locked --bin xvc-agent

completions: package-build
	@mkdir -p target/completions
	# clap_complete 4.6 spells the states of a hyphenated command two ways in its bash script
	# (xvc__agent__subcmd__run in the loop, xvc__subcmd__agent__subcmd__run in the case arms:
	# clap issue 6421), so no subcommand option completes; use the loop's spelling throughout.
	target/release/xvc-agent completions bash | sed 's/xvc__subcmd__agent/xvc__agent/g' \
		> target/completions/xvc-agent.bash
	target/release/xvc-agent completions zsh > target/completions/_xvc-agent
	target/release/xvc-agent completions fish > target/completions/xvc-agent.fish

# The rpm tool packs files as they are: give it a stripped binary and gzipped pages.
rpm-assets: package-build
	@mkdir -p target/rpm-assets
	strip --strip-unneeded -o target/rpm-assets/xvc-agent target/release/xvc-agent
	for page in $(MAN_PAGES); do gzip -9n < $$page > target/rpm-assets/$$(basename $$page).gz; done

package: package-deps man-check completions rpm-assets
	rm -f target/debian/xvc-agent_*.deb target/generate-rpm/xvc-agent-*.rpm
	$(CARGO) deb --no-build --strip --locked
	$(CARGO) generate-rpm
	@ls -l target/debian/xvc-agent_*.deb target/generate-rpm/xvc-agent-*.rpm

# ---------------------------------------------------------------------------------------------
# Checking

package-check: package
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory package-lint package-unit-check package-udev-check \
		package-install-check && \
	echo "package-check: all checks passed ($$(( $$(date +%s) - start )) s after the build)"

package-lint:
	shellcheck -s sh packaging/deb/preinst packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm \
		packaging/rpm/pre.sh packaging/rpm/post.sh packaging/rpm/preun.sh packaging/rpm/postun.sh packaging/install-check.sh
	bash -n target/completions/xvc-agent.bash
	@words=$$(bash -c '. target/completions/xvc-agent.bash; COMP_WORDS=(xvc-agent run --con); \
		COMP_CWORD=2; _xvc__agent xvc-agent --con run; echo "$${COMPREPLY[*]}"'); \
	case " $$words " in *" --config "*) ;; *) \
		echo "bash completion of 'xvc-agent run --con' gives '$$words'"; exit 1;; esac; \
	echo "bash completion: completes subcommand options"
	lintian --fail-on error --info --display-level '>=warning' target/debian/xvc-agent_*.deb
	rpmlint --rpmlintrc packaging/rpmlintrc target/generate-rpm/xvc-agent-*.rpm

# systemd-analyze verify on the unit as the .deb installs it, in a Debian root (the cached
# debootstrap tree) with the package's files unpacked over it, so that ExecStart=, the units
# it refers to and the man pages of Documentation= all resolve. Any output fails the check.
package-unit-check: $(PKG_ROOT_TAR)
	@$(SUDO) rm -rf $(PKG_SCRATCH)/unit && mkdir -p $(PKG_SCRATCH)/unit/root
	$(SUDO) tar -C $(PKG_SCRATCH)/unit/root -xf $(PKG_ROOT_TAR)
	dpkg-deb -x target/debian/xvc-agent_*.deb $(PKG_SCRATCH)/unit/root
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
# installed) into the cache and run its udevadm. Group names are not resolved: the build host
# has no xvc-agent group.
UDEVADM := $(PKG_CACHE)/udev/bin/udevadm
$(UDEVADM):
	@rm -rf $(PKG_CACHE)/apt $(PKG_CACHE)/udev
	@mkdir -p $(PKG_CACHE)/apt/lists/partial $(PKG_CACHE)/apt/archives/partial
	echo "deb $(PKG_MIRROR) $(PKG_SUITE)-backports main" > $(PKG_CACHE)/apt/sources.list
	apt-get -q -o Dir::Etc::sourcelist=$$PWD/$(PKG_CACHE)/apt/sources.list \
		-o Dir::Etc::sourceparts=- -o Dir::State::Lists=$$PWD/$(PKG_CACHE)/apt/lists \
		-o Dir::Cache::archives=$$PWD/$(PKG_CACHE)/apt/archives \
		-o APT::Get::List-Cleanup=0 update
	cd $(PKG_CACHE)/apt && apt-get -q -o Dir::Etc::sourcelist=$$PWD/sources.list \
		-o Dir::Etc::sourceparts=- -o Dir::State::Lists=$$PWD/lists \
		-o Dir::Cache::archives=$$PWD/archives -o APT::Sandbox::User=root \
		download udev/$(PKG_SUITE)-backports
	dpkg-deb -x $(PKG_CACHE)/apt/udev_*.deb $(PKG_CACHE)/udev
	@$(UDEVADM) --version

package-udev-check: $(UDEVADM)
	$(UDEVADM) verify --resolve-names=never udev-rules/70-xvc-agent.rules

# Install the .deb into a throwaway Debian root (debootstrap minbase, cached as a tarball;
# root privileges, through sudo when not root) with dpkg run under chroot: no systemd is running there, so the maintainer scripts take
# their offline paths. Checks install, reinstall (upgrade path), remove and purge.
$(PKG_ROOT_TAR):
	@$(SUDO) rm -rf $(PKG_CACHE)/root.tmp && mkdir -p $(PKG_CACHE)
	$(SUDO) debootstrap --variant=minbase --include=libusb-1.0-0,systemd,udev,procps $(PKG_SUITE) \
		$(PKG_CACHE)/root.tmp $(PKG_MIRROR)
	$(SUDO) rm -rf $(PKG_CACHE)/root.tmp/var/cache/apt/archives/*.deb $(PKG_CACHE)/root.tmp/var/lib/apt/lists/*
	$(SUDO) tar -C $(PKG_CACHE)/root.tmp -cf $@ .
	$(SUDO) rm -rf $(PKG_CACHE)/root.tmp

package-install-check: $(PKG_ROOT_TAR)
	$(SUDO) packaging/install-check.sh $(PKG_ROOT_TAR) target/debian/xvc-agent_*.deb \
		target/generate-rpm/xvc-agent-*.rpm

.DEFAULT_GOAL := $(package_saved_default_goal)
