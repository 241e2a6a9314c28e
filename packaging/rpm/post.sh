# %post of xvc-agent ($1: 1 on installation, 2 or more on upgrade).
# Creates the service user, applies the udev rules to cables already plugged in, enables and
# starts the service on installation. Every call that needs a running systemd or udevd is
# skipped without one (chroot, container, image build); the service then starts at boot.

RULES=/usr/lib/udev/rules.d/70-xvc-agent.rules

if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers /usr/lib/sysusers.d/xvc-agent.conf || :
elif ! getent passwd xvc-agent >/dev/null 2>&1; then
    group=--user-group
    if getent group xvc-agent >/dev/null 2>&1; then group=--gid=xvc-agent; fi
    useradd --system "$group" --home-dir /var/lib/xvc-agent --no-create-home \
        --shell /usr/sbin/nologin --comment "Xilinx Virtual Cable agent" xvc-agent || :
fi

if command -v udevadm >/dev/null 2>&1 && [ -S /run/udev/control ]; then
    udevadm control --reload || :
    # The reload is a message to udevd, not a wait: without this reply the events
    # triggered next can be handled first, with the old rules (systemd >= 241).
    udevadm control --ping >/dev/null 2>&1 || :
    sed -n 's/.*ATTR{idVendor}=="\([0-9a-fA-F]*\)".*ATTR{idProduct}=="\([0-9a-fA-F]*\)".*/\1 \2/p' \
        "$RULES" | sort -u | while read -r vid pid; do
        udevadm trigger --action=change --subsystem-match=usb \
            --attr-match=idVendor="$vid" --attr-match=idProduct="$pid" || :
    done
fi

if command -v systemctl >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
    fi
    if [ "$1" -eq 1 ]; then
        # Enabling only writes symlinks: it works without a running systemd too.
        systemctl --no-reload enable xvc-agent.service >/dev/null 2>&1 || :
        if [ -d /run/systemd/system ]; then
            systemctl start xvc-agent.service || :
        fi
    fi
fi

exit 0
