#!/usr/bin/env bash
# The benchmark: this project's s6-fdholder-setdump against floor programs (bench/floor/:
# minimal C programs that do only what the job needs) and against Debian's C tool, in one
# run, against real s6-fdholderd daemons, printing one table.
#
# - Env mode at 1, 253, 1000, 5000 and 19000 fds: ours, the floor (bench/floor/env_floor.c)
#   and the C tool (only up to 253 fds: Debian's s6 2.11 client fails above, docs/PROTOCOL.md).
#   All get the same environment and the same inherited fds; the timer is bench/fdbench.rs
#   (posix_spawn to waitpid, the environment built beforehand; peak RSS from getrusage).
#   Runs go in rounds, the tools' order rotating each round, each tool a fresh daemon a round.
# - Config mode at 1, 100, 1000, 10000 and 50000 unix stream sockets (fewer where the fd
#   limit does not allow 50000: the tool and the daemon each hold every socket): ours
#   (`-c FILE`) against the floor (bench/floor/config_floor.c: socket + bind + listen each,
#   one setdump), alternating A B A B, each run on a fresh daemon and a fresh directory on a
#   tmpfs, both through the same wrapper (`fdbench --once`) and checked (the daemon must hold
#   N ids). Then `--check` alone (no daemon), and a second run against the daemon of a first
#   ("nothing to do"), beside what a list of that daemon costs. Sizes whose times are
#   divided by each other for linearity (10000 and the largest run; --check's three sizes)
#   run in alternation, round by round.
# - Fixed and per-fd costs: the time at the smallest size, and the slope to the largest.
#
# Ids are unique per run and every fd has its own limit, so the daemon never replaces an fd
# and the C tool's equal deadlines never reach it (docs/PROTOCOL.md, defect 1).
#
# Usage: bench/run.sh   BENCH_QUICK=1 for about a quarter of the runs; TMPFS=DIR for where
# the sockets go (/dev/shm by default). Progress on stderr, the table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${BENCH_QUICK:-0}
C_TOOL=/usr/bin/s6-fdholder-setdump
OURS=$PWD/target/release/s6-fdholder-setdump
FDBENCH=$PWD/target/release/examples/fdbench
say() { echo "bench: $*" >&2; }

# What the bench needs, installed when missing (Debian).
need=()
command -v s6-fdholderd >/dev/null 2>&1 && [ -x "$C_TOOL" ] || need+=(s6)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

say "building the release binary and the timer"
cargo build --release --quiet --bin s6-fdholder-setdump --example fdbench

# Every held fd is an fd of the daemon, and every dumped fd one of the tool's: both are bound
# by the fd limit. Raise the soft limit as far as allowed; stay under it with a margin.
ulimit -n "$(ulimit -Hn)"
FD_LIMIT=$(ulimit -n)
MAX_HELD=$((FD_LIMIT - 64))
# A dump's environment is ~130 bytes per fd: raise the stack limit, of which execve allows a
# quarter (at most 6 MiB) for arguments and environment.
ulimit -s 65536 2>/dev/null || ulimit -s "$(ulimit -Hs)"

# The sockets go on a tmpfs, as /run is one on a real system: on a disk file system binding
# a unix socket creates an inode, which alone can cost more than the rest of the work.
TMPFS=${TMPFS:-/dev/shm}
[ "$(stat -f -c %T "$TMPFS")" = tmpfs ] || say "$TMPFS is not a tmpfs: config mode figures will be off"
WORK=$(mktemp -d "$TMPFS/fdh-bench.XXXXXX")
DAEMON=
cleanup() {
    stop_daemon
    rm -rf "$WORK"
}
trap cleanup EXIT

say "building the floor programs (cc -O2)"
for f in env_floor config_floor; do
    cc -O2 -o "$WORK/$f" "bench/floor/$f.c"
done
ENV_FLOOR=$WORK/env_floor
CONFIG_FLOOR=$WORK/config_floor

# Rules: the current uid may connect, setdump, getdump and list.
RULES=$WORK/rules/uid/$(id -u)
mkdir -p "$RULES/env"
: >"$RULES/allow"
for right in SETDUMP GETDUMP LIST; do echo >"$RULES/env/S6_FDHOLDER_$right"; done

DAEMONS=0
# start_daemon MAX: a fresh daemon holding up to MAX fds, at $SOCKET; waits for its
# readiness newline (-1) instead of sleeping.
start_daemon() {
    DAEMONS=$((DAEMONS + 1))
    SOCKET=$WORK/s$DAEMONS
    exec {READY}< <(exec s6-fdholder-daemon -1 -n "$1" -i "$WORK/rules" "$SOCKET")
    DAEMON=$!
    read -r -u "$READY" _ || { say "s6-fdholder-daemon did not become ready"; exit 1; }
    # One untimed request, so that no timed run pays for the daemon's own start-up (its
    # exec of s6-fdholderd, its first accept) on a machine with few cores.
    s6-fdholder-list "$SOCKET" >/dev/null
}
stop_daemon() {
    if [ -n "$DAEMON" ]; then
        kill "$DAEMON" 2>/dev/null || true
        wait "$DAEMON" 2>/dev/null || true
        exec {READY}<&-
        rm -f "$SOCKET" "$SOCKET.lock"
        DAEMON=
    fi
}

