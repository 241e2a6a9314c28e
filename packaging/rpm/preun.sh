# %preun of xvc-agent ($1: 0 on removal, 1 on upgrade).
# On removal, disable and stop the service while its files are still there.

if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl --no-reload disable xvc-agent.service >/dev/null 2>&1 || :
    if [ -d /run/systemd/system ]; then
        systemctl stop xvc-agent.service >/dev/null 2>&1 || :
    fi
fi

exit 0
