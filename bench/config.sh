#!/usr/bin/env bash
# Config mode against the way it is done today, side by side, in one run.
#
# - 1000 unix stream sockets: one config file applied by one s6-fdholder-setdump run,
#   against a shell script of one `s6-ipcserver-socketbinder PATH s6-fdholder-store SOCKET
#   unix:PATH` per socket (Debian's s6: the binder binds and listens on its stdin, then execs
#   the store, which stores its stdin).
# - The same 1000 sockets as a deployment declares them: a lifetime, a mode, an owner and a
#   group in [defaults] (no script: socketbinder sets none of them).
# - 1000 tcp sockets on 127.0.0.1: one config run. The same script would need
#   s6-tcpserver-socketbinder (s6-networking), which Debian does not ship: no comparison.
#
# Each run gets a fresh daemon and directory; the median wall time of RUNS runs is shown,
# and every run is checked: the daemon must hold N ids (s6-fdholder-list). Then `strace -c
# -f` counts the system calls of one config run (and of one script run) per fd.
#
# Usage: bench/config.sh   (N=1000 RUNS=5 TMPFS=/dev/shm by default; needs s6 and strace;
# BIN=PATH times another build of s6-fdholder-setdump, such as an older one)
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000}
RUNS=${RUNS:-5}

for tool in s6-fdholder-daemon s6-ipcserver-socketbinder s6-fdholder-store strace; do
    command -v "$tool" >/dev/null || { echo "bench/config.sh: $tool is missing" >&2; exit 100; }
done
if [ -z "${BIN:-}" ]; then
    cargo build --release -q
    BIN=$PWD/target/release/s6-fdholder-setdump
fi

# The sockets go on a tmpfs, as /run is one on a real system: binding a unix socket creates
# an inode, and on a disk file system that alone can cost more than the rest of the work.
tmpfs=${TMPFS:-/dev/shm}
[ "$(stat -f -c %T "$tmpfs")" = tmpfs ] || echo "bench/config.sh: $tmpfs is not a tmpfs" >&2
work=$(mktemp -d "$tmpfs/fdh-bench-config.XXXXXX")
daemon=
cleanup() {
    stop_daemon
    rm -rf "$work"
}
trap cleanup EXIT

# A daemon that lets root do everything, holding up to N fds and a few more.
mkdir -p "$work/rules/uid/0/env"
touch "$work/rules/uid/0/allow"
for right in SETDUMP GETDUMP LIST; do echo > "$work/rules/uid/0/env/S6_FDHOLDER_$right"; done
echo '.*' > "$work/rules/uid/0/env/S6_FDHOLDER_STORE_REGEX"
echo '.*' > "$work/rules/uid/0/env/S6_FDHOLDER_RETRIEVE_REGEX"

start_daemon() {
    rm -rf "$work/s" "$work/s.lock" "$work/sock"
    mkdir "$work/sock"
    # -1: a newline on stdout once it accepts; read it instead of sleeping.
    exec {ready}< <(exec s6-fdholder-daemon -1 -n $((N + 16)) -i "$work/rules" "$work/s")
    daemon=$!
    read -r -u "$ready" _
}

stop_daemon() {
    if [ -n "$daemon" ]; then
        kill "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
        exec {ready}<&-
        daemon=
    fi
}

# The daemon must hold exactly N ids (list carries no fds, so it works past 253).
check_held() {
    local held
    held=$(s6-fdholder-list "$work/s" | wc -l)
    [ "$held" -eq "$N" ] || { echo "bench/config.sh: $1: the daemon holds $held ids, not $N" >&2; exit 1; }
}

