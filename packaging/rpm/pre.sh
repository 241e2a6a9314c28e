# %pre of xvc-agent: create the service user and group before the files are unpacked, so
# that udevd never loads 70-xvc-agent.rules while the group it names is missing (it would
# ignore GROUP= and, with the files unchanged, not look again on a reload). The sysusers
# line is the one in /usr/lib/sysusers.d/xvc-agent.conf; %post applies the file again.
if command -v systemd-sysusers >/dev/null 2>&1; then
    printf '%s\n' 'u xvc-agent - "Xilinx Virtual Cable agent" /var/lib/xvc-agent /usr/sbin/nologin' |
        systemd-sysusers --replace=/usr/lib/sysusers.d/xvc-agent.conf - || :
elif ! getent passwd xvc-agent >/dev/null 2>&1; then
    group=--user-group
    if getent group xvc-agent >/dev/null 2>&1; then group=--gid=xvc-agent; fi
    useradd --system "$group" --home-dir /var/lib/xvc-agent --no-create-home \
        --shell /usr/sbin/nologin --comment "Xilinx Virtual Cable agent" xvc-agent || :
fi