# The number of runs: R, or a quarter of it (at least 3) with BENCH_QUICK=1.
runs() { if [ "$QUICK" = 1 ]; then echo $(((${1} + 3) / 4 < 3 ? 3 : (${1} + 3) / 4)); else echo "$1"; fi; }

# Figures from fdbench output: median wall (µs), peak RSS (KiB), number of runs.
median_us() { awk '$1 == "wall_ns" { print $2 }' "$1" | sort -n | awk '{ a[NR] = $1 } END { if (!NR) { print "-"; exit } printf "%.0f", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) / 1000 }'; }
median_cpu_us() { awk '$1 == "cpu_ns" { print $2 }' "$1" | sort -n | awk '{ a[NR] = $1 } END { if (!NR) { print "-"; exit } printf "%.0f", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) / 1000 }'; }
rss_kb() { awk '$1 == "maxrss_kb" && $2 > m { m = $2 } END { print m ? m : "-" }' "$1"; }
runs_in() { awk '$1 == "wall_ns"' "$1" | wc -l; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3f", a / b }'; }
ms() { awk -v u="$1" 'BEGIN { if (u == "-") print "-"; else if (u < 10000) printf "%.0f µs", u; else printf "%.1f ms", u / 1000 }'; }

echo "machine: $(nproc) cores, $(uname -sr), fd limit $FD_LIMIT, C tool from s6 $(dpkg-query -W -f '${Version}' s6 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC')" >&2
START=$(date +%s)

# --- env mode ---------------------------------------------------------------------------
RUN=0
# env_compare N RUNS: each tool RUNS times with N fds, in rounds, order rotating.
env_compare() {
    local n=$1 total=$2 per round=0 i t
    local tools=(ours floor)
    [ "$n" -le 253 ] && tools+=(c)
    per=$((MAX_HELD / n))
    # Few runs a round, so that a burst of load elsewhere falls on every tool alike.
    [ "$per" -gt 5 ] && per=5
    for t in "${tools[@]}"; do : >"$WORK/env.$t.$n"; done
    while [ $((round * per)) -lt "$total" ]; do
        for i in "${!tools[@]}"; do
            t=${tools[$(((i + round) % ${#tools[@]}))]}
            local bin=$OURS
            [ "$t" = floor ] && bin=$ENV_FLOOR
            [ "$t" = c ] && bin=$C_TOOL
            start_daemon "$MAX_HELD"
            "$FDBENCH" "$bin" "$SOCKET" "$n" "$per" "$RUN" "$t" >>"$WORK/env.$t.$n"
            RUN=$((RUN + per))
            stop_daemon
        done
        round=$((round + 1))
    done
}

# One untimed run each, so that none pays for a cold page cache.
start_daemon 100
for bin in "$C_TOOL" "$OURS" "$ENV_FLOOR"; do "$FDBENCH" "$bin" "$SOCKET" 1 1 $((RUN++)) w >/dev/null; done
stop_daemon

ENV_SIZES=()
for n in 1 253 1000 5000 19000; do
    if [ "$n" -gt "$MAX_HELD" ]; then
        n=$((MAX_HELD / 1000 * 1000))
        say "env: $n fds instead of 19000: the fd limit is $FD_LIMIT"
    fi
    ENV_SIZES+=("$n")
done
for n in "${ENV_SIZES[@]}"; do
    case $n in 1) r=400 ;; 253) r=160 ;; 1000 | 5000) r=100 ;; *) r=30 ;; esac
    say "env mode, $n fds, $(runs "$r") runs a tool"
    env_compare "$n" "$(runs "$r")"
done

# --- config mode ------------------------------------------------------------------------
CFG_DIR=$WORK/sock
# The config of N unix sockets, CFG_DIR/1.sock .. N.sock: the floor's paths and ids.
config_file() {
    awk -v d="$CFG_DIR" -v n="$1" 'BEGIN {
        for (i = 1; i <= n; i++) printf "[[fd]]\nkind = \"unix\"\npath = \"%s/%d.sock\"\n", d, i }' \
        >"$WORK/cfg.$1.toml"
}
# The daemon must hold exactly N ids (list carries no fds, so it works past 253).
check_held() {
    local held
    held=$(s6-fdholder-list "$SOCKET" | wc -l)
    [ "$held" -eq "$2" ] || { say "config, $1: the daemon holds $held ids, not $2"; exit 1; }
}
# config_one SIDE N: one timed run on a fresh daemon and directory, checked; after ours,
# a second run ("nothing to do") and a list of the same daemon, timed the same way.
config_one() {
    local side=$1 n=$2
    rm -rf "$CFG_DIR"
    mkdir "$CFG_DIR"
    start_daemon $((n + 16))
    if [ "$side" = ours ]; then
        "$FDBENCH" --once "$OURS" -c "$WORK/cfg.$n.toml" "$SOCKET" >>"$WORK/cfg.ours.$n"
        check_held "$side" "$n"
        "$FDBENCH" --once "$OURS" -c "$WORK/cfg.$n.toml" "$SOCKET" \
            >>"$WORK/cfg.again.$n" 2>>"$WORK/again.log"
        "$FDBENCH" --once s6-fdholder-list "$SOCKET" >>"$WORK/cfg.list.$n"
    else
        "$FDBENCH" --once "$CONFIG_FLOOR" "$SOCKET" "$CFG_DIR" "$n" >>"$WORK/cfg.floor.$n"
    fi
    check_held "$side" "$n"
    stop_daemon
}

CFG_BIG=50000
# The tool holds every socket it opens, and the daemon every one it is sent.
if [ "$CFG_BIG" -gt "$MAX_HELD" ]; then
    CFG_BIG=$((MAX_HELD / 1000 * 1000))
    say "config: $CFG_BIG sockets instead of 50000: the fd limit is $FD_LIMIT (hard) here; --check still at 50000"
fi
CFG_SIZES=(1 100 1000 10000 "$CFG_BIG")
for n in "${CFG_SIZES[@]}" 50000; do config_file "$n"; done
# The sizes whose times are divided by each other (10000 and the largest, for linearity)
# are run in alternation, round by round, as the two sides are: run one block after the
# other, a drift of the machine between the blocks would read as a cost that grows.
config_rounds() {
    local r=$1 i n
    shift
    for n in "$@"; do for side in ours floor; do : >"$WORK/cfg.$side.$n"; done; done
    for i in $(seq "$r"); do
        for n in "$@"; do
            if [ $((i % 2)) -eq 1 ]; then
                config_one ours "$n"
                config_one floor "$n"
            else
                config_one floor "$n"
                config_one ours "$n"
            fi
        done
    done
}
for n in 1 100 1000; do
    case $n in 1000) r=150 ;; *) r=100 ;; esac
    r=$(runs "$r")
    say "config mode, $n unix sockets, $r runs a side"
    config_rounds "$r" "$n"