# Wall time of one run of "$@" in microseconds, on a fresh daemon, checked.
time_one() {
    local name=$1 t0 t1
    shift
    start_daemon
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    check_held "$name"
    stop_daemon
    echo $(((t1 - t0) / 1000))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Median wall time, in microseconds, of RUNS runs.
bench() {
    local name=$1 i
    shift
    for i in $(seq "$RUNS"); do time_one "$name" "$@"; done | median
}

# The inputs: a config of N unix sockets, the same as a script, the same sockets as a
# deployment writes them (a lifetime, a mode, an owner and a group in [defaults]: Debian's
# `daemon` user and group), a config of N tcp sockets.
unix_toml=$work/unix.toml
deployed_toml=$work/deployed.toml
script=$work/today.sh
tcp_toml=$work/tcp.toml
: > "$unix_toml"
printf '[defaults]\nlifetime = "1h"\nmode = "0660"\nowner = "daemon"\ngroup = "daemon"\n' > "$deployed_toml"
echo 'set -e' > "$script"
for i in $(seq "$N"); do
    printf '[[fd]]\nkind = "unix"\npath = "%s/sock/%d.sock"\n' "$work" "$i" | tee -a "$deployed_toml" >> "$unix_toml"
    printf 's6-ipcserver-socketbinder %s/sock/%d.sock s6-fdholder-store %s unix:%s/sock/%d.sock\n' \
        "$work" "$i" "$work/s" "$work" "$i" >> "$script"
done

# N consecutive loopback ports that are free now: try bases until a run works.
tcp_config() {
    local base=$1 i
    : > "$tcp_toml"
    for i in $(seq 0 $((N - 1))); do
        printf '[[fd]]\nkind = "tcp"\nlisten = "127.0.0.1:%d"\n' $((base + i)) >> "$tcp_toml"
    done
}
for base in 41000 45000 49000 53000 57000 0; do
    [ "$base" -ne 0 ] || { echo "bench/config.sh: no free range of $N ports" >&2; exit 1; }
    tcp_config "$base"
    start_daemon
    if "$BIN" -c "$tcp_toml" "$work/s" 2>/dev/null; then stop_daemon; break; fi
    stop_daemon
done

ours_unix=$(bench "config, unix" "$BIN" -c "$unix_toml" "$work/s")
ours_deployed=$(bench "config, deployed" "$BIN" -c "$deployed_toml" "$work/s")
today_unix=$(bench "script, unix" sh "$script")
ours_tcp=$(bench "config, tcp" "$BIN" -c "$tcp_toml" "$work/s")

# System calls: strace -c -f, total calls divided by N.
syscalls() {
    local out=$work/strace.out
    start_daemon
    strace -c -f -o "$out" "$@" >/dev/null
    check_held strace
    stop_daemon
    awk '$NF == "total" { print $4 }' "$out"
}
per_fd() { awk -v c="$1" -v n="$N" 'BEGIN { printf "%.2f", c / n }'; }
sys_unix=$(syscalls "$BIN" -c "$unix_toml" "$work/s")
sys_deployed=$(syscalls "$BIN" -c "$deployed_toml" "$work/s")
sys_tcp=$(syscalls "$BIN" -c "$tcp_toml" "$work/s")
sys_today=$(syscalls sh "$script")
start_daemon
strace -c -f -o "$work/strace.table" "$BIN" -c "$unix_toml" "$work/s"
stop_daemon

ms() { awk -v u="$1" 'BEGIN { printf "%.1f ms", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0fx", a / b }'; }

echo "Config mode, $N sockets, median of $RUNS runs each ($(nproc) CPUs, $(uname -r), sockets on $(stat -f -c %T "$work"))"
echo
echo "| $N sockets | config file, one run | socketbinder + store script | speed-up |"
echo "|---|---|---|---|"
echo "| unix stream | $(ms "$ours_unix") | $(ms "$today_unix") | $(ratio "$today_unix" "$ours_unix") |"
echo "| unix stream, lifetime, mode, owner and group in [defaults] | $(ms "$ours_deployed") | - (the script sets none of them) | - |"
echo "| tcp, 127.0.0.1 | $(ms "$ours_tcp") | not run: s6-tcpserver-socketbinder is not in Debian | - |"
echo
echo "| system calls per fd (strace -c -f) | config file | script |"
echo "|---|---|---|"
echo "| unix stream | $(per_fd "$sys_unix") ($sys_unix in all) | $(per_fd "$sys_today") ($sys_today in all) |"
echo "| unix stream, [defaults] as above | $(per_fd "$sys_deployed") ($sys_deployed in all) | - |"
echo "| tcp, 127.0.0.1 | $(per_fd "$sys_tcp") ($sys_tcp in all) | - |"
echo
echo "The config run's system calls for $N unix sockets:"
echo
awk '/^-/ { dash++; next } dash == 1 && $4 >= 10 { print "    " $NF ": " $4 }' "$work/strace.table"
