#!/bin/sh
# Installs the packages into a throwaway Debian root and checks what the maintainer scripts
# did, with no systemd or udevd running there (the same situation as an image build or a
# chroot): install, upgrade with a changed configuration, remove and purge of the .deb, then
# install and erase of the .rpm with rpm --root (its scriptlets run chrooted in the same root).
#
# usage: packaging/install-check.sh ROOT_TARBALL DEB [RPM]
# Must run as root (chroot). Leaves nothing behind but its scratch directory under target/.
set -eu

tarball=$1
deb=$2
rpm_pkg=${3:-}
scratch=${PKG_SCRATCH:-target/package-check}/root
failures=0

say() { printf '%s\n' "$*"; }
ok() { say "  ok: $*"; }
fail() {
    say "  FAIL: $*"
    failures=$((failures + 1))
}
check() { # check DESCRIPTION COMMAND...
    what=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi
}
in_root() { chroot "$root" "$@"; }

if [ "$(id -u)" != 0 ]; then
    say "install-check: needs root (chroot); skipped"
    exit 1
fi

rm -rf "$scratch"
mkdir -p "$scratch"
root=$(cd "$scratch" && pwd)
trap 'rm -rf "$root"' EXIT
tar -C "$root" -xf "$tarball"
if [ -e "$root/run/systemd/system" ]; then
    say "install-check: the root has /run/systemd/system; it must look like an offline system"
    exit 1
fi

# A second version of the same package, for the upgrade path.
repack=$root.repack
rm -rf "$repack"
dpkg-deb -R "$deb" "$repack"
version=$(sed -n 's/^Version: //p' "$repack/DEBIAN/control")
sed -i "s/^Version: .*/Version: ${version}+check1/" "$repack/DEBIAN/control"
dpkg-deb --root-owner-group -b "$repack" "$root/tmp/xvc-agent-next.deb" >/dev/null
rm -rf "$repack"
cp "$deb" "$root/tmp/xvc-agent.deb"

say "install-check: dpkg -i (first installation)"
if in_root dpkg -i /tmp/xvc-agent.deb > "$root.log" 2>&1; then ok "dpkg -i succeeds"; else
    cat "$root.log"
    fail "dpkg -i succeeds"
fi
check "system user xvc-agent with no login shell" \
    sh -c "chroot '$root' getent passwd xvc-agent | grep -q ':/usr/sbin/nologin\$'"
check "group xvc-agent" in_root getent group xvc-agent
check "binary runs (shared libraries resolved)" in_root /usr/bin/xvc-agent --version
if in_root /usr/bin/xvc-agent check-config --help >/dev/null 2>&1; then
    check "shipped configuration passes check-config" in_root /usr/bin/xvc-agent check-config
fi
check "service enabled (multi-user.target.wants link)" \
    test -L "$root/etc/systemd/system/multi-user.target.wants/xvc-agent.service"
check "config.yaml is a conffile" \
    sh -c "chroot '$root' dpkg-query -W -f='\${Conffiles}' xvc-agent | grep -q ' /etc/xvc-agent/config.yaml '"
for f in /usr/lib/systemd/system/xvc-agent.service /usr/lib/udev/rules.d/70-xvc-agent.rules \
    /usr/lib/sysusers.d/xvc-agent.conf /usr/share/man/man8/xvc-agent.8.gz \
    /usr/share/man/man5/xvc-agent.yaml.5.gz /usr/share/bash-completion/completions/xvc-agent \
    /usr/share/zsh/vendor-completions/_xvc-agent \
    /usr/share/fish/vendor_completions.d/xvc-agent.fish /usr/share/doc/xvc-agent/copyright \
    /usr/share/xvc-agent/xvc-agent-dashboard.json; do
    check "installs $f" test -f "$root$f"
done

say "install-check: upgrade keeps a changed configuration"
echo "# changed by the administrator" >> "$root/etc/xvc-agent/config.yaml"
if in_root dpkg -i /tmp/xvc-agent-next.deb > "$root.log" 2>&1; then ok "upgrade succeeds"; else
    cat "$root.log"
    fail "upgrade succeeds"
