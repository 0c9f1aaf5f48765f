#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian machine (with a Rust toolchain):
#  - installs Debian's s6 (and dbus-daemon, dbus-bin) when missing, builds the binaries;
#  - starts a throwaway s6-fdholderd in a temporary directory;
#  - hands it four fds in one setdump through env mode, the way s6-fdholder-getdump would:
#    a listening unix socket, both ends of a pipe, and /dev/null with a one-hour limit;
#  - shows what the daemon holds (s6-fdholder-list, s6-fdholder-getdump) and that the socket
#    still accepts connections while only the daemon has it;
#  - config mode: plans and applies examples/*.toml (paths moved into the temporary
#    directory, ports to free ones) to the same daemon, applies them again (nothing to
#    do), and shows what it then holds
#    (s6-fdholder-inspect) and what was created on disk;
#  - socket activation: imports examples/systemd/dbus.socket, provisions it with config
#    mode, starts dbus-daemon on it through s6-fdholder-activate, asks the bus with dbus-send,
#    and shows a client made while the bus is down served by the next bus;
#  - stops the daemon and removes the directory on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")"

if [ -t 1 ]; then
    say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    say() { printf '\n== %s\n' "$*"; }
fi

if ! command -v s6-fdholderd >/dev/null 2>&1; then
    say "Installing Debian's s6 package"
    sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq s6 >/dev/null
fi
# dbus-daemon is the real consumer of the socket-activation part; dbus-send its client.
if ! command -v dbus-daemon >/dev/null 2>&1 || ! command -v dbus-send >/dev/null 2>&1; then
    say "Installing Debian's dbus-daemon and dbus-bin packages"
    sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dbus-daemon dbus-bin >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "demo: cargo not found: install a Rust toolchain (https://rustup.rs) first" >&2
    exit 100
fi

say "Building the release binary"
cargo build --release --quiet --bin s6-fdholder-setdump --bin s6-fdholder-inspect \
    --bin s6-fdholder-activate
