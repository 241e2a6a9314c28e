# The lab: HTTP listener, status pages and DNS-SD. Included from the top-level Makefile.
#
#   make lab-http   the HTTP API, metrics and pages against a running agent (part of cargo test;
#                   the pages load in headless chromium, screenshot in target/tmp/status-page.png)
#   make lab-dnssd  DNS-SD between two hosts with their own dbus-daemon and avahi-daemon, run
#                   inside the VM lab's guest (tests/vm); avahi-daemon never runs on this machine

# Debian packages the lab tests need on the build host; `make deps` installs them.
LAB_DEB_PACKAGES := chromium python3-prometheus-client
DEB_PACKAGES += $(LAB_DEB_PACKAGES)

.PHONY: lab-http lab-dnssd

## lab-http: the HTTP API, metrics and pages (headless chromium)
lab-http:
	$(CARGO_SHARED) test --test it -- binary::http_api:: --nocapture

# tests/lab/dnssd-scenario.sh runs as root in the VM lab's guest (tests/vm/test_70_dnssd.py,
# also part of make vm-test).
## lab-dnssd: DNS-SD between two hosts, inside the VM guest
lab-dnssd: package
	ARCH=$(ARCH) tests/vm/run.sh -k dnssd
