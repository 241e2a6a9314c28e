#!/bin/sh
# DNS-SD between two hosts, run as root inside a QEMU guest (never on a build host: it starts
# avahi-daemon). The two "hosts" are network namespaces joined by a veth pair, each with its
# own dbus-daemon (a private system bus) and avahi-daemon:
#
#   lab-a (10.77.0.1)  agent --simulate 2, advertise: on
#   lab-b (10.77.0.2)  xvc-agent browse --json
#
# Checks: browse on lab-b lists both cables with host, port, serial and chain within 5 s; a
# cable that stops being served disappears; a held cable shows busy and a reserved one its
# owner and note; restarting lab-a's avahi-daemon re-registers; a
# second agent with the same cable names on lab-a gets distinct instance names.
# Needs: iproute2, dbus-daemon, avahi-daemon, the xvc-agent binary ($1, else $XVC_AGENT).
set -eu

AGENT=${1:-${XVC_AGENT:-/usr/bin/xvc-agent}}
WORK=$(mktemp -d /tmp/xvc-lab.XXXXXX)
PIDS=""
fails=0

say() { printf '%s\n' "lab-dnssd: $*"; }
ok() { say "ok: $*"; }
fail() { say "FAIL: $*"; fails=$((fails + 1)); }
now_ms() { date +%s%3N; }

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    ip netns del xvclab-a 2>/dev/null || true
    ip netns del xvclab-b 2>/dev/null || true
    [ "$fails" -eq 0 ] && rm -rf "$WORK"
}
trap cleanup EXIT

# The command prefix that runs in host $1 with its system bus. Used unquoted and without a
# function, so that `$(ns a) daemon &` leaves the daemon's own pid in $! (ip netns exec and
# env exec it).
ns() { printf 'ip netns exec xvclab-%s env DBUS_SYSTEM_BUS_ADDRESS=unix:path=%s/%s/bus' "$1" "$WORK" "$1"; }
in_ns() { n=$1; shift; $(ns "$n") "$@"; }