done
r=$(runs 30)
say "config mode, 10000 and $CFG_BIG unix sockets in alternation, $r runs a side each"
config_rounds "$r" 10000 "$CFG_BIG"
# --check alone: no socket on the command line nor in the file, so no daemon; the plan is
# printed (to /dev/null). The three sizes in alternation, round by round (see above).
r=$(runs 30)
say "config --check, 1000, 10000 and 50000 entries in alternation, $r runs each"
for n in 1000 10000 50000; do : >"$WORK/check.$n"; done
for i in $(seq "$r"); do
    for n in 1000 10000 50000; do
        "$FDBENCH" --once "$OURS" --check -c "$WORK/cfg.$n.toml" >>"$WORK/check.$n"
    done
done

# --- the table ----------------------------------------------------------------------------
echo
echo "Env mode: median wall time (runs a tool), peak RSS"
echo
echo "| fds | ours | floor | C tool | ours / floor | ours / C | RSS ours | RSS floor | RSS C | RSS ours / floor |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for n in "${ENV_SIZES[@]}"; do
    o=$(median_us "$WORK/env.ours.$n") f=$(median_us "$WORK/env.floor.$n")
    c=-
    cr=-
    if [ -f "$WORK/env.c.$n" ]; then c=$(median_us "$WORK/env.c.$n") cr=$(rss_kb "$WORK/env.c.$n"); fi
    or=$(rss_kb "$WORK/env.ours.$n") fr=$(rss_kb "$WORK/env.floor.$n")
    echo "| $n ($(runs_in "$WORK/env.ours.$n")) | $(ms "$o") | $(ms "$f") | $(ms "$c") | $(ratio "$o" "$f") | $(ratio "$o" "$c") | $or KiB | $fr KiB | $cr$([ "$cr" = - ] || echo ' KiB') | $(ratio "$or" "$fr") |"