fi
check "changed config.yaml kept" grep -q "changed by the administrator" "$root/etc/xvc-agent/config.yaml"
check "still enabled after upgrade" \
    test -L "$root/etc/systemd/system/multi-user.target.wants/xvc-agent.service"

say "install-check: disabled by the administrator stays disabled across an upgrade"
in_root systemctl disable --quiet xvc-agent.service
in_root dpkg -i /tmp/xvc-agent.deb > "$root.log" 2>&1 || { cat "$root.log"; fail "reinstall"; }
check "not re-enabled" test ! -e "$root/etc/systemd/system/multi-user.target.wants/xvc-agent.service"
in_root systemctl enable --quiet xvc-agent.service

say "install-check: dpkg -r (remove)"
mkdir -p "$root/var/lib/xvc-agent"
echo '{}' > "$root/var/lib/xvc-agent/leases.json"
if in_root dpkg -r xvc-agent > "$root.log" 2>&1; then ok "dpkg -r succeeds"; else
    cat "$root.log"
    fail "dpkg -r succeeds"
fi
check "binary removed" test ! -e "$root/usr/bin/xvc-agent"
check "udev rules removed" test ! -e "$root/usr/lib/udev/rules.d/70-xvc-agent.rules"
check "configuration kept" test -f "$root/etc/xvc-agent/config.yaml"
check "leases kept" test -f "$root/var/lib/xvc-agent/leases.json"

say "install-check: dpkg -P (purge)"
if in_root dpkg -P xvc-agent > "$root.log" 2>&1; then ok "dpkg -P succeeds"; else
    cat "$root.log"
    fail "dpkg -P succeeds"
fi
check "configuration removed" test ! -e "$root/etc/xvc-agent/config.yaml"
check "leases removed" test ! -e "$root/var/lib/xvc-agent"
check "enablement links removed" \
    test ! -e "$root/etc/systemd/system/multi-user.target.wants/xvc-agent.service"
check "no mask left" test ! -L "$root/etc/systemd/system/xvc-agent.service"
check "user kept (system accounts are never deleted)" in_root getent passwd xvc-agent

if [ -n "$rpm_pkg" ]; then
    say "install-check: rpm -i / rpm -e in the same root (scriptlets chrooted, no systemd running)"
    in_root userdel xvc-agent >/dev/null 2>&1 || true
    in_root groupdel xvc-agent >/dev/null 2>&1 || true
    # Hide systemd-sysusers so that %post takes its useradd path (a system without systemd).
    mv "$root/usr/bin/systemd-sysusers" "$root/usr/bin/systemd-sysusers.hidden"
    if rpm --root "$root" --dbpath /var/lib/rpm --nodeps -i "$rpm_pkg" > "$root.log" 2>&1; then
        ok "rpm -i succeeds"
    else
        cat "$root.log"
        fail "rpm -i succeeds"
    fi
    if grep -qi "warning\|error" "$root.log"; then
        cat "$root.log"
        fail "rpm scriptlets ran quietly"
    fi
    mv "$root/usr/bin/systemd-sysusers.hidden" "$root/usr/bin/systemd-sysusers"
    check "rpm: system user created by useradd, with its group" \
        sh -c "chroot '$root' id -gn xvc-agent | grep -qx xvc-agent"
    check "rpm: service enabled" \
        test -L "$root/etc/systemd/system/multi-user.target.wants/xvc-agent.service"
    check "rpm: binary runs" in_root /usr/bin/xvc-agent --version
    check "rpm: config.yaml is %config(noreplace)" \
        sh -c "rpm --root '$root' --dbpath /var/lib/rpm -q --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' xvc-agent | grep -qx 'cn /etc/xvc-agent/config.yaml'"
    if rpm --root "$root" --dbpath /var/lib/rpm --nodeps -e xvc-agent > "$root.log" 2>&1; then
        ok "rpm -e succeeds"
    else
        cat "$root.log"
        fail "rpm -e succeeds"
    fi
    check "rpm: service disabled" \
        test ! -e "$root/etc/systemd/system/multi-user.target.wants/xvc-agent.service"
    check "rpm: binary removed" test ! -e "$root/usr/bin/xvc-agent"
fi

rm -f "$root.log"
if [ "$failures" -ne 0 ]; then
    say "install-check: $failures check(s) failed"
    exit 1
fi
say "install-check: all checks passed"