# ---- two hosts
ip netns add xvclab-a
ip netns add xvclab-b
ip link add xvc-va type veth peer name xvc-vb
ip link set xvc-va netns xvclab-a
ip link set xvc-vb netns xvclab-b
for side in a:1:va b:2:vb; do
    ns=${side%%:*}; rest=${side#*:}; n=${rest%%:*}; dev=xvc-${rest#*:}
    ip -n "xvclab-$ns" link set lo up
    ip -n "xvclab-$ns" addr add "10.77.0.$n/24" dev "$dev"
    ip -n "xvclab-$ns" link set "$dev" multicast on up
    mkdir -p "$WORK/$ns"
    cat > "$WORK/$ns/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$WORK/$ns/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
CONF
    cat > "$WORK/$ns/avahi.conf" <<CONF
[server]
host-name=lab-$ns
use-ipv4=yes
use-ipv6=no
allow-interfaces=$dev
enable-dbus=yes
ratelimit-interval-usec=0
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
CONF
done

start_bus() {
    $(ns "$1") dbus-daemon --config-file="$WORK/$1/bus.conf" --nofork --nopidfile \
        > "$WORK/$1/bus.log" 2>&1 &
    PIDS="$PIDS $!"
    i=0; while [ ! -S "$WORK/$1/bus" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
}

# avahi-daemon keeps its pid file in /run/avahi-daemon: give each instance its own (ip netns
# exec runs in a mount namespace of its own).
start_avahi() {
    ns=$1
    $(ns "$ns") sh -c "mkdir -p /run/avahi-daemon && mount -t tmpfs tmpfs /run/avahi-daemon && exec avahi-daemon -f '$WORK/$ns/avahi.conf' --no-drop-root --no-chroot --no-rlimits" \
        > "$WORK/$ns/avahi.log" 2>&1 &
    eval "AVAHI_$ns=$!"
    PIDS="$PIDS $!"
    i=0
    until in_ns "$ns" dbus-send --system --print-reply --dest=org.freedesktop.Avahi / \
        org.freedesktop.Avahi.Server.GetState 2>/dev/null | grep -q 'int32 2'; do
        i=$((i + 1)); [ $i -lt 100 ] || { fail "avahi-daemon on lab-$ns running"; cat "$WORK/$ns/avahi.log"; exit 1; }
        sleep 0.1
    done
}

start_agent() { # name base-port
    dir=$WORK/a/$1; mkdir -p "$dir"
    printf 'advertise: on\n%s' "${3:-}" > "$dir/config.yaml"
    $(ns a) "$AGENT" run --simulate 2 --base-port "$2" --config "$dir/config.yaml" \
        --state-dir "$dir/state" --control-socket "$dir/control.sock" --log stderr \
        > "$dir/agent.log" 2>&1 &
    eval "AGENT_$1=$!"
    PIDS="$PIDS $!"
}

browse() { in_ns b "$AGENT" browse --json --timeout 2; }

# count JSON objects in browse output matching host, port, serial and chain
listed() { # host port serial
    browse > "$WORK/browse.json" 2> "$WORK/browse.err" || return 1
    awk -v host="$1" -v port="$2" -v serial="$3" '
        /"host":/    { h = ($0 ~ "\"" host "\"") }
        /"port":/    { p = ($0 ~ ": " port ",") }
        /"serial":/  { s = ($0 ~ "\"" serial "\"") }
        /"xc7a35t"/  { c = 1 }
        /^    }/     { if (h && p && s && c) n++; h = p = s = c = 0 }
        END { exit n >= 1 ? 0 : 1 }' "$WORK/browse.json"
}

instances() { grep -c '"instance":' "$WORK/browse.json" || true; }

wait_until() { # seconds command...
    limit=$1; shift
    deadline=$(( $(now_ms) + limit * 1000 ))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        if "$@"; then return 0; fi
    done
    return 1
}

both_listed() { listed lab-a.local 2542 SIM000001 && listed lab-a.local 2543 SIM000002; }
only_first() { listed lab-a.local 2542 SIM000001 && [ "$(instances)" -eq 1 ]; }
four_distinct() {
    browse > "$WORK/browse.json" 2>/dev/null || return 1
    [ "$(grep '"instance":' "$WORK/browse.json" | sort -u | wc -l)" -eq 4 ]
}

start_bus a; start_bus b
start_avahi a; start_avahi b

# ---- both cables within 5 s of being served
start_agent one 2542
i=0; until grep -q "serving on .*:2543" "$WORK/a/one/agent.log"; do
    i=$((i + 1)); [ $i -lt 200 ] || { fail "agent serving"; cat "$WORK/a/one/agent.log"; exit 1; }
    sleep 0.05
done
t0=$(now_ms)
if wait_until 5 both_listed; then
    ok "browse on lab-b lists both cables with host, port, serial and chain"
    say "figure: served -> listed in browse on the other host: $(( $(now_ms) - t0 )) ms"
else
    fail "both cables listed within 5 s"; cat "$WORK/browse.json" "$WORK/browse.err" "$WORK/a/one/agent.log"
fi

# ---- a cable that stops being served disappears
printf 'advertise: on\nmax_cables: 1\n' > "$WORK/a/one/config.yaml"
eval "kill -HUP \$AGENT_one"
t0=$(now_ms)
if wait_until 10 only_first; then
    ok "a cable no longer served disappears ($(( $(now_ms) - t0 )) ms)"
else
    fail "cable 2 withdrawn"; cat "$WORK/browse.json"
fi
printf 'advertise: on\n' > "$WORK/a/one/config.yaml"
eval "kill -HUP \$AGENT_one"
wait_until 10 both_listed || fail "cable 2 back after the reload"

# ---- a client holding a cable shows as busy (the TXT record is updated in place)
$(ns a) python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', 2542))
s.sendall(b'getinfo:'); s.recv(64); time.sleep(60)" > /dev/null 2>&1 &
HOLDER=$!
PIDS="$PIDS $HOLDER"
busy_listed() {
    browse > "$WORK/browse.json" 2>/dev/null || return 1
    awk '/"port": 2542,/ { p = 1 } /"state": "busy"/ { b = 1 } /^    }/ { if (p && b) n++; p = b = 0 }
         END { exit n ? 0 : 1 }' "$WORK/browse.json"
}
t0=$(now_ms)
if wait_until 10 busy_listed; then
    ok "a held cable is listed as busy ($(( $(now_ms) - t0 )) ms)"
else
    fail "busy state in browse"; cat "$WORK/browse.json"
fi

# ---- a reservation made on lab-a shows in browse on lab-b (owner and note in the TXT record)
"$AGENT" reserve SIM000002 --for 1h --from 10.77.0.2 --note "vm scenario" \
    --socket "$WORK/a/one/control.sock" || fail "reserve on lab-a"
reserved_listed() {
    browse > "$WORK/browse.json" 2>/dev/null || return 1
    awk '/"port": 2543,/ { p = 1 } /"reserved_by": "root"/ { r = 1 }
         /"reserved_note": "vm scenario"/ { m = 1 }
         /^    }/ { if (p && r && m) n++; p = r = m = 0 }
         END { exit n ? 0 : 1 }' "$WORK/browse.json"
}
t0=$(now_ms)
if wait_until 10 reserved_listed; then
    ok "a reserved cable is listed with its owner and note ($(( $(now_ms) - t0 )) ms)"
