# %postun of xvc-agent ($1: 0 on removal, 1 or more on upgrade).
# On upgrade, restart a running service with the new version. On removal, give the cables
# plugged in their default permissions back. The configuration (saved as .rpmsave when it was
# changed), the port leases in /var/lib/xvc-agent and the xvc-agent user are kept.

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart xvc-agent.service >/dev/null 2>&1 || :
    fi
fi

if [ "$1" -eq 0 ] && command -v udevadm >/dev/null 2>&1 && [ -S /run/udev/control ]; then
    udevadm control --reload || :
    # The reload is a message to udevd, not a wait: without this reply the events
    # triggered next can be handled first, with the old rules (systemd >= 241).
    udevadm control --ping >/dev/null 2>&1 || :
    for node in /dev/bus/usb/*/*; do
        [ -c "$node" ] || continue
        if [ "$(stat -c %G "$node" 2>/dev/null)" = xvc-agent ]; then
            # udevd only sets a node's group when a rule names one: with ours gone it would
            # leave the group, and members would keep access. Give it back to root first.
            chgrp root "$node" || :
            udevadm trigger --action=change "$node" || :
        fi
    done
fi

exit 0
