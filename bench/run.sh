#!/usr/bin/env bash
# The benchmark: this project's s6-fdholder-setdump against Debian's C one, in the same run,
# against real s6-fdholderd daemons in a temporary directory.
#
#  1. n = 1 and n = 253 fds (253: the most Debian's C tool can send): median wall time, mean
#     CPU time and peak RSS of each tool. Both get the same environment (S6_FD#, S6_FD_i,
#     S6_FDID_i, S6_FDLIMIT_i, values of equal length) and the same inherited fds; runs
#     alternate between the tools in rounds, each round against a fresh daemon.
#  2. This project alone at n = 1000, 5000 and 20000: time per fd, to show linear growth.
#
# Ids are unique per run, so the daemon never replaces an fd, and every fd has its own limit,
# so the C tool's equal deadlines never reach the daemon (docs/PROTOCOL.md, defect 1).
# A daemon is fresh per round and never asked to hold more than the fd limit allows.
# The timer is bench/fdbench.rs: it covers posix_spawn to waitpid, the tool's whole life.
set -euo pipefail
cd "$(dirname "$0")/.."

C_TOOL=/usr/bin/s6-fdholder-setdump
OURS=$PWD/target/release/s6-fdholder-setdump
FDBENCH=$PWD/target/release/examples/fdbench

if ! command -v s6-fdholderd >/dev/null 2>&1 || [ ! -x "$C_TOOL" ]; then
    echo "bench: installing Debian's s6 package" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq s6 >/dev/null
fi
echo "bench: building the release binary and the timer" >&2
cargo build --release --quiet --bin s6-fdholder-setdump --example fdbench

# Every held fd is an fd of the daemon, and every dumped fd one of the tool's: both are bound
# by the fd limit. Raise the soft limit as far as allowed; stay under it with a margin.
ulimit -n "$(ulimit -Hn)"
FD_LIMIT=$(ulimit -n)
MAX_HELD=$((FD_LIMIT - 64))

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fdh-bench.XXXXXX")
DAEMON_PID=
cleanup() {
    if [ -n "${DAEMON_PID:-}" ]; then
        kill "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Rules: the current uid may connect, setdump and list.
RULES=$WORK/rules/uid/$(id -u)
mkdir -p "$RULES/env"
: >"$RULES/allow"
echo >"$RULES/env/S6_FDHOLDER_SETDUMP"
echo >"$RULES/env/S6_FDHOLDER_LIST"

SOCKETS=0
# Starts a fresh daemon; SOCKET is its path. Waits for its readiness newline (-1).
start_daemon() {
    SOCKETS=$((SOCKETS + 1))
    SOCKET=$WORK/s$SOCKETS
    coproc DAEMON { exec s6-fdholder-daemon -1 -n 30000 -i "$WORK/rules" "$SOCKET"; }
    DAEMON_PID=$DAEMON_PID # kept for cleanup: bash unsets the coproc variables once it ends
    local line
    if ! read -r -u "${DAEMON[0]}" line; then
        echo "bench: s6-fdholder-daemon did not become ready" >&2
        exit 1
    fi
}
stop_daemon() {
    kill "$DAEMON_PID"
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=
}

RUN=0
# bench_runs TOOL N RUNS OUT: RUNS timed runs of TOOL with N fds, appended to OUT.
bench_runs() {
    "$FDBENCH" "$1" "$SOCKET" "$2" "$3" "$RUN" "$5" >>"$4"
    RUN=$((RUN + $3))
}

# Figures from an fdbench output file: median wall (µs), mean CPU (µs), peak RSS (KiB).
median_us() { awk '$1 == "wall_ns" { print $2 }' "$1" | sort -n | awk '{ a[NR] = $1 } END { printf "%.0f", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) / 1000 }'; }
runs_in() { awk '$1 == "wall_ns"' "$1" | wc -l; }
cpu_us() { awk '$1 == "cpu_ns" { c += $2 } $1 == "wall_ns" { n++ } END { printf "%.0f", c / n / 1000 }' "$1"; }
rss_kb() { awk '$1 == "maxrss_kb" && $2 > m { m = $2 } END { print m }' "$1"; }

# compare N RUNS PER_ROUND: both tools, alternating which goes first, a fresh daemon a round.
compare() {
    local n=$1 runs=$2 per=$3 round=0
    : >"$WORK/c.$n"
    : >"$WORK/r.$n"
    while [ $((round * per)) -lt "$runs" ]; do
        start_daemon
        if [ $((round % 2)) -eq 0 ]; then
            bench_runs "$C_TOOL" "$n" "$per" "$WORK/c.$n" c
            bench_runs "$OURS" "$n" "$per" "$WORK/r.$n" r
        else
            bench_runs "$OURS" "$n" "$per" "$WORK/r.$n" r
            bench_runs "$C_TOOL" "$n" "$per" "$WORK/c.$n" c
        fi
        stop_daemon
        round=$((round + 1))
    done
}

echo "bench: machine: $(nproc) cores, $(uname -sr), fd limit $FD_LIMIT" >&2
echo "bench: C tool: $C_TOOL (s6 $(dpkg-query -W -f '${Version}' s6 2>/dev/null || echo '?'))" >&2
# One untimed run each, so that neither pays for a cold page cache.
start_daemon
bench_runs "$C_TOOL" 1 1 /dev/null c
bench_runs "$OURS" 1 1 /dev/null r
stop_daemon

compare 1 400 20
compare 253 100 10

echo
printf '%-6s %-5s %12s %12s %10s %12s\n' tool n "median µs" "CPU µs" "runs" "peak RSS KiB"
for n in 1 253; do
    for t in c r; do
        name=$([ $t = c ] && echo C || echo ours)
        printf '%-6s %-5s %12s %12s %10s %12s\n' "$name" "$n" "$(median_us "$WORK/$t.$n")" \
            "$(cpu_us "$WORK/$t.$n")" "$(runs_in "$WORK/$t.$n")" "$(rss_kb "$WORK/$t.$n")"
    done
done
echo
for n in 1 253; do
    c=$(median_us "$WORK/c.$n") r=$(median_us "$WORK/r.$n")
    cr=$(rss_kb "$WORK/c.$n") rr=$(rss_kb "$WORK/r.$n")
    awk -v n="$n" -v c="$c" -v r="$r" -v cr="$cr" -v rr="$rr" 'BEGIN {
        printf "n = %-4s ours/C wall %.2f (C/ours %.2fx), ours/C peak RSS %.2f\n", n, r / c, c / r, rr / cr }'
