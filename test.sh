#!/usr/bin/env bash
# The project's test command: installs Debian's s6 (the real daemon the tests run against)
# when it is missing, then runs formatting, lint, the docs build, every test once, and the
# fuzz smoke.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v s6-fdholderd >/dev/null 2>&1; then
    echo "test.sh: installing Debian's s6 package" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq s6 >/dev/null
fi
# strace: the hardening tests trace the tool's path operations and time a signal with it.
if ! command -v strace >/dev/null 2>&1; then
    echo "test.sh: installing strace" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null
fi
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
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
