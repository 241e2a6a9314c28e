#!/bin/sh
# Checks that binaries run on a given glibc: no dynamic symbol may need a newer GLIBC_
# version than FLOOR, and no shared library may be needed beyond glibc's own, libgcc_s,
# libudev and libusb (the ones every supported distribution has with a stable soname).
# Prints the newest GLIBC_ version each binary needs.
#
# usage: packaging/glibc-floor.sh FLOOR BINARY...
#        packaging/glibc-floor.sh FLOOR --deb PACKAGE.deb --rpm PACKAGE.rpm
# (the packages' /usr/bin files are checked)
set -eu

floor=$1
shift
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

binaries=""
failures=0
while [ $# -gt 0 ]; do
    case $1 in
        --deb)
            mkdir -p "$scratch/deb" && dpkg-deb -x "$2" "$scratch/deb"
            # The package must promise no more than the binary needs, and name its libraries.
            depends=$(dpkg-deb -f "$2" Depends)
            for dep in "libc6 (>= $floor)" "libudev1 " "libusb-1.0-0 "; do
                case "$depends, " in
                    *"$dep"*) ;;
                    *) echo "glibc-floor: FAIL $2: Depends: $depends (no '$dep')"
                       failures=$((failures + 1)) ;;
                esac
            done
            for f in "$scratch"/deb/usr/bin/*; do binaries="$binaries $f"; done
            shift 2 ;;
        --rpm)
            mkdir -p "$scratch/rpm" && rpm2cpio "$2" | (cd "$scratch/rpm" && cpio -idm --quiet)
            for f in "$scratch"/rpm/usr/bin/*; do binaries="$binaries $f"; done
            shift 2 ;;
        *) binaries="$binaries $1"; shift ;;
    esac
done
[ -n "$binaries" ] || { echo "glibc-floor: no binary to check" >&2; exit 1; }

for bin in $binaries; do
    name=$bin
    case $bin in "$scratch"/deb/*) name="(deb) ${bin#"$scratch"/deb}" ;;
                 "$scratch"/rpm/*) name="(rpm) ${bin#"$scratch"/rpm}" ;; esac
    case $(readelf -h "$bin" 2>/dev/null | sed -n 's/^ *Machine: *//p') in
        AArch64) objdump=aarch64-linux-gnu-objdump ;;
        *X86-64*) objdump=x86_64-linux-gnu-objdump ;;
        "") echo "glibc-floor: $name is not an ELF file"; failures=$((failures + 1)); continue ;;
        *) objdump=objdump ;;
    esac
    command -v "$objdump" >/dev/null || { echo "glibc-floor: $objdump not found (make deps)" >&2; exit 1; }
    "$objdump" -T "$bin" > "$scratch/syms"
    newest=$(grep -o 'GLIBC_[0-9][0-9.]*' "$scratch/syms" | sed 's/GLIBC_//' | sort -uV | tail -n 1)
    too_new=$(grep -o 'GLIBC_[0-9][0-9.]*' "$scratch/syms" | sed 's/GLIBC_//' | sort -uV |
        while read -r v; do
            [ "$(printf '%s\n%s\n' "$v" "$floor" | sort -V | tail -n 1)" = "$floor" ] || echo "$v"
        done)
    needed=$("$objdump" -p "$bin" | awk '$1 == "NEEDED" { printf "%s ", $2 }')
    # shellcheck disable=SC2086 # one library a word
    extra=$(printf '%s\n' $needed | grep -vxE 'libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libgcc_s\.so\.1|ld-linux[-a-z0-9_]*\.so\.[0-9]|libudev\.so\.1|libusb-1\.0\.so\.0' | tr '\n' ' ' || true)
    if [ -n "$too_new" ]; then
        echo "glibc-floor: FAIL $name needs GLIBC_$newest (above $floor), in:"
        for v in $too_new; do grep -E "GLIBC_$v([) ]|$)" "$scratch/syms" | awk '{print "    " $NF}' | head -n 5; done
        failures=$((failures + 1))
    elif [ -n "$extra" ]; then
        echo "glibc-floor: FAIL $name needs libraries a distribution may not have:" "$extra"
        failures=$((failures + 1))
    else
        echo "glibc-floor: ok $name: newest GLIBC_$newest (floor $floor); needs" "$needed"
    fi
done
[ "$failures" -eq 0 ]