done
echo
echo "Config mode, unix stream sockets on $(stat -f -c %T "$TMPFS"): median wall time (runs a side), peak RSS"
echo
echo "| sockets | ours | floor | ours / floor | CPU ours / floor | RSS ours | RSS floor | again, nothing to do | list of that daemon |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in "${CFG_SIZES[@]}"; do
    o=$(median_us "$WORK/cfg.ours.$n") f=$(median_us "$WORK/cfg.floor.$n")
    echo "| $n ($(runs_in "$WORK/cfg.ours.$n")) | $(ms "$o") | $(ms "$f") | $(ratio "$o" "$f") | $(ratio "$(median_cpu_us "$WORK/cfg.ours.$n")" "$(median_cpu_us "$WORK/cfg.floor.$n")") | $(rss_kb "$WORK/cfg.ours.$n") KiB | $(rss_kb "$WORK/cfg.floor.$n") KiB | $(ms "$(median_us "$WORK/cfg.again.$n")") | $(ms "$(median_us "$WORK/cfg.list.$n")") |"
done
echo
echo "| --check, no daemon | median | median CPU | RSS |"
echo "|---|---|---|---|"
for n in 1000 10000 50000; do
    echo "| $n entries ($(runs_in "$WORK/check.$n")) | $(ms "$(median_us "$WORK/check.$n")") | $(ms "$(median_cpu_us "$WORK/check.$n")") | $(rss_kb "$WORK/check.$n") KiB |"
done
echo

# Fixed cost: the median at the smallest size; per-fd cost: the slope from there to the
# largest. Linearity: time at the largest over time at 10000, against the size ratio.
slope() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.2f µs", (b - a) / (n - 1) }'; }
big=${ENV_SIZES[-1]}
echo "| costs | ours fixed | ours per fd | floor fixed | floor per fd |"
echo "|---|---|---|---|---|"
echo "| env mode (1 → $big fds) | $(ms "$(median_us "$WORK/env.ours.1")") | $(slope "$(median_us "$WORK/env.ours.1")" "$(median_us "$WORK/env.ours.$big")" "$big") | $(ms "$(median_us "$WORK/env.floor.1")") | $(slope "$(median_us "$WORK/env.floor.1")" "$(median_us "$WORK/env.floor.$big")" "$big") |"
echo "| config mode (1 → $CFG_BIG sockets) | $(ms "$(median_us "$WORK/cfg.ours.1")") | $(slope "$(median_us "$WORK/cfg.ours.1")" "$(median_us "$WORK/cfg.ours.$CFG_BIG")" "$CFG_BIG") | $(ms "$(median_us "$WORK/cfg.floor.1")") | $(slope "$(median_us "$WORK/cfg.floor.1")" "$(median_us "$WORK/cfg.floor.$CFG_BIG")" "$CFG_BIG") |"
echo
lin() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { r = a / b; l = n / 10000 * 1.04; printf "%.2f (linear within 4%%: at most %.2f) %s", r, l, (r <= l ? "met" : "NOT met") }'; }
# CPU time (user + system, getrusage) too: on a shared machine a long run is more often
# preempted, which wall time counts and CPU time does not.
echo "Linearity, time at N / time at 10000 (wall; CPU):"
echo "- config run, N = $CFG_BIG: $(lin "$(median_us "$WORK/cfg.ours.$CFG_BIG")" "$(median_us "$WORK/cfg.ours.10000")" "$CFG_BIG"); CPU $(lin "$(median_cpu_us "$WORK/cfg.ours.$CFG_BIG")" "$(median_cpu_us "$WORK/cfg.ours.10000")" "$CFG_BIG")"
# The floor's own ratio: the kernel's part of the work, which this tool cannot make linear.
echo "  (the floor, the same sizes: $(ratio "$(median_us "$WORK/cfg.floor.$CFG_BIG")" "$(median_us "$WORK/cfg.floor.10000")"); CPU $(ratio "$(median_cpu_us "$WORK/cfg.floor.$CFG_BIG")" "$(median_cpu_us "$WORK/cfg.floor.10000")"))"
echo "- config --check, N = 50000: $(lin "$(median_us "$WORK/check.50000")" "$(median_us "$WORK/check.10000")" 50000); CPU $(lin "$(median_cpu_us "$WORK/check.50000")" "$(median_cpu_us "$WORK/check.10000")" 50000)"
# A second run with nothing to do should cost no more than asking the daemon (here list:
# Debian's s6 2.11 daemon cannot getdump more than 253 fds) plus parsing the file (--check
# also prints the plan, so this errs on the generous side by that much).
again=$(median_us "$WORK/cfg.again.10000") list=$(median_us "$WORK/cfg.list.10000") check=$(median_us "$WORK/check.10000")
awk -v a="$again" -v l="$list" -v c="$check" 'BEGIN {
    printf "- nothing to do at 10000: %.1f ms, against list + --check = %.1f ms: %s\n", a / 1000, (l + c) / 1000, (a <= l + c ? "met" : "NOT met") }'
echo
echo "bench: $(($(date +%s) - START)) s; bench/run.sh$([ "$QUICK" = 1 ] && echo ' (BENCH_QUICK=1)')"