done

# Scaling: ours alone. A daemon holds at most MAX_HELD fds, so the largest n gets one per run.
# A dump's environment is ~130 bytes per fd: raise the stack limit, of which execve allows a
# quarter (at most 6 MiB) for arguments and environment.
ulimit -s 65536 2>/dev/null || ulimit -s "$(ulimit -Hs)"
base=$(median_us "$WORK/r.1")
echo
printf '%-6s %12s %12s %18s %6s %12s\n' n "median µs" "ns per fd" "ns per added fd" runs "peak RSS KiB"
for n in 1000 5000 20000; do
    if [ "$n" -gt "$MAX_HELD" ]; then
        m=$((MAX_HELD / 1000 * 1000))
        echo "bench: n = $n is over this machine's fd limit ($FD_LIMIT, not raisable here); n = $m instead" >&2
        n=$m
    fi
    out=$WORK/scale.$n
    : >"$out"
    per=$((MAX_HELD / n))
    [ "$per" -gt 10 ] && per=10
    total=$([ "$n" -ge 10000 ] && echo 5 || echo 20)
    done_runs=0
    while [ "$done_runs" -lt "$total" ]; do
        start_daemon
        bench_runs "$OURS" "$n" "$per" "$out" r
        stop_daemon
        done_runs=$((done_runs + per))
    done
    m=$(median_us "$out")
    printf '%-6s %12s %12s %18s %6s %12s\n' "$n" "$m" \
        "$(awk -v m="$m" -v n="$n" 'BEGIN { printf "%.0f", m * 1000 / n }')" \
        "$(awk -v m="$m" -v b="$base" -v n="$n" 'BEGIN { printf "%.0f", (m - b) * 1000 / (n - 1) }')" \
        "$(runs_in "$out")" "$(rss_kb "$out")"
done

echo
echo "bench: config mode against a socketbinder + store script (bench/config.sh)" >&2
bench/config.sh
