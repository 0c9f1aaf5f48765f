#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and prints how many inputs each one executed.
#
#   fuzz/run.sh [SECONDS]   each target for SECONDS (default 60: four minutes in all)
#   fuzz/run.sh SECONDS TARGET...   only these targets
#   fuzz/run.sh --smoke     each target for 5 s: CI's check that the targets build and run
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); RUSTC_BOOTSTRAP=1 lets it use the
# stable toolchain's nightly-only flags. New inputs go to a temporary corpus, so the seeds
# committed under fuzz/corpus/<target>/ (and, for config, the examples and test fixtures)
# are only read. A crash stops the script with
# libFuzzer's report; the input is kept in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"

secs=60
case "${1:-}" in
    --smoke) secs=5; shift ;;
    '') ;;
    *[!0-9]* | 0) echo "usage: fuzz/run.sh [SECONDS | --smoke] [TARGET...]" >&2; exit 100 ;;
    *) secs=$1; shift ;;
esac

export RUSTC_BOOTSTRAP=1
targets=(env frame tai64n config systemd)
[[ $# -gt 0 ]] && targets=("$@")

# Seeds of the config target beyond corpus/config/: the examples and the test fixtures.
CONFIG_SEEDS=(../examples ../examples/systemd ../crates/tools/tests/fixtures/valid
    ../crates/tools/tests/fixtures/invalid)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo fuzz build 2>&1 | grep -v '^ *Compiling' >&2 || true

for t in "${targets[@]}"; do
    if [[ ! -f fuzz_targets/$t.rs ]]; then
        echo "$t: skipped (no fuzz_targets/$t.rs yet)"
        continue
    fi
    mkdir -p "$work/$t"
    dict=()
    [[ -f dicts/$t.dict ]] && dict=(-dict="dicts/$t.dict")
    log=$work/$t.log
    # The config target also reads the repository's own files as seeds, in place.
    extra=()
    [[ $t == config ]] && extra=("${CONFIG_SEEDS[@]}")
    [[ $t == systemd ]] && extra=(../examples/systemd)
    if ! cargo fuzz run "$t" "$work/$t" "corpus/$t" "${extra[@]}" -- \
        -max_total_time="$secs" -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        cat "$log" >&2
        echo "fuzz/run.sh: $t: libFuzzer found a failure (input in fuzz/artifacts/$t/)" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    new=$(find "$work/$t" -type f | wc -l)
    echo "$t: ${runs:-?} executions in $secs s, no failure (${cov:-cov: ?}, $new new inputs)"
done
