#!/usr/bin/env bash
# The project's test command: installs what the tests run against when it is missing, then
# runs formatting, lint, the docs build, every test once, and the fuzz smoke.
set -euo pipefail
cd "$(dirname "$0")"
# What the tests run against: s6 (the daemon, s6-svscan), strace, and the real consumers of
# s6-fdholder-activate's tests: dbus-daemon and dbus-send, and python3-systemd for Debian's
# python3.
missing=()
command -v s6-fdholderd >/dev/null 2>&1 || missing+=(s6)
command -v dbus-daemon >/dev/null 2>&1 || missing+=(dbus-daemon)
command -v dbus-send >/dev/null 2>&1 || missing+=(dbus-bin)
# strace: the hardening tests trace the tool's path operations and time a signal with it.
command -v strace >/dev/null 2>&1 || missing+=(strace)
/usr/bin/python3 -c 'import systemd.daemon' >/dev/null 2>&1 || missing+=(python3-systemd)
if [ ${#missing[@]} -gt 0 ]; then
    echo "test.sh: installing Debian's ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The JSON Schema tests validate the tools' documents with python3-jsonschema.
# The Ansible test makes a virtualenv (python3 -m venv, which needs ensurepip) and installs
# ansible-core from PyPI into it, under target/.
if ! python3 -c 'import jsonschema' >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    echo "test.sh: installing Debian's python3-jsonschema and python3-venv" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-jsonschema python3-venv >/dev/null
fi
# A python3 that is not Debian's (pyenv, a virtualenv) does not see Debian's module.
python3 -c 'import jsonschema' >/dev/null 2>&1 || python3 -m pip install -q jsonschema
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
# The protocol library stands alone: nix is its only normal dependency, and it packages.
deps=$(cargo tree -p s6-fdholder -e normal --depth 1 --prefix none | tail -n +2 | awk '{print $1}' | sort -u)
if [[ $deps != nix ]]; then
    echo "test.sh: s6-fdholder's normal dependencies must be nix alone, not: $deps" >&2
    exit 1
fi
cargo package -p s6-fdholder --allow-dirty --quiet
# The release build links the functions a usual run calls together, in the order
# crates/tools/symbol-order.txt names them: that file must still name the binary's functions.
scripts/symbol-order.sh --check
# No import cycle in either crate, when cargo-modules is at hand (it takes minutes to build,
# so it is not installed here).
if command -v cargo-modules >/dev/null 2>&1; then
    for crate in s6-fdholder s6-fdholder-tools; do
        cargo modules dependencies -p "$crate" --lib --no-externs --no-sysroot --no-owns 2>/dev/null |
            python3 scripts/module-cycles.py
    done
else
    echo "test.sh: cargo-modules is not installed: module cycle check skipped" >&2
fi
# Keep cargo's output as it is, and add up its "test result" lines for the closing line.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# Fuzz smoke (about 5 s per target) so the targets keep building and running; the tests
# above have already run their bodies over the seed corpora. cargo-fuzz takes about 30 s to
# install; without it (no network), the smoke is skipped and says so.
if command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked; then
    fuzz/run.sh --smoke
else
    echo "test.sh: cargo-fuzz is not installed and could not be: fuzz smoke skipped" >&2
fi
# One closing line for the whole run, after the fuzz smoke's own lines.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