else
    fail "reservation in browse"; cat "$WORK/browse.json"
fi
"$AGENT" release SIM000002 --socket "$WORK/a/one/control.sock" || fail "release on lab-a"

# ---- the /lab page of an agent on lab-b lists lab-a's cables
mkdir -p "$WORK/b/web"
printf 'http: { listen: 127.0.0.1:9542 }\nadvertise: off\n' > "$WORK/b/web/config.yaml"
$(ns b) "$AGENT" run --simulate 0 --config "$WORK/b/web/config.yaml" \
    --state-dir "$WORK/b/web/state" --control-socket "$WORK/b/web/control.sock" --log stderr \
    > "$WORK/b/web/agent.log" 2>&1 &
PIDS="$PIDS $!"
lab_page() {
    in_ns b python3 -c "
import sys, urllib.request
page = urllib.request.urlopen('http://127.0.0.1:9542/lab', timeout=10).read().decode()
sys.exit(0 if all(s in page for s in ('data-serial=\"SIM000001\"', 'data-port=\"2543\"',
    'open_hw_target -xvc_url lab-a.local:2542')) else 1)" 2>/dev/null
}
if wait_until 15 lab_page; then ok "/lab on lab-b lists lab-a's cables"; else fail "/lab page"; fi
kill "$HOLDER" 2>/dev/null || true

# ---- avahi-daemon restart re-registers
eval "kill \$AVAHI_a"; eval "wait \$AVAHI_a" 2>/dev/null || true
start_avahi a
t0=$(now_ms)
if wait_until 10 both_listed; then
    ok "re-registered after avahi-daemon restarted ($(( $(now_ms) - t0 )) ms)"
else
    fail "re-registered after avahi-daemon restart"; cat "$WORK/a/one/agent.log"
fi

# ---- a second agent with the same cable names gets distinct instance names
start_agent two 2600
if wait_until 10 four_distinct; then
    ok "two agents with the same cable names: four distinct instances"
    grep '"instance":' "$WORK/browse.json" | sed 's/^ */    /'
else
    fail "distinct instance names"; cat "$WORK/browse.json" "$WORK/a/two/agent.log"
fi

# ---- the table form
in_ns b "$AGENT" browse --timeout 2 | tee "$WORK/table.txt"
if grep -q "open_hw_target -xvc_url lab-a.local:2542" "$WORK/table.txt"; then
    ok "table with Vivado lines"
else
    fail "table with Vivado lines"
fi

if [ "$fails" -ne 0 ]; then say "$fails failed"; exit 1; fi
say "all passed"
