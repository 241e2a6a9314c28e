#!/bin/sh
# Checks that the packages of every architecture are the same package: the same files with
# the same modes and (the binary aside) the same contents, the same maintainer scripts and
# conffiles, and the same dependencies. Run on the package directories of `make packages`.
#
# usage: packaging/same-contents.sh DIR...   (each holding one .deb and one .rpm)
set -eu

[ $# -ge 2 ] || { echo "same-contents: give two package directories or more" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# A description of one directory's packages with everything architecture-specific left out.
describe() {
    if ! deb=$(ls "$1"/xvc-agent_*.deb) || ! rpm=$(ls "$1"/xvc-agent-*.rpm); then
        echo "same-contents: no .deb and .rpm in $1" >&2
        return 1
    fi
    out=$2
    x=$scratch/x
    rm -rf "$x" && mkdir -p "$x/data" "$x/control" "$x/rpm"
    dpkg-deb -x "$deb" "$x/data"
    dpkg-deb -e "$deb" "$x/control"
    {
        echo "== deb files"
        (cd "$x/data" && find . -mindepth 1 | sort | while read -r f; do
            if [ -f "$f" ] && [ "$f" != ./usr/bin/xvc-agent ]; then sum=$(md5sum < "$f" | cut -c1-32); else sum=-; fi
            printf '%s %s %s\n' "$(stat -c %A "$f")" "$f" "$sum"
        done)
        echo "== deb control"
        grep -vE '^(Architecture|Installed-Size):' "$x/control/control"
        for s in preinst postinst prerm postrm conffiles; do
            [ -f "$x/control/$s" ] && { echo "-- $s"; cat "$x/control/$s"; }
        done
        echo "== rpm files"
        rpm -qp --qf '[%{FILEMODES:perms}|%{FILEFLAGS:fflags}|%{FILENAMES}|%{FILEDIGESTS}\n]' "$rpm" |
            awk -F'|' -v OFS='|' '$3 == "/usr/bin/xvc-agent" { $4 = "-" } { print }'
        echo "== rpm scripts"
        rpm -qp --scripts "$rpm"
        echo "== rpm requires"
        # The libraries needed (their symbol versions and the dynamic loader, which only
        # x86-64 binaries name, are the architecture's).
        rpm -qp --requires "$rpm" | sed 's/(GLIBC_[^)]*)//; s/()//; s/(64bit)//; s/(aarch-64)//' |
            grep -v '^ld-linux' | sort -u
    } > "$out"
}

first=""
status=0
for dir in "$@"; do
    name=$(basename "$dir")
    describe "$dir" "$scratch/$name.txt"
    if [ -z "$first" ]; then
        first=$name
    elif ! diff -u "$scratch/$first.txt" "$scratch/$name.txt" > "$scratch/diff"; then
        echo "same-contents: the $name packages differ from the $first ones:"
        cat "$scratch/diff"
        status=1
    fi
done
[ $status -eq 0 ] && echo "same-contents: the packages of $* carry the same files, scripts and dependencies"
exit $status
