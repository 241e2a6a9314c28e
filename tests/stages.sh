#!/bin/sh
# make test: the host-side stages in the foreground and the virtual-machine suites in the
# background beside them, on a 2-core machine, in the least wall-clock time.
#
# The order, and why:
# 1. (make test's prerequisites) fmt, and the amd64 package: the amd64 guest needs it.
# 2. The VM suites start in the background at once: amd64, then arm64. arm64 needs its package,
#    which the foreground builds next; a lock the foreground holds until that package is
#    built makes the arm64 suite wait for it. Their output goes to target/vm-suites.log and is
#    shown at the end.
# 3. The foreground builds the arm64 package, then compiles the lints and the tests, at a
#    lower priority (nice): a QEMU guest starved of CPU falls behind its own timers and
#    network (its user network once aborted on a guest that did not drain its sockets); the
#    compiles only take longer.
# 4. The foreground runs the host-side test stages at normal priority (make test-host-stages).
# 5. Both are waited for; any failure fails make test, saying which side failed.
#
# make test-host and make test-vm run either side alone, one stage after the other.
set -u
MAKE=${MAKE:-make}
M="$MAKE --no-print-directory"
lock=target/.test-arm64-package.lock
log=target/vm-suites.log
mkdir -p target

echo "test: the virtual-machine suites run in the background (log: $log)"
exec 8>"$lock"
flock 8
{
    exec 8>&-
    $M vm-test-only
    amd64=$?
    flock "$lock" $M vm-test-arm64-only && exit $amd64
} >"$log" 2>&1 &
vm=$!

nice -n 10 $M package-arch ARCH=arm64
arm64=$?
exec 8>&-
host=1
if [ $arm64 = 0 ]; then
    nice -n 10 $M clippy cargo-test-build && $M test-host-stages
    host=$?
fi

wait $vm
vm=$?
echo "==================== virtual-machine suites ($log) ===================="
cat "$log"
[ $host = 0 ] || echo "test: the host-side tests failed (above the virtual-machine suites)"
[ $vm = 0 ] || echo "test: the virtual-machine suites failed"
[ $host = 0 ] && [ $vm = 0 ]
