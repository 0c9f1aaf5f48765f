#!/usr/bin/env bash
# The functions a usual run of s6-fdholder-setdump calls, for the linker to put together at
# the start of the text (crates/tools/symbol-order.txt, read by crates/tools/build.rs).
#
#   scripts/symbol-order.sh           writes the file from the runs below, under callgrind
#   scripts/symbol-order.sh --check   builds the release binary and fails when fewer than
#                                     80% of the file's functions are in it (test.sh)
#
# Why: a run maps the binary's text around each page it faults in (the kernel's
# fault-around, 16 pages at a time), and the functions a run calls were spread over 780 KB
# of the 1.2 MB text; put together they take 256 KB, and a run at one socket spends some
# 40 µs less CPU (docs in the README's benchmark section). The names are v0 symbol names
# (.cargo/config.toml), which do not change from build to build or checkout to checkout; a
# function renamed or added drops out of the order (nothing breaks) until this is run again.
#
# The runs: config mode against a throwaway daemon (100 unix sockets, again with nothing to
# do, a FIFO and a file, a lifetime from [defaults]), --check --json with no daemon, and env
# mode (three fds). Needs valgrind and s6.
set -euo pipefail
cd "$(dirname "$0")/.."
order=crates/tools/symbol-order.txt

cargo build --release --quiet --bin s6-fdholder-setdump
# Where cargo put it (CARGO_TARGET_DIR or build.target-dir may say elsewhere than target/).
target=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target/release/s6-fdholder-setdump
# The binary's own functions, by name.
defined=$(nm "$bin" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | sort -u)

if [ "${1:-}" = --check ]; then
    listed=$(grep -c . "$order" || true)
    if [ "$listed" -eq 0 ]; then
        echo "symbol-order: $order names no function: run scripts/symbol-order.sh" >&2
        exit 1
    fi
    found=$(comm -12 <(sort -u "$order") <(echo "$defined") | wc -l)
    echo "symbol-order: $found of the $listed functions of $order are in the release binary"
    if [ $((found * 100)) -lt $((listed * 80)) ]; then
        echo "symbol-order: the order is stale, or RUSTFLAGS replaced .cargo/config.toml's" \
            "v0 names: run scripts/symbol-order.sh again" >&2
        exit 1
    fi
    exit 0
fi

for tool in valgrind s6-fdholder-daemon s6-fdholder-getdump; do
    command -v "$tool" >/dev/null || { echo "symbol-order: $tool is missing" >&2; exit 100; }
done
work=$(mktemp -d /dev/shm/symbol-order.XXXXXX)
daemon=
cleanup() {
    [ -z "$daemon" ] || { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/rules/uid/$(id -u)/env" "$work/sock"
: >"$work/rules/uid/$(id -u)/allow"
for right in SETDUMP GETDUMP LIST; do echo >"$work/rules/uid/$(id -u)/env/S6_FDHOLDER_$right"; done
{
    printf '[defaults]\nlifetime = "1h"\n'
    for i in $(seq 100); do printf '[[fd]]\nkind = "unix"\npath = "%s/sock/%d.sock"\n' "$work" "$i"; done
    printf '[[fd]]\nkind = "fifo"\npath = "%s/sock/f"\nmode = "0600"\n' "$work"
    printf '[[fd]]\nkind = "file"\npath = "%s/sock/log"\ncreate = true\nopen = "append"\n' "$work"
} >"$work/fds.toml"
exec {ready}< <(exec s6-fdholder-daemon -1 -n 300 -i "$work/rules" "$work/s")
daemon=$!
read -r -u "$ready" _

run=0
traced() {
    valgrind -q --tool=callgrind --demangle=no --callgrind-out-file="$work/cg.$((run++))" "$@" >/dev/null
}
traced "$bin" -c "$work/fds.toml" "$work/s"
traced "$bin" -c "$work/fds.toml" "$work/s"
traced "$bin" --check --json -c "$work/fds.toml"
# Env mode: three fds as s6-fdholder-getdump hands them over (Debian's s6-fdholder-getdump
# cannot be used: it crashes on this daemon's dump of 102 fds).
limit=@4000000080000000$(printf '%08x' 0)
# (valgrind drops `S6_FD#` from the environment it is given: env sets it inside.)
valgrind -q --tool=callgrind --demangle=no --trace-children=yes \
    --callgrind-out-file="$work/cg.env.%p" env 'S6_FD#=3' S6_FD_0=0 S6_FDID_0=env:0 \
    S6_FDLIMIT_0="$limit" S6_FD_1=1 S6_FDID_1=env:1 S6_FDLIMIT_1="$limit" S6_FD_2=2 \
    S6_FDID_2=env:2 S6_FDLIMIT_2="$limit" "$bin" "$work/s" </dev/null >/dev/null

# Every function called in those runs that the binary defines: those of the first run (the
# usual one: sockets opened and set) first, then those the others add, each run's sorted by
# name (within a run the order matters little: together they fill a few runs of 16 pages).
: >"$order"
for cg in "$work/cg.0" "$work/cg.1" "$work"/cg.env.* "$work/cg.2"; do
    sed -n 's/^c\{0,1\}fn=([0-9]*) *//p' "$cg" | sort -u | comm -12 - <(echo "$defined") |
        comm -23 - <(sort -u "$order") >>"$order.run"
    cat "$order.run" >>"$order"
    rm "$order.run"
done
echo "symbol-order: $(grep -c . "$order") functions in $order"