BIN=$PWD/target/release/s6-fdholder-setdump
INSPECT=$PWD/target/release/s6-fdholder-inspect
ACTIVATE=$PWD/target/release/s6-fdholder-activate
echo "$BIN"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/fdholder-demo.XXXXXX")
DAEMON_PID=
BUS_PID=
cleanup() {
    if [ -n "${BUS_PID:-}" ]; then
        kill "$BUS_PID" 2>/dev/null || true
        wait "$BUS_PID" 2>/dev/null || true
    fi
    if [ -n "${DAEMON_PID:-}" ]; then
        kill "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT

say "Starting a throwaway s6-fdholderd in $DIR"
# Rules: this uid may connect, set and get dumps, list, and retrieve anything.
rules=$DIR/rules/uid/$(id -u)
mkdir -p "$rules/env"
: >"$rules/allow"
for right in S6_FDHOLDER_SETDUMP S6_FDHOLDER_GETDUMP S6_FDHOLDER_LIST; do
    echo >"$rules/env/$right"
done
echo '.*' >"$rules/env/S6_FDHOLDER_RETRIEVE_REGEX"
DAEMON=$DIR/fdholder
# -1: the daemon writes a newline once it accepts connections; wait for it, never sleep.
coproc FDHOLDERD { exec s6-fdholder-daemon -1 -n 100 -i "$DIR/rules" "$DAEMON"; }
DAEMON_PID=$FDHOLDERD_PID
read -r -u "${FDHOLDERD[0]}" _
echo "s6-fdholder-daemon -1 -n 100 -i $DIR/rules $DAEMON (pid $DAEMON_PID)"

say "Setting a dump through env mode"
SERVICE=$DIR/service.sock
# An anonymous pipe with both ends here: a process substitution gives the read end, and
# on Linux, opening it again through /proc gives the write end.
exec {PIPE_R}< <(:)
exec {PIPE_W}>"/proc/self/fd/$PIPE_R"
exec {NULL_FD}</dev/null
# A limit is a TAI64N label: 2^62 + TAI seconds (UTC + 37 s today), then nanoseconds.
LIMIT=$(printf '@%016x%08x' $(((1 << 62) + $(date +%s) + 37 + 3600)) 0)
# s6-ipcserver-socketbinder binds and listens on $SERVICE, then runs the rest with the
# listening socket as its fd 0: that is fd 0 of the dump.
dump=(
    'S6_FD#=4'
    S6_FD_0=0 "S6_FDID_0=unix:$SERVICE"
    "S6_FD_1=$PIPE_R" S6_FDID_1=pipe:demo-r
    "S6_FD_2=$PIPE_W" S6_FDID_2=pipe:demo-w
    "S6_FD_3=$NULL_FD" S6_FDID_3=file:/dev/null "S6_FDLIMIT_3=$LIMIT"
)
printf '  %s\n' "${dump[@]}"
echo "s6-ipcserver-socketbinder $SERVICE env ... s6-fdholder-setdump $DAEMON"
s6-ipcserver-socketbinder -- "$SERVICE" env "${dump[@]}" "$BIN" "$DAEMON"
echo "s6-fdholder-setdump: exit status 0"
# Our copies go: from now on the daemon holds the only ones.
exec {PIPE_R}<&- {PIPE_W}>&- {NULL_FD}<&-

say "What the daemon holds (s6-fdholder-list)"
s6-fdholder-list "$DAEMON"

say "The same, with fds and limits (s6-fdholder-getdump, then the environment it sets)"
# getdump sets S6_FD#, S6_FD_i, S6_FDID_i, S6_FDLIMIT_i and runs a program: here, one that
# prints them as a table, with each limit as a date. The limit is 3 ns later than the one
# sent: the tool makes every deadline in a dump distinct by adding i ns to the i-th.
s6-fdholder-getdump "$DAEMON" bash -c '
    printf "%-3s %-4s %-26s %-24s %s\n" i fd limit "(limit, UTC)" id
    for ((i = 0; i < $(printenv "S6_FD#"); i++)); do
        fd=S6_FD_$i id=S6_FDID_$i limit=S6_FDLIMIT_$i
        label=none when=
        if [ -n "${!limit:-}" ]; then
            label=${!limit}
            when=$(date -u -d "@$((16#${label:1:16} - (1 << 62) - 37))" "+%F %T")
        fi
        printf "%-3s %-4s %-26s %-24s %s\n" "$i" "${!fd}" "$label" "$when" "${!id}"
    done'

say "The listening socket lives on in the daemon"
# Nothing else has it open: a connection succeeds only because the daemon holds it.
if s6-ipcclient "$SERVICE" true; then
    echo "connected to $SERVICE"
fi

say "Config mode: what examples/*.toml would do (--check opens nothing)"
# The examples declare paths under /run and ports on the loopback, as a real deployment
# would; the demo moves the paths into $DIR and the ports to free ones (the tests do the
# same), so that it leaves nothing behind and clashes with nothing.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        # Nothing accepts on it: take it (a race with another program is possible, and
        # would only make the run fail whole, with nothing left behind).
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}
localize() {
    local text port
    text=$(sed -e "s|\"/run/|\"$DIR/run/|g" -e "s|\"@|\"@fdholder-demo-$$-|g" "$1")
    for port in $(grep -o '^listen = "[^"]*"' <<<"$text" | grep -o '[0-9]*"$' | tr -d '"' | sort -u); do
        text=$(sed "s|:$port\"|:$(free_port)\"|g" <<<"$text")
    done
    printf '%s\n' "$text"
}
CONFIGS=()
for example in examples/*.toml; do
    config=$DIR/$(basename "$example")
    localize "$example" >"$config"
    CONFIGS+=("$config")
    echo "\$ s6-fdholder-setdump --check -c $config $DAEMON"
    if command -v column >/dev/null; then
        "$BIN" --check -c "$config" "$DAEMON" | column -t -s $'\t'
    else
        "$BIN" --check -c "$config" "$DAEMON"
    fi
done

say "Config mode: applying them to the same daemon"
for config in "${CONFIGS[@]}"; do
    echo "\$ s6-fdholder-setdump -v -c $config $DAEMON"
    "$BIN" -v -c "$config" "$DAEMON" 2>&1
done

say "Config mode: applying them again changes nothing (ids of the other files are kept)"
for config in "${CONFIGS[@]}"; do
    echo "\$ s6-fdholder-setdump -v -c $config $DAEMON"
    "$BIN" -v -c "$config" "$DAEMON" 2>&1
done

say "What the daemon holds now (s6-fdholder-inspect)"
"$INSPECT" "$DAEMON"

say "What config mode created on disk, with the modes and owners the files asked for"
find "$DIR/run" -exec ls -ld {} + | awk '{ print $1, $3, $4, $NF }'


say "Socket activation on s6: import a .socket unit, provision it, start dbus-daemon on it"
echo "\$ s6-fdholder-inspect --from-systemd examples/systemd/dbus.socket > $DIR/dbus.toml"
"$INSPECT" --from-systemd examples/systemd/dbus.socket 2>/dev/null >"$DIR/dbus.unit.toml"
localize "$DIR/dbus.unit.toml" >"$DIR/dbus.toml"
grep -v '^#' "$DIR/dbus.toml" | sed '/^$/d'
# What a boot-time oneshot does once the fd-holder is up.
echo "\$ s6-fdholder-setdump -v -c $DIR/dbus.toml $DAEMON"
"$BIN" -v -c "$DIR/dbus.toml" "$DAEMON" 2>&1
BUS=$DIR/run/dbus/system_bus_socket
# A bus that takes its socket from socket activation: <listen>systemd:</listen>.
cat >"$DIR/bus.conf" <<'CONF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>systemd:</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
# What the service's run script does: the ids and names from the same file, by name.
start_bus() {
    echo "\$ s6-fdholder-activate -c $DIR/dbus.toml -e dbus $DAEMON -- dbus-daemon --config-file=$DIR/bus.conf --nofork --nopidfile &"
    "$ACTIVATE" -c "$DIR/dbus.toml" -e dbus "$DAEMON" -- \
        dbus-daemon --config-file="$DIR/bus.conf" --nofork --nopidfile --nosyslog 2>/dev/null &
    BUS_PID=$!
}
list_names() {
    dbus-send --bus="unix:path=$BUS" --print-reply --reply-timeout=20000 \
        --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.ListNames |
        grep -o 'string "[^"]*"'
}
stop_bus() {
    kill "$BUS_PID"
    wait "$BUS_PID" 2>/dev/null || true
    BUS_PID=
}
start_bus
# No waiting for the bus to start: the socket listens already, and the call waits in its
# backlog until the bus accepts it.
echo "\$ dbus-send --bus=unix:path=$BUS --print-reply ... org.freedesktop.DBus.ListNames"
list_names
echo "What dbus-daemon (pid $BUS_PID) was given:"
tr '\0' '\n' <"/proc/$BUS_PID/environ" | grep '^LISTEN_' | sed 's/^/  /'
echo "  fd 3 -> $(readlink "/proc/$BUS_PID/fd/3")"
stop_bus

say "The bus is down; a client asks anyway and waits in the backlog of the held socket"
list_names >"$DIR/late.out" &
CLIENT=$!
start_bus
wait "$CLIENT"
echo "served by the next bus, not refused:"
cat "$DIR/late.out"
stop_bus

say "Stopping the daemon and removing $DIR"
